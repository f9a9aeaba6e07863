"""Shadows on the plate's ground: a shadow map from the sun and a contact map from below the
ground, then the catcher plane (an invisible ground that writes only how much light the
foreground takes away, which the compositor multiplies into the plate in linear light)."""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import transforms
from ..scene import Geometry, Node, Scene
from .programs import has_uniform, load_program
from .rects import Rect, merge, project_points, world_corners
from .targets import ForegroundTarget

if TYPE_CHECKING:
    import moderngl

__all__ = ["ShadowPass"]


class ShadowPass:
    """The shadow map, the contact map and the shadow catcher of a
    [`SceneRenderer`][hybridscene.gpu.renderer.SceneRenderer] (``owner``, whose geometry buffers
    and occlusion uniforms it shares). Owned by the renderer, released with it.

    Per frame: a. the sun's shadow map (skipped when the sun is at or below the horizon or the
    shadow strength is 0); b. the contact map: the meshes near the ground seen from below the
    catcher plane (orthographic, looking up), whose depth is each ground point's clearance
    (skipped when ``contact`` is 0 or nothing comes within ``contact_radius`` of the ground);
    then the occlusion over that map (``contact_ao.glsl``); c. the catcher quad, covering
    both, writes ``1 - (1 - sun) (1 - contact)``. The catcher
    program is compiled with only the parts a frame uses (``HAS_SUN``, ``HAS_CONTACT``).
    """

    CONTACT_MAX_SIZE = 512
    """Largest side of the contact map in texels (it aims at 8 texels per ``contact_radius``)."""

    resolution_scale = 1.0
    """The sun's shadow map's side is the catcher's ``resolution`` times this (at least 256, at most the catcher's):
    a renderer drawing frames below full size (the preview's dynamic resolution) keeps the
    map's texels per pixel of the frame."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        gl = owner.gl
        ctx = self.ctx = gl.mgl
        self.shadow_program = load_program(gl, "shadow_depth")
        self._mask: moderngl.Program | None = None
        self._catcher_vbo = ctx.buffer(reserve=4 * 3 * 4)
        self._catchers: dict[int, tuple[moderngl.Program, moderngl.VertexArray]] = {}
        self._shadow_size = 0
        self._shadow_fbo_obj: moderngl.Framebuffer | None = None
        self._shadow_depth: moderngl.Texture | None = None
        self._contact_size = 0
        self._contact_fbo_obj: moderngl.Framebuffer | None = None
        self._contact_depth: moderngl.Texture | None = None
        self._contact_ao: moderngl.Texture | None = None
        self._contact_ao_fbo: moderngl.Framebuffer | None = None
        self._ao_pass: tuple[moderngl.Program, moderngl.VertexArray] | None = None  # made on first use
        # What the maps hold (drawn again only when it changes: the casters, the sun, the sizes).
        self._sun_key: tuple[Any, ...] | None = None
        self._contact_key: tuple[Any, ...] | None = None

    def _catcher(self, sun: bool, contact: bool, scene: Scene) -> tuple[moderngl.Program, moderngl.VertexArray]:
        defines = {name: 1 for name, on in (("HAS_SUN", sun), ("HAS_CONTACT", contact)) if on}
        prog = self.owner.for_plate(load_program(self.owner.gl, "shadow_catcher", defines=defines), scene)
        entry = self._catchers.get(prog.glo)
        if entry is None:
            vao = self.ctx.vertex_array(prog, [(self._catcher_vbo, "3f", "in_position")])
            entry = self._catchers[prog.glo] = (prog, vao)
        return entry

    def render(
        self, scene: Scene, drawables: list[tuple[Node, np.ndarray]], view: np.ndarray, view_proj: np.ndarray,
        target: ForegroundTarget,
    ) -> None:
        """Render the shadow map from the sun and the contact map from below the ground, then
        the catcher plane's shadow amount into ``target``'s shadow attachment."""
        import moderngl

        catcher = scene.shadows
        assert catcher is not None
        ctx = self.ctx
        plane = float(catcher.height)
        corners = [world_corners(node.mesh.geometry.bounds, world) for node, world in drawables]
        everything = np.concatenate(corners)
        rects: list[tuple[float, float, float, float]] = []  # (x0, z0, x1, z1) the catcher must cover
        polygons: list[np.ndarray] = []  # ... and, inside that, where a shadow can fall: (N, 2) x, z

        # a. The sun: an orthographic light box fitted around the meshes.
        light_dir = np.asarray(scene.sun.direction, np.float64)
        sun = catcher.strength > 0.0 and light_dir[1] <= -0.02  # at or below the horizon: no shadow
        if sun:
            center = (everything.min(axis=0) + everything.max(axis=0)) / 2.0
            radius = float(np.linalg.norm(everything - center, axis=1).max()) * 1.05 + 1e-3
            up = (0.0, 1.0, 0.0) if abs(light_dir[1]) < 0.99 else (0.0, 0.0, -1.0)
            eye = center - light_dir * (radius * 2.0)
            light_view = transforms.look_at(eye, center, up)
            # Far enough for the ground where the shadows fall; depth beyond it clamps to "behind".
            reach = radius * 3.0 + abs((center[1] - plane) / light_dir[1]) + radius
            light_proj = transforms.orthographic(-radius, radius, -radius, radius, radius * 0.5, reach)
            light_vp = light_proj @ light_view
            resolution = min(catcher.resolution, max(256, round(catcher.resolution * self.resolution_scale))) \
                if self.resolution_scale != 1.0 else catcher.resolution
            # The shadow of the meshes' bounding sphere on the plane (an ellipse stretched by
            # the sun's slant), plus the penumbra.
            hit = center + light_dir * ((center[1] - plane) / -light_dir[1])
            half = radius / max(abs(float(light_dir[1])), 0.2) + catcher.softness
            # ... cut to the footprint of the meshes' boxes cast along the light onto the plane,
            # grown by the filter's reach (softness and two texels, stretched by the slant).
            cast = everything[:, [0, 2]] + light_dir[[0, 2]] * ((everything[:, 1:2] - plane) / -light_dir[1])
            reach = (catcher.softness + 4.0 * radius / resolution) / max(abs(float(light_dir[1])), 0.02)
            lo, hi = cast.min(axis=0) - reach, cast.max(axis=0) + reach
            rects.append((max(hit[0] - half, lo[0]), max(hit[2] - half, lo[1]),
                          min(hit[0] + half, hi[0]), min(hit[2] + half, hi[1])))
            for node, world in drawables:  # each mesh's own shadow: its convex hull cast on the plane, grown by the reach
                m = np.asarray(world, np.float64)
                c = _outline_points(node.mesh.geometry) @ m[:3, :3].T + m[:3, 3]
                polygons.append(_dop(c[:, [0, 2]] + light_dir[[0, 2]] * ((c[:, 1:2] - plane) / -light_dir[1]), reach))

        # b. Contact: the meshes within contact_radius of the plane, seen from below it. The
        #    depth range spans plane - r .. plane + r, so geometry resting on (or sunk a little
        #    into) the ground is caught; the clearance is depth * 2r - r.
        r = float(catcher.contact_radius)
        near_ground = [(d, c) for d, c in zip(drawables, corners) if c[:, 1].min() < plane + r] \
            if catcher.contact > 0.0 else []
        contact = bool(near_ground)
        if contact:
            pts = np.concatenate([c for _, c in near_ground])
            x0, z0 = pts[:, 0].min() - r, pts[:, 2].min() - r
            x1, z1 = pts[:, 0].max() + r, pts[:, 2].max() + r
            rects.append((x0, z0, x1, z1))
            side = max(x1 - x0, z1 - z0)
            cx, cz = (x0 + x1) / 2.0, (z0 + z1) / 2.0
            size = self._contact_map_size(side, r)
            reach = r + 2.0 * side / size  # the occlusion's radius, and two texels of its filtering
            for _, c in near_ground:
                a0, b0 = c[:, 0].min() - reach, c[:, 2].min() - reach
                a1, b1 = c[:, 0].max() + reach, c[:, 2].max() + reach
                polygons.append(np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]]))
            # Looking up (+Y) from below the plane, image up = -Z (away from the camera).
            contact_view = transforms.look_at((cx, plane - r, cz), (cx, plane, cz), (0.0, 0.0, -1.0))
            contact_proj = transforms.orthographic(-side / 2, side / 2, -side / 2, side / 2, 0.0, 2.0 * r)
            contact_vp = contact_proj @ contact_view
            fbo = self._contact_fbo(size)
            key = (size, r, plane, _casters([d for d, _ in near_ground]))
            if key != self._contact_key:
                self._contact_key = None
                self._depth_map(fbo, size, [d for d, _ in near_ground], contact_vp, "contact map")
                # The occlusion over the map, so the catcher reads it with one lookup per pixel.
                assert self._contact_ao_fbo is not None and self._contact_depth is not None
                self._contact_ao_fbo.use()
                ctx.disable(moderngl.DEPTH_TEST)
                aprog, avao = self._contact_ao_pass()
                self._contact_depth.use(0)
                aprog["u_contact_map"].value = 0
                aprog["u_radius"].value = r / side
                avao.render(moderngl.TRIANGLES, vertices=3)
                self._contact_key = key
        if not rects:
            return

        # c. The catcher: the ground where a shadow can fall (each mesh's cast footprint and
        #    contact area), inside the square covering the sun's shadow and the contact area.
        x0, z0 = min(q[0] for q in rects), min(q[1] for q in rects)
        x1, z1 = max(q[2] for q in rects), max(q[3] for q in rects)
        fans = [_clip(poly, x0, z0, x1, z1) for poly in polygons] if x1 > x0 and z1 > z0 else []
        fans = [np.asarray(f) for f in fans if len(f) >= 3]
        if not fans:
            return
        triangles = [np.stack([f[0].repeat(len(f) - 2).reshape(2, -1).T, f[1:-1], f[2:]], axis=1) for f in fans]
        flat = np.concatenate(triangles).reshape(-1, 2)
        ground = np.stack([flat[:, 0], np.full(len(flat), plane), flat[:, 1]], axis=1).astype(np.float32)
        screen = project_points(view_proj, ground, target.size)
        if screen is None:
            return  # off screen
        softness = float(catcher.softness) / 2.0 * resolution / (2.0 * radius) if sun else 0.0  # PCF radius, texels
        if sun:
            # The map is read only under the catcher: the light's view of its parts, widened by
            # the filter's taps and the bilinear comparison's neighbours. Only those rectangles
            # are cleared (a whole 2048^2 depth clear takes 2 ms on a CPU rasteriser); every texel
            # read there holds what a whole map would, and the texels around them are never read.
            regions = _map_regions(light_vp, [np.c_[f[:, 0], np.full(len(f), plane), f[:, 1]] for f in fans],
                                   resolution, softness)
            key = (resolution, regions, np.asarray(light_vp, np.float32).tobytes(), _casters(drawables))
            if key != self._sun_key:  # else neither the casters nor the sun moved: the map stands
                self._sun_key = None
                self._depth_map(self._shadow_fbo(resolution), resolution, drawables, light_vp, "shadow map", cull=True,
                                regions=regions)
                self._sun_key = key
        if self._catcher_vbo.size < ground.nbytes:
            self._catcher_vbo.orphan(ground.nbytes * 2)
        self._catcher_vbo.write(ground.tobytes())
        target.bind_shadow()
        ctx.viewport = (0, 0, *target.size)
        ctx.scissor = screen  # the shadow framebuffer's
        target.add_rect(screen, shadow=True)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
        cprog, vao = self._catcher(sun, contact, scene)
        self.owner._bind_occlusion(cprog, scene, target.size, True)  # the plate always hides its own ground
        cprog["u_view_proj"].write(transforms.gl_bytes(view_proj))
        cprog["u_view"].write(transforms.gl_bytes(view))
        if sun:
            assert self._shadow_depth is not None
            self._shadow_depth.use(0)
            cprog["u_shadow_map"].value = 0
            cprog["u_light_view_proj"].write(transforms.gl_bytes(light_vp))
            cprog["u_strength"].value = float(catcher.strength)
            # Penumbra in metres -> filter radius in shadow-map texels (the map spans 2 * radius).
            cprog["u_softness"].value = softness
            cprog["u_bias"].value = 0.0015
        if contact:
            assert self._contact_ao is not None
            self._contact_ao.use(2)
            cprog["u_contact_ao"].value = 2
            cprog["u_contact_view_proj"].write(transforms.gl_bytes(contact_vp))
            cprog["u_contact"].value = float(catcher.contact)
        with self.owner.timer.stage("shadow catcher"):
            vao.render(moderngl.TRIANGLES, vertices=len(ground))
        target.has_shadow = True
        target.bind_shadow()  # no scissor

    def _depth_map(self, fbo: moderngl.Framebuffer, side: int, drawables: list[tuple[Node, np.ndarray]], view_proj: np.ndarray,
                   stage: str, *, cull: bool = False, regions: tuple[Rect, ...] | None = None) -> None:
        """``drawables``' depth seen through ``view_proj``, into ``fbo`` (square, ``side``
        texels), cleared first; timed as ``stage``. ``cull``: skip the back faces of closed
        geometry (`Geometry.closed`), whose front faces hide them: the same map for less work.
        Only where every mesh lies wholly between the near and far planes (the sun's box; not
        the contact map, whose near plane cuts through meshes sunk into the ground).
        ``regions``: ``(x, y, width, height)`` rectangles, the only texels cleared (the others
        keep what they held, depth the meshes drawn over it, and must not be read)."""
        import moderngl

        ctx = self.ctx
        fbo.use()
        ctx.viewport = (0, 0, side, side)
        for region in regions if regions is not None else [None]:
            fbo.clear(depth=1.0, viewport=region)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE | moderngl.BLEND)
        with self.owner.timer.stage(stage):
            self._draw_depth(drawables, view_proj, cull)

    def _draw_depth(self, drawables: list[tuple[Node, np.ndarray]], clip_from_world: np.ndarray, cull: bool) -> None:
        import moderngl

        ctx = self.ctx
        cutouts = [d for d in drawables if d[0].mesh.material.blend_mode == "mask" and d[0].mesh.material.texture is not None]
        solid = [d for d in drawables if not any(d is c for c in cutouts)]
        culling = "none"
        for prog, group in ((self.shadow_program, solid), (self._mask_program(), cutouts)):
            if not group:
                continue
            prog["u_light_view_proj"].write(transforms.gl_bytes(clip_from_world))
            for node, world in group:
                # A mirroring transform (negative determinant) turns the winding around.
                face = ("front" if transforms.mirrors(world) else "back") \
                    if cull and prog is self.shadow_program and node.mesh.geometry.closed else "none"
                if face != culling:
                    (ctx.disable if face == "none" else ctx.enable)(moderngl.CULL_FACE)
                    if face != "none":
                        ctx.cull_face = face
                    culling = face
                prog["u_model"].write(transforms.gl_bytes(world))
                mat = node.mesh.material
                if has_uniform(prog, "u_texture"):  # a cut-out: the texture's alpha decides
                    self.owner.materials.texture(mat.texture).use(2)
                    prog["u_texture"].value = 2
                    prog["u_texcoord"].value = mat.texture.texcoord
                    prog["u_opacity"].value = float(mat.opacity)
                    prog["u_alpha_cutoff"].value = float(mat.alpha_cutoff)
                self.owner._vao(node.mesh.geometry, prog).render(moderngl.TRIANGLES)
        ctx.disable(moderngl.CULL_FACE)
        ctx.cull_face = "back"

    def _mask_program(self) -> moderngl.Program:
        """The depth program of cut-out (``alpha_mode="mask"``) materials, compiled on first use."""
        if self._mask is None:
            self._mask = load_program(self.owner.gl, "shadow_depth", defines={"ALPHA_MASK": 1})
        return self._mask

    def _contact_map_size(self, side: float, radius: float) -> int:
        """A power of two from 64 to `CONTACT_MAX_SIZE` giving about 8 texels per ``radius``
        (powers of two, so a moving object rarely reallocates the map)."""
        want = 8.0 * side / radius
        size = 64
        while size < want and size < self.CONTACT_MAX_SIZE:
            size *= 2
        return size

    def _shadow_fbo(self, size: int) -> moderngl.Framebuffer:
        if self._shadow_size != size:
            if self._shadow_fbo_obj is not None:
                self._shadow_fbo_obj.release()
                self._shadow_depth.release()
            self._shadow_depth = self.ctx.depth_texture((size, size))
            self._shadow_depth.compare_func = "<="
            import moderngl

            self._shadow_depth.filter = (moderngl.LINEAR, moderngl.LINEAR)  # hardware 2x2 PCF
            self._shadow_depth.repeat_x = self._shadow_depth.repeat_y = False
            self._shadow_fbo_obj = self.ctx.framebuffer(depth_attachment=self._shadow_depth)
            self._shadow_size = size
            self._sun_key = None
        return self._shadow_fbo_obj

    def _contact_ao_pass(self) -> tuple[moderngl.Program, moderngl.VertexArray]:
        if self._ao_pass is None:
            prog = load_program(self.owner.gl, "contact_ao")
            self._ao_pass = (prog, self.ctx.vertex_array(prog, []))
        return self._ao_pass

    def _contact_fbo(self, size: int) -> moderngl.Framebuffer:
        """The contact map's framebuffer (depth only) at ``size``; the occlusion target beside it."""
        if self._contact_size != size:
            import moderngl

            self._release_contact()
            ctx = self.ctx
            self._contact_depth = ctx.depth_texture((size, size))
            self._contact_depth.compare_func = ""  # read as values (the clearance), not compared
            self._contact_ao = ctx.texture((size, size), 1)
            for tex in (self._contact_depth, self._contact_ao):
                tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
                tex.repeat_x = tex.repeat_y = False
            self._contact_fbo_obj = ctx.framebuffer(depth_attachment=self._contact_depth)
            self._contact_ao_fbo = ctx.framebuffer([self._contact_ao])
            self._contact_size = size
        return self._contact_fbo_obj

    def _release_contact(self) -> None:
        for r in (self._contact_ao_fbo, self._contact_fbo_obj, self._contact_ao, self._contact_depth):
            if r is not None:
                r.release()
        self._contact_ao_fbo = self._contact_fbo_obj = None
        self._contact_ao = self._contact_depth = None
        self._contact_size = 0
        self._contact_key = None

    def release(self) -> None:
        if self._shadow_fbo_obj is not None:
            self._shadow_fbo_obj.release()
            self._shadow_depth.release()
        self._shadow_fbo_obj = self._shadow_depth = None
        self._shadow_size = 0
        self._sun_key = None
        self._release_contact()
        if self._ao_pass is not None:
            self._ao_pass[1].release()
            self._ao_pass = None
        for _prog, vao in self._catchers.values():
            vao.release()
        self._catchers.clear()
        self._catcher_vbo.release()


class _Same:
    """Holds an object and equals only itself (geometries and textures compare by identity; held,
    so an identity cannot be reused while a key names it)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _casters(drawables: list[tuple[Node, np.ndarray]]) -> tuple[Any, ...]:
    """What a depth map of ``drawables`` depends on: each one's geometry, pose and, for cut-outs,
    the texture and cut-off that shape it."""
    out = []
    for node, world in drawables:
        mat = node.mesh.material
        cutout = (_Same(mat.texture), float(mat.opacity), float(mat.alpha_cutoff)) if mat.blend_mode == "mask" else None
        out.append((_Same(node.mesh.geometry), np.asarray(world, np.float32).tobytes(), cutout))
    return tuple(out)


def _map_regions(light_vp: np.ndarray, parts: list[np.ndarray], side: int, softness: float) -> tuple[Rect, ...]:
    """``(x, y, width, height)`` rectangles of a ``side``-square map through ``light_vp`` holding
    every texel a catcher over ``parts`` (each an ``(N, 3)`` array of world points, one caster's
    shadow or contact area) can read: the light's (orthographic) view of each, widened by the
    filter's reach ``softness`` texels and two texels for the bilinear comparison and rounding,
    inside the map; overlapping and nearby ones merged (`hybridscene.gpu.rects.merge`)."""
    vp = np.asarray(light_vp, np.float64)
    grow = math.ceil(softness) + 2
    rects = []
    for points in parts:
        texels = ((np.asarray(points, np.float64) @ vp[:2, :3].T + vp[:2, 3]) * 0.5 + 0.5) * side
        lo = np.clip(np.floor(texels.min(axis=0)) - grow, 0, side).astype(int)
        hi = np.clip(np.ceil(texels.max(axis=0)) + grow, 0, side).astype(int)
        if (hi > lo).all():
            rects.append((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1])))
    return tuple(merge(rects))


_OUTLINES: weakref.WeakKeyDictionary[Geometry, np.ndarray] = weakref.WeakKeyDictionary()


def _outline_points(geometry: Geometry) -> np.ndarray:
    """``(K, 3) float64`` local points whose convex hull holds ``geometry``: its vertices on its
    convex hull (a sphere's all, a cube's 8), else its box's corners (flat geometry, where the
    hull is degenerate). Computed once per geometry. A shadow falls inside their hull cast on the
    ground, often well inside their box's (a sphere's, a turned ring's)."""
    points = _OUTLINES.get(geometry)
    if points is None:
        lo, hi = (np.asarray(b, np.float64) for b in geometry.bounds)
        points = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        if geometry.vertex_count >= 4:
            from scipy.spatial import ConvexHull, QhullError

            try:
                positions = geometry.positions.astype(np.float64)
                points = positions[ConvexHull(positions).vertices]
            except (QhullError, ValueError):
                pass  # flat or degenerate: the box
        _OUTLINES[geometry] = points
    return points


_DOP_ANGLES = np.arange(16) * (np.pi / 8.0)
_DOP_DIRS = np.stack([np.cos(_DOP_ANGLES), np.sin(_DOP_ANGLES)], axis=1)  # outward normals, counter-clockwise
_DOP_SQUARE = np.abs(_DOP_DIRS).sum(axis=1)  # the support of the square [-1, 1]^2 along each


def _dop(points: np.ndarray, grow: float) -> np.ndarray:
    """``(16, 2)``: a 16-sided polygon (counter-clockwise, some sides perhaps of length 0) that
    holds ``points`` (``(N, 2)``) grown by the square ``[-grow, grow]^2``: the points' supporting
    lines in 16 directions, pushed out by the square's. A few fat triangles to cover a shadow
    (thin ones cost a software rasteriser dearly), never inside the grown hull."""
    h = (points @ _DOP_DIRS.T).max(axis=0) + grow * _DOP_SQUARE
    a, b = _DOP_DIRS, np.roll(_DOP_DIRS, -1, axis=0)
    hb = np.roll(h, -1)
    det = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]  # sin(pi / 8): the lines are never parallel
    return np.stack([(h * b[:, 1] - hb * a[:, 1]) / det, (a[:, 0] * hb - b[:, 0] * h) / det], axis=1)


def _clip(polygon: np.ndarray, x0: float, z0: float, x1: float, z1: float) -> list[np.ndarray]:
    """The convex ``polygon`` (``(N, 2)`` x, z) cut to the rectangle ``x0..x1, z0..z1``
    (Sutherland-Hodgman); its vertices in order."""
    out = [np.asarray(p, np.float64) for p in polygon]
    for axis, bound, keep_below in ((0, x0, False), (0, x1, True), (1, z0, False), (1, z1, True)):
        if not out:
            break
        inside = [(p[axis] <= bound) if keep_below else (p[axis] >= bound) for p in out]
        cut = []
        for i, p in enumerate(out):
            q, q_in = out[i - 1], inside[i - 1]
            if inside[i] != q_in:  # the edge q -> p crosses the bound
                t = (bound - q[axis]) / (p[axis] - q[axis])
                cut.append(q + t * (p - q))
            if inside[i]:
                cut.append(p)
        out = cut
    return out
