"""Edge anti-aliasing of a single-sample foreground (``shaders/edge_aa.glsl``): an FXAA 3.11
"quality" pass over linear premultiplied RGBA, for CPU rasterisers where 4x MSAA's clear and
resolve cost more than the scene.

The pass reads the foreground's colour (RGBA16F, GL rows) and writes a copy with its edges
blended, within an optional rectangle. Flat pixels are copied exactly; an edge pixel becomes a
convex blend of itself and its neighbour across the edge, so premultiplied colours stay valid
(``rgb <= alpha``) and silhouettes get partial alpha that composites over the plate like
coverage. It is an approximation of MSAA, not a copy: ``benchmarks/bench_edge_aa.py`` measures
how far it lands from 4x on each example's edges.

Two draws: the first copies the rectangle and marks its edge pixels in a depth buffer the pass
owns; the second filters, depth-tested, so a CPU rasteriser shades only blocks with edges (it
runs both sides of a shader's branches, so the filter's own early exit would save nothing).

    aa = EdgeAA(gl)
    texture = aa.run(foreground.color, [(x, y, w, h)], depth=depth)   # into a target the pass owns
    aa.apply(foreground.color, my_fbo)                                # or into yours, all of it
    aa.release()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from .programs import load_program, set_uniform, write_uniform
from .rects import Rect, contains, intersect

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["MSAA4_SAMPLES", "EdgeAA"]

"""``(x, y, width, height)`` in pixels, GL order (``y`` from the bottom row), as ``glScissor``."""

MSAA4_SAMPLES = ((0.375, 0.125), (0.875, 0.375), (0.125, 0.625), (0.625, 0.875))
"""4x MSAA's sample points in a pixel, ``(0, 0)`` its bottom-left corner (GL window order): the
standard pattern, which llvmpipe uses (a resolved 4x half-plane matches it exactly)."""


class EdgeAA:
    """The edge anti-aliasing pass; owns its program, sampler and (for `run`) an output target.

    Args:
        gl: the context.
        subpix: ``0..1``, how much a pixel that stands out of its 3x3 neighbourhood is smoothed
            (FXAA's ``subpix``; 0 touches edges only, which keeps texture detail as MSAA does).
        edge_threshold: contrast an edge needs, relative to the brightest pixel around it.
        edge_threshold_min: ... and at least this (in the pass's edge luma, ``0..1``).
        search_steps: 8 (ends of edges up to 12 pixels away) or 12 (24 pixels, slower).
        crease: with a ``depth`` texture, how much the depth must bend between neighbours
            (its second difference relative to ``1 - depth``) to count as a geometric edge.
        samples: ``None``: blend by the area under the reconstructed edge (FXAA); ``4``: by the
            share of 4x MSAA's sample points it covers (`MSAA4_SAMPLES`), quarter steps like 4x.
    """

    def __init__(self, gl: GLContext, *, subpix: float = 0.25, edge_threshold: float = 0.125,
                 edge_threshold_min: float = 0.0312, search_steps: int = 8, crease: float = 1e-3,
                 samples: int | None = None) -> None:
        import moderngl

        if search_steps not in (8, 12):
            raise ConfigError(f"search_steps={search_steps!r} is not supported; use 8 or 12")
        if samples not in (None, 4):
            raise ConfigError(f"samples={samples!r} is not supported; use None (area) or 4")
        for name, value in (("subpix", subpix), ("edge_threshold", edge_threshold),
                            ("edge_threshold_min", edge_threshold_min)):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{name}={value!r} must lie in 0..1")
        self.gl = gl
        ctx = gl.mgl
        self._mark = load_program(gl, "edge_aa", defines={"MARK_EDGES": 1})
        self._mark_depth = load_program(gl, "edge_aa", defines={"MARK_EDGES": 1, "USE_DEPTH": 1})
        self._filter = load_program(gl, "edge_aa", defines={"SEARCH_STEPS": int(search_steps),
                                                             **({"SAMPLES4": 1} if samples == 4 else {})})
        # The programs are the context's, shared by every EdgeAA on it: uniforms are set per draw.
        self._uniforms = {"u_source": 0, "u_depth": 1, "u_crease": float(crease), "u_subpix": float(subpix),
                          "u_edge_threshold": float(edge_threshold),
                          "u_edge_threshold_min": float(edge_threshold_min)}
        self._vaos = [ctx.vertex_array(p, []) for p in (self._mark, self._mark_depth, self._filter)]
        # The pass's own filtering, so the caller's texture keeps its settings.
        self._sampler = ctx.sampler(filter=(moderngl.LINEAR, moderngl.LINEAR), repeat_x=False, repeat_y=False)
        self._depth_sampler = ctx.sampler(filter=(moderngl.NEAREST, moderngl.NEAREST), repeat_x=False,
                                          repeat_y=False, compare_func="")  # values, not comparisons
        # Bound to the pass's texture units afterwards: a texture left bound while it is the bound
        # framebuffer's attachment (the foreground, next frame) makes Mesa synchronise every draw.
        self._blank = ctx.texture((1, 1), 4, bytes(4))
        self._texture: moderngl.Texture | None = None
        self._fbo: moderngl.Framebuffer | None = None
        self._dirty: list[Rect] = []  # where the owned target may hold more than transparent black
        self._depth: moderngl.Renderbuffer | None = None  # the edge marks
        self._masked: tuple[object, moderngl.Framebuffer] | None = None  # (dst's attachment, it + _depth)

    def apply(self, src: moderngl.Texture, dst: moderngl.Framebuffer, rect: Rect | Sequence[Rect] | None = None, *,
              depth: moderngl.Texture | None = None) -> None:
        """Anti-alias ``src`` into ``dst`` (the same size), writing only ``rect`` (all of ``dst``
        when ``None``); ``dst`` keeps its pixels elsewhere.

        Args:
            src: RGBA linear premultiplied (RGBA16F), any row order (the pass is symmetric);
                must not be attached to ``dst``. Pixels read: ``rect`` grown by one pixel
                across edges and up to 12 (24) along them.
            dst: a framebuffer whose first attachment has ``src``'s size.
            rect: ``(x, y, width, height)``, GL order, or a list of them (each is drawn; where
                they overlap the result is the same). Give rectangles that hold what was drawn
                and one pixel more: edge pixels just outside a silhouette get partial coverage
                (`hybridscene.gpu.rects` rectangles have that margin).
            depth: the foreground's depth texture (window depth, 1 where nothing was drawn;
                ``src``'s size and rows): only geometric edges are filtered, so sprites,
                particles and textures stay exactly as drawn (MSAA does not smooth them either).
        """
        import moderngl

        if tuple(dst.size) != tuple(src.size) or (depth is not None and tuple(depth.size) != tuple(src.size)):
            raise ConfigError(f"edge AA target size {dst.size} (depth {depth.size if depth is not None else '-'}) "
                              f"differs from the source's {src.size}; give the source's size")
        rects = _rects(rect, src.size)
        if not rects:
            return
        ctx = self.gl.mgl
        for prog in (self._mark_depth if depth is not None else self._mark, self._filter):
            for name, value in self._uniforms.items():
                set_uniform(prog, name, value)
        write_uniform(self._filter, "u_samples", np.array(MSAA4_SAMPLES, np.float32).tobytes())
        fbo = self._with_depth(dst)
        ctx.viewport = (0, 0, *dst.size)
        ctx.disable(moderngl.BLEND | moderngl.CULL_FACE)
        ctx.enable(moderngl.DEPTH_TEST)
        src.use(0)
        self._sampler.use(0)
        if depth is not None:
            depth.use(1)
            self._depth_sampler.use(1)
        try:
            for r in rects:
                fbo.scissor = r
                # 1. Copy, and mark edges: depth 0 there, 1 elsewhere (written whatever was there).
                ctx.depth_func = "1"
                fbo.depth_mask = True
                fbo.use()
                self._vaos[0 if depth is None else 1].render(moderngl.TRIANGLES, vertices=3)
                # 2. Filter where marked: the triangle lies at depth 0.5, so only marks pass, before shading.
                ctx.depth_func = ">"
                fbo.depth_mask = False
                fbo.use()
                self._vaos[2].render(moderngl.TRIANGLES, vertices=3)
        finally:
            self._sampler.clear(0)  # a bound sampler would override later textures' filtering
            if depth is not None:
                self._depth_sampler.clear(1)
                self._blank.use(1)
            self._blank.use(0)
            ctx.depth_func = "<"  # GL's default, which the renderers rely on
            ctx.disable(moderngl.DEPTH_TEST)
            fbo.depth_mask = True
            fbo.scissor = None
            dst.scissor = None
            dst.use()  # the caller's framebuffer, without a scissor

    def _with_depth(self, dst: moderngl.Framebuffer) -> moderngl.Framebuffer:
        """A framebuffer of ``dst``'s first colour attachment and the pass's depth buffer."""
        attachment = dst.color_attachments[0]
        if self._masked is not None and self._masked[0] is attachment:
            return self._masked[1]
        ctx = self.gl.mgl
        self._release_masked()
        if self._depth is None or tuple(self._depth.size) != tuple(dst.size):
            if self._depth is not None:
                self._depth.release()
            self._depth = ctx.depth_renderbuffer(tuple(dst.size))
        fbo = ctx.framebuffer([attachment], self._depth)
        dst.use()  # moderngl binds a new framebuffer; the caller's stays current
        self._masked = (attachment, fbo)
        return fbo

    def _release_masked(self) -> None:
        if self._masked is not None:
            self.gl.unbind([self._masked[1]])
            self._masked[1].release()
            self._masked = None

    def run(self, src: moderngl.Texture, rect: Rect | Sequence[Rect] | None = None, *,
            depth: moderngl.Texture | None = None) -> moderngl.Texture:
        """Anti-alias ``src`` into a texture this pass owns (RGBA16F, ``src``'s size and row
        order) and return it: ``rect`` anti-aliased, transparent black elsewhere (``rect`` and
        ``depth`` as for `apply`). Only what was written last time is cleared, so small
        foregrounds stay cheap.
        """
        size = tuple(src.size)
        if self._texture is None or tuple(self._texture.size) != size:
            self._release_target()
            ctx = self.gl.mgl
            self._texture = ctx.texture(size, 4, dtype="f2")
            self._texture.repeat_x = self._texture.repeat_y = False
            self._fbo = ctx.framebuffer([self._texture])
            self._dirty = [(0, 0, *size)]  # contents undefined
        assert self._fbo is not None
        rects = _rects(rect, size)
        stale = [r for r in self._dirty if not any(contains(n, r) for n in rects)]
        for r in stale:
            self._fbo.scissor = r
            self._fbo.use()
            self._fbo.clear(0.0, 0.0, 0.0, 0.0)
        self._fbo.scissor = None
        if rects:
            self.apply(src, self._fbo, rects, depth=depth)
        self._dirty = rects
        return self._texture

    def _release_target(self) -> None:
        self._release_masked()  # it may hold the target's texture
        if self._fbo is not None:
            self.gl.unbind([self._fbo])
            self._fbo.release()
        if self._texture is not None:
            self._texture.release()
        self._fbo = self._texture = None

    def release(self) -> None:
        """Free the sampler, the vertex arrays, the depth buffer and the output target (the
        programs are the context's)."""
        self._release_target()
        if self._depth is not None:
            self._depth.release()
            self._depth = None
        for vao in self._vaos:
            vao.release()
        self._vaos.clear()
        self._sampler.release()
        self._depth_sampler.release()
        self._blank.release()

    def __enter__(self) -> EdgeAA:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _rects(rect: Rect | Sequence[Rect] | None, size: tuple[int, int]) -> list[Rect]:
    """``rect`` (one, several or ``None`` for the whole target) clipped to a target of ``size``,
    empty ones dropped."""
    if rect is None:
        return [(0, 0, int(size[0]), int(size[1]))]
    if len(rect) == 0:
        return []  # nothing drawn
    many = list(rect) if len(rect) and not isinstance(rect[0], (int, np.integer)) else [rect]  # type: ignore[arg-type]
    out = []
    for r in many:
        if len(r) != 4:
            raise ConfigError(f"edge AA rect {r!r} is not (x, y, width, height)")
        x, y, w, h = (int(v) for v in r)
        if w < 0 or h < 0:
            raise ConfigError(f"edge AA rect {r!r} has a negative size; give (x, y, width, height)")
        clipped = intersect((x, y, w, h), (0, 0, int(size[0]), int(size[1])))
        if clipped is not None:
            out.append(clipped)
    return out
