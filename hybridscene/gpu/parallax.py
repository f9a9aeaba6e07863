"""Parallax on the GPU: draws a plate's relief (`hybridscene.plate.relief`) from a camera
that has left the plate's own position, once per frame, into a colour layer (linear,
premultiplied, alpha 1 where the relief is) that the compositor lays over the sky-filled
backdrop, and the relief's inverse view depth, which the foreground's occlusion test reads
instead of the plate's depth map (``shaders/include/occlusion.glsl``)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .. import transforms
from ..plate import Plate
from ..plate.projection import plate_from_direction
from ..plate.relief import PLANAR_TOLERANCE, ReliefGeometry
from ..plate.relief_cache import cached_relief
from ..plate.reveal import BackReveal
from .programs import load_program
from .textures import upload_depth, upload_image

if TYPE_CHECKING:
    import moderngl

    from ..scene.camera import PerspectiveCamera
    from .context import GLContext

__all__ = ["ParallaxRenderer", "ReliefView"]

_GL_DEPTH_CLAMP = 0x864F
_BACK_OFFSET = (0.0, 1.0)
"""glPolygonOffset(factor, units) for the back layer: one depth step behind a coplanar front
layer (a slope factor would also push it behind nearer surfaces on steep triangles)."""


@dataclasses.dataclass(frozen=True)
class ReliefView:
    """A plate's relief as one camera sees it this frame (textures the size of the frame, GL row
    order, owned by the `ParallaxRenderer`)."""

    color: moderngl.Texture
    """RGBA16F linear premultiplied colour; alpha 1 where the relief is."""
    inverse_depth: moderngl.Texture
    """R32F ``1 / metres`` along the view axis; 0 where the relief is absent."""
    backdrop: moderngl.Texture
    """The plate's sky-filled sRGB texture (top-down), shown where the relief is absent."""
    opaque: bool = False
    """``color`` already holds the backdrop where the relief is absent (alpha 1 everywhere):
    `ParallaxRenderer.render` was given ``fill``."""


@dataclasses.dataclass
class _Mesh:
    vaos: dict[int, moderngl.VertexArray]  # by program: the sky test's, ALL_LAND's (for the first
    # ``land`` triangles), and their DIRECT variants
    land: int
    count: int  # triangles
    vbo: moderngl.Buffer
    ibo: moderngl.Buffer
    depth: moderngl.Texture
    color: moderngl.Texture | None  # None: the plate's own texture
    owns_depth: bool
    reveal: BackReveal | None = None  # the back layer's: draw only the triangles the camera can uncover

    def release(self) -> None:
        for obj in (*self.vaos.values(), self.vbo, self.ibo, self.depth if self.owns_depth else None,
                    self.color):
            if obj is not None:
                obj.release()


@dataclasses.dataclass
class _Target:
    color: moderngl.Texture
    inverse_depth: moderngl.Texture
    depth: moderngl.Renderbuffer
    fbo: moderngl.Framebuffer

    def release(self) -> None:
        for obj in (self.fbo, self.depth, self.inverse_depth, self.color):
            obj.release()


class ParallaxRenderer:
    """Renders plates as reliefs (see the module docs); owns its GPU resources.

    Per plate (kept while the plate lives): the relief meshes, their depth textures and the
    sky-filled backdrop. Per size: two render targets, for a plate and the one fading out.

    The meshes and the backdrop take a few hundred milliseconds of numpy per plate, so
    `prefetch` computes them on a worker thread as soon as a plate that may need them is
    on screen; the first frame that draws the relief then only uploads them (GL stays on the
    calling thread) instead of stalling a preview for the whole computation.

    Args:
        gl: the context.
        max_columns: the relief mesh's grid resolution (see
            `hybridscene.plate.relief.relief_mesh`).
        tolerance: how far merged planar blocks of the mesh may leave the full grid
            (`hybridscene.plate.relief.PLANAR_TOLERANCE`); None keeps every grid cell.
        depth_texture: ``depth_texture(plate)`` returns the plate's R32F depth texture when
            someone else already uploads it (the scene renderer, for occlusion), so it is not
            uploaded twice; that provider owns it.
    """

    lod = 1
    """The reliefs' level of detail (`hybridscene.plate.relief.relief_geometry`'s ``lod``): a
    renderer drawing frames below full size (the preview's dynamic resolution) sets 2, and
    draws a plate's full-detail relief until its coarser one is computed."""

    def __init__(self, gl: GLContext, *, max_columns: int = 320, tolerance: float | None = PLANAR_TOLERANCE,
                 depth_texture: Callable[[Plate], moderngl.Texture] | None = None) -> None:
        self.gl = gl
        self.max_columns = int(max_columns)
        self.tolerance = tolerance
        self._shared_depth = depth_texture
        self.program = load_program(gl, "parallax")
        self.program["u_plate"].value = 0
        self.program["u_plate_depth"].value = 1
        self.land_program = load_program(gl, "parallax", defines={"ALL_LAND": 1})
        self.land_program["u_plate"].value = 0
        self.direct_program = load_program(gl, "parallax", defines={"DIRECT": 1})
        self.direct_program["u_plate"].value = 0
        self.direct_program["u_plate_depth"].value = 1
        self.direct_land_program = load_program(gl, "parallax", defines={"ALL_LAND": 1, "DIRECT": 1})
        self.direct_land_program["u_plate"].value = 0
        self._meshes: weakref.WeakKeyDictionary[Plate, tuple[int, list[_Mesh]]] = weakref.WeakKeyDictionary()  # (lod, meshes)
        self._backdrops: weakref.WeakKeyDictionary[Plate, moderngl.Texture] = weakref.WeakKeyDictionary()
        self._geometry: dict[int, weakref.WeakKeyDictionary[Plate, concurrent.futures.Future[ReliefGeometry]]] = \
            {}  # by level of detail
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._geometry_owner: ParallaxRenderer | None = None  # whose reliefs (and worker) this one shares
        self._targets: list[_Target] = []
        self._size: tuple[int, int] | None = None
        self._fills: dict[bool, tuple[moderngl.Program, moderngl.VertexArray]] = {}  # made on first use, by DIRECT
        self._direct: dict[int, moderngl.Framebuffer] = {}  # render_direct's, by output texture
        self._depth_fbos: dict[int, moderngl.Framebuffer] = {}  # by depth renderbuffer

    def prefetch(self, plate: Plate, lod: int | None = None) -> concurrent.futures.Future[ReliefGeometry]:
        """Start computing ``plate``'s relief at ``lod`` (default: `lod`) on the worker thread
        (once per plate and level), or reading it from the relief cache
        (`hybridscene.plate.relief_cache`) when an earlier run computed it."""
        lod = self.lod if lod is None else lod
        if self._geometry_owner is not None:  # its worker computes them, so releasing this one cancels none
            return self._geometry_owner.prefetch(plate, lod)
        futures = self._geometry.setdefault(lod, weakref.WeakKeyDictionary())
        future = futures.get(plate)
        if future is None:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                                   thread_name_prefix="hybridscene-parallax")
            future = futures[plate] = self._pool.submit(cached_relief, plate, max_columns=self.max_columns,
                                                        tolerance=self.tolerance, lod=lod)
        return future

    def _geometry_for(self, plate: Plate) -> tuple[int, ReliefGeometry]:
        """The plate's relief at `lod` once computed, else at full detail (waited for); with its level."""
        if self.lod != 1:
            future = self.prefetch(plate)
            if future.done():
                return self.lod, future.result()
        return 1, self.prefetch(plate, 1).result()

    def share_geometry(self, other: ParallaxRenderer) -> None:
        """Take ``other``'s reliefs as computed (a renderer of another size on the same
        context: a relief depends on its plate only), so a plate's is computed once for both."""
        while other._geometry_owner is not None:
            other = other._geometry_owner
        self._geometry_owner = other
        self._geometry = other._geometry

    def backdrop(self, plate: Plate) -> moderngl.Texture:
        """The plate's sky-filled sRGB texture (see `hybridscene.plate.relief.sky_filled`)."""
        tex = self._backdrops.get(plate)
        if tex is None:
            tex = self._backdrops[plate] = upload_image(self.gl, self._geometry_for(plate)[1].backdrop)  # (every level's)
        return tex

    def _mesh(self, vertices: np.ndarray, indices: np.ndarray, land: int, depth: moderngl.Texture,
              color: moderngl.Texture | None, owns_depth: bool, reveal: BackReveal | None = None) -> _Mesh:
        ctx = self.gl.mgl
        used, indices = np.unique(indices, return_inverse=True)  # only the vertices triangles use
        vertices, indices = vertices[used], indices.reshape(-1, 3).astype(np.uint32)
        vbo = ctx.buffer(vertices.tobytes())
        ibo = ctx.buffer(indices.tobytes())
        vaos = {prog.glo: ctx.vertex_array(prog, [(vbo, "3f", "in_position")], index_buffer=ibo, index_element_size=4)
                for prog in (*self._programs(False), *self._programs(True))}
        return _Mesh(vaos, land, len(indices), vbo, ibo, depth, color, owns_depth, reveal)

    def _entry(self, plate: Plate) -> list[_Mesh]:
        """The plate's meshes, front layer first (at `lod` once computed)."""
        entry = self._meshes.get(plate)
        if entry is None or (entry[0] != self.lod and self.prefetch(plate).done()):
            assert plate.depth is not None
            if entry is not None:
                for mesh in entry[1]:
                    mesh.release()
            lod, geo = self._geometry_for(plate)
            meshes = []
            if len(geo.indices):
                own = self._shared_depth is None
                depth = upload_depth(self.gl, plate.depth) if own else self._shared_depth(plate)
                meshes.append(self._mesh(geo.vertices, geo.indices, geo.land, depth, None, own))
            if len(geo.back_indices):
                meshes.append(self._mesh(geo.back_vertices, geo.back_indices, geo.back_land,
                                         upload_depth(self.gl, geo.back_depth), upload_image(self.gl, geo.back_image),
                                         True, geo.back_reveal))
            entry = self._meshes[plate] = (lod, meshes)
        return entry[1]

    def _target(self, slot: int, size: tuple[int, int]) -> _Target:
        ctx = self.gl.mgl
        if self._size != size:
            self._release_targets()
            self._size = size
        while len(self._targets) <= slot:
            color = ctx.texture(size, 4, dtype="f2")
            inverse_depth = ctx.texture(size, 1, dtype="f4")
            depth = ctx.depth_renderbuffer(size)
            for tex in (color, inverse_depth):
                tex.repeat_x = tex.repeat_y = False
            self._targets.append(_Target(color, inverse_depth, depth, ctx.framebuffer([color, inverse_depth], depth)))
        return self._targets[slot]

    def render(self, plate: Plate, plate_texture: moderngl.Texture, camera: PerspectiveCamera,
               size: tuple[int, int], *, slot: int = 0, fill: np.ndarray | None = None) -> ReliefView:
        """Draw ``plate``'s relief as ``camera`` sees it at ``size``.

        Args:
            plate_texture: the plate's sRGB texture (the compositor's, shared).
            slot: 0 for the current plate, 1 for one fading out (separate targets).
            fill: the backdrop's ``(3, 3)`` mapping from the frame's NDC (as the compositor's
                `PlateLayer.mapping`): where no triangle is drawn, the backdrop is written
                into the colour with its filter as it is set (``shaders/relief_fill.glsl``), so
                the view is opaque and the compositor need not sample the backdrop.
        """
        target = self._target(slot, size)
        target.fbo.use()
        if fill is not None:  # every pixel gets a triangle or the fill: only the depth needs clearing
            self._depth_only(target).clear(depth=1.0)
            target.fbo.use()
        else:
            target.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self._draw(plate, plate_texture, camera, size, fill, direct=False, top_down=False)
        return ReliefView(target.color, target.inverse_depth, self.backdrop(plate), opaque=fill is not None)

    def render_direct(self, plate: Plate, plate_texture: moderngl.Texture, camera: PerspectiveCamera,
                      output: moderngl.Texture, fill: np.ndarray, *, top_down: bool) -> None:
        """Draw ``plate``'s relief and its sky as the finished frame, sRGB-encoded, straight
        into ``output`` (an RGBA8 texture of the frame's size; ``top_down``: row 0 = the
        image's top), for frames with nothing over the plate: what `render` and the
        compositor would make, without the half-float layer between them (within one level:
        the colour is no longer rounded to half floats on the way). No inverse depth is made."""
        size = output.size
        target = self._target(0, size)
        fbo = self._direct.get(output.glo)
        if fbo is None or fbo.color_attachments[0] is not output:  # (a released texture's name reused)
            if fbo is not None:
                self.gl.unbind([fbo])
                fbo.release()
            fbo = self._direct[output.glo] = self.gl.mgl.framebuffer([output], target.depth)
        self._depth_only(target).clear(depth=1.0)
        fbo.use()
        self._draw(plate, plate_texture, camera, size, fill, direct=True, top_down=top_down)

    def _depth_only(self, target: _Target) -> moderngl.Framebuffer:
        """A framebuffer of ``target``'s depth alone (clearing it leaves the colours as they are)."""
        fbo = self._depth_fbos.get(target.depth.glo)
        if fbo is None:
            fbo = self._depth_fbos[target.depth.glo] = self.gl.mgl.framebuffer(depth_attachment=target.depth)
        fbo.use()
        return fbo

    def _draw(self, plate: Plate, plate_texture: moderngl.Texture, camera: PerspectiveCamera,
              size: tuple[int, int], fill: np.ndarray | None, *, direct: bool, top_down: bool) -> None:
        """The relief's triangles, then the sky (``fill``), into the bound framebuffer, whose
        depth is cleared."""
        import moderngl

        ctx = self.gl.mgl
        meshes = self._entry(plate)
        w, h = size
        view = camera.view_matrix()
        assert plate.camera is not None
        view_proj = camera.projection_matrix(w / h) @ view
        if top_down:  # row 0 = the image's top: clip y flipped (no culling, so the winding is free)
            view_proj = np.diag([1.0, -1.0, 1.0, 1.0]) @ view_proj
        programs = self._programs(direct)
        for prog in programs:
            if "u_view" in prog:  # not in DIRECT's ALL_LAND variant, which needs no view depth
                prog["u_view"].write(transforms.gl_bytes(view))
            prog["u_view_proj"].write(transforms.gl_bytes(view_proj))
            prog["u_plate_eye"].value = (0.0, float(plate.camera.height), 0.0)
            prog["u_plate_from_dir"].write(transforms.gl_bytes(plate_from_direction(plate).astype(np.float32)))
        sky_test, land = programs
        ctx.viewport = (0, 0, w, h)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.BLEND | moderngl.CULL_FACE)
        ctx.enable_direct(_GL_DEPTH_CLAMP)  # the near plane does not cut what lies in front of it (beyond the far
        # plane, depth clamps to 1, which fails the test against the cleared 1: relief_fill relies on it)
        # Trilinear, set every frame: a relief shrinks parts of the plate, and the compositor
        # changes this texture's filter for flat frames, which must not leak into the next frame
        # (a frame's pixels depend on its index only, not on the frames drawn before it).
        trilinear = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        if plate_texture.filter != trilinear:
            plate_texture.filter = trilinear
        # Front layer first: the depth test sorts them, and the back layer's fragments hidden
        # behind the front one then fail the (early) depth test instead of being shaded and
        # overwritten (a third of the relief's time on a CPU rasteriser). Where the two layers
        # coincide (around the back layer's bands, the same surface, triangulated differently),
        # the back one is pushed back one depth step, so the front one wins every near tie.
        # The back layer: only the triangles this camera can uncover (each group sorted by when).
        offset = np.asarray(camera.position, np.float64) - (0.0, float(plate.camera.height), 0.0)
        for mesh in meshes:
            (mesh.color or plate_texture).use(0)
            mesh.depth.use(1)
            ctx.polygon_offset = _BACK_OFFSET if mesh.color is not None else (0.0, 0.0)
            n_land, n_rest = (mesh.land, mesh.count - mesh.land) if mesh.reveal is None \
                else mesh.reveal.counts(mesh.land, offset)
            if n_land:  # land first: the variant without the sky test writes depth early
                mesh.vaos[land.glo].render(moderngl.TRIANGLES, vertices=3 * n_land)
            if n_rest:
                mesh.vaos[sky_test.glo].render(moderngl.TRIANGLES, vertices=3 * n_rest, first=3 * mesh.land)
        ctx.polygon_offset = (0.0, 0.0)
        ctx.disable_direct(_GL_DEPTH_CLAMP)
        if fill is not None:  # the sky: where the depth buffer still holds the far plane
            prog, vao = self._fill_pass(direct)
            prog["u_plate_from_ndc"].write(transforms.gl_bytes(np.asarray(fill, np.float32)))
            if direct:
                prog["u_flip_y"].value = -1.0 if top_down else 1.0
            self.backdrop(plate).use(0)
            ctx.depth_func = "<="
            vao.render(moderngl.TRIANGLES, vertices=3)
            ctx.depth_func = "<"
        ctx.disable(moderngl.DEPTH_TEST)

    def _programs(self, direct: bool) -> tuple[moderngl.Program, moderngl.Program]:
        """The relief's two programs (with the sky test, and ``ALL_LAND``'s), ``DIRECT`` or not."""
        return (self.direct_program, self.direct_land_program) if direct else (self.program, self.land_program)

    def _fill_pass(self, direct: bool) -> tuple[moderngl.Program, moderngl.VertexArray]:
        entry = self._fills.get(direct)
        if entry is None:
            prog = load_program(self.gl, "relief_fill", defines={"DIRECT": 1} if direct else None)
            prog["u_backdrop"].value = 0
            entry = self._fills[direct] = (prog, self.gl.mgl.vertex_array(prog, []))
        return entry

    def _release_targets(self) -> None:
        fbos = [*self._direct.values(), *self._depth_fbos.values()]
        self.gl.unbind([*fbos, *(t.fbo for t in self._targets)])
        for fbo in fbos:
            fbo.release()
        self._direct.clear()
        self._depth_fbos.clear()
        for target in self._targets:
            target.release()
        self._targets = []
        self._size = None

    def release(self) -> None:
        """Free every GPU resource (not the context) and stop the worker thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._geometry = {}  # (perhaps shared: not cleared)
        self._geometry_owner = None
        self._release_targets()
        for _, meshes in list(self._meshes.values()):
            for mesh in meshes:
                mesh.release()
        self._meshes.clear()
        for tex in list(self._backdrops.values()):
            tex.release()
        self._backdrops.clear()
        for _, vao in self._fills.values():
            vao.release()
        self._fills.clear()
