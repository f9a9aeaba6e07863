"""The scene renderer: draws a `Scene`'s foreground into a
`ForegroundTarget`. It never creates a context or a window; it takes ``ctx``."""

from __future__ import annotations

import dataclasses
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import transforms
from ..colors import linear_rgb
from ..errors import GPUError
from ..plate import Plate
from ..scene import Geometry, Node, Scene
from ..scene.camera import OrthographicCamera
from ..scene.mesh import Texture
from ..scene.view import mapping_lens, plate_mapping
from .materials import MaterialPrograms
from .programs import has_uniform, load_program, program_variant
from .programs import set_uniform as _set
from .programs import write_uniform as _write
from .rects import Rect, bounding, projected_radius, screen_rects, world_corners
from .shadows import ShadowPass
from .targets import ForegroundTarget
from .textures import upload_depth
from .timing import StageTimer

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["ADDITIVE", "PREMULTIPLIED_OVER", "NextFrame", "SceneRenderer", "depth_writes"]

PREMULTIPLIED_OVER = (1, 0x0303)
"""Blend function ``(GL_ONE, GL_ONE_MINUS_SRC_ALPHA)``: premultiplied colour *over* what is
there. Not moderngl's ``PREMULTIPLIED_ALPHA``, which is ``(SRC_ALPHA, ONE)``."""

ADDITIVE = (1, 1)
"""Blend function ``(GL_ONE, GL_ONE)``: light added (glows, additive particles)."""


@dataclasses.dataclass(frozen=True)
class NextFrame:
    """Where things are one frame later, for the optical-flow pass of `SceneRenderer.render_aux`."""

    view_proj: np.ndarray
    """``(4, 4)`` clip-from-world of the camera at the next frame (this frame's aspect)."""
    view: np.ndarray
    """``(4, 4)`` view-from-world at the next frame."""
    proj: np.ndarray
    """``(4, 4)`` clip-from-view at the next frame."""
    worlds: dict[int, np.ndarray]
    """``id(node)`` -> ``(4, 4)`` world matrix at the next frame (a node missing keeps its own)."""
    motion: dict[int, np.ndarray]
    """``id(node)`` -> ``(N, 3)`` per-particle displacement in the node's frame, in the order of
    its ``instances(t)`` (a node missing, or a count that differs, moves rigidly with its node)."""


class SceneRenderer:
    """Rasterises meshes with depth test, back-face culling and MSAA (per the target).

    GPU copies of geometry are made on first use and kept while the [`Geometry`][hybridscene.Geometry] lives.
    """

    def __init__(self, gl: GLContext) -> None:
        self.gl = gl
        ctx = self.ctx = gl.mgl
        self.program = load_program(gl, "mesh")  # the default variant (pbr, no textures, no tone curve)
        self.materials = MaterialPrograms(gl)
        self._frame_env: tuple[Any, float] | None = None
        self.mirrored = False
        """Meshes are being drawn mirrored in the plate's water (`hybridscene.gpu.reflection`):
        the environment is looked up mirrored as well."""
        self._bound: set[int] = set()
        self.aux_program = load_program(gl, "mesh", defines={"AUX_OUTPUT": 1})
        self._geometry: weakref.WeakKeyDictionary[
            Geometry, tuple[moderngl.Buffer, moderngl.Buffer, dict[int, moderngl.VertexArray]]] = weakref.WeakKeyDictionary()
        self._depth: weakref.WeakKeyDictionary[Plate, moderngl.Texture] = weakref.WeakKeyDictionary()
        self.billboard_program = load_program(gl, "billboard")
        self.billboard_aux_program = load_program(gl, "billboard", defines={"AUX_OUTPUT": 1})
        self.plate_depth_program = load_program(gl, "plate_depth")
        self._plate_depth_vaos: dict[int, moderngl.VertexArray] = {}  # by program: one per projection
        self._projected: dict[tuple[int, str, int], moderngl.Program] = {}  # for_plate's variants
        self._screen_variants: dict[int, bool] = {}  # a variant's program name -> it reads the depth on screen
        self._corners = ctx.buffer(np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]], np.float32).tobytes())
        self._instances: weakref.WeakKeyDictionary[
            Any, tuple[moderngl.Buffer, int, dict[int, moderngl.VertexArray]]] = weakref.WeakKeyDictionary()
        self.shadows = ShadowPass(self)
        self._screen_depth: moderngl.Texture | None = None  # the relief's inverse depth, this frame (parallax)
        self._batch_owners: list[_BatchSlot] = []
        self._next: NextFrame | None = None  # render_aux's options, for the draws it makes
        self._occlusion: bool | None = None
        self._batches_used = 0
        self._scissors: dict[tuple[str, int], Rect | None] | None = None  # render(): each thing's rectangle
        self._target: ForegroundTarget | None = None
        self._lod_view: tuple[np.ndarray, tuple[int, int]] | None = None  # the draws' view, for primitives' tessellation
        self.timer = StageTimer(gl)
        """Per-stage timings (off by default; a `FrameRenderer` shares its own)."""

    def for_plate(self, prog: moderngl.Program, scene: Scene) -> moderngl.Program:
        """``prog``, or its variant for where this frame's occlusion reads the plate's depth
        (``include/occlusion.glsl``): the relief drawn for this view (``PLATE_DEPTH_SCREEN``, a
        frame with parallax), or the depth map of a plate with a cylindrical or equirectangular
        projection (``PLATE_PROJ``). Compiled-in variants, not uniforms (a software rasteriser
        runs both sides of a branch), so a perspective plate without parallax costs nothing more."""
        key = ("screen", 0) if self._screen_depth is not None else ("map", mapping_lens(scene.plate, scene.camera)[0])
        if key == ("map", 0):
            return prog
        variant = self._projected.get((prog.glo, *key))
        if variant is None:
            defines = {"PLATE_DEPTH_SCREEN": 1} if key[0] == "screen" else {"PLATE_PROJ": key[1]}
            variant = self._projected[(prog.glo, *key)] = program_variant(self.gl, prog, defines)
            self._screen_variants[variant.glo] = key[0] == "screen"
        return variant

    def _buffers(self, geometry: Geometry) -> tuple[moderngl.Buffer, moderngl.Buffer, dict[int, moderngl.VertexArray]]:
        entry = self._geometry.get(geometry)
        if entry is None:
            vbo = self.ctx.buffer(geometry.interleaved().tobytes())
            ibo = self.ctx.buffer(geometry.indices.tobytes())
            entry = self._geometry[geometry] = (vbo, ibo, {})
        return entry

    def _vao(self, geometry: Geometry, program: moderngl.Program | None = None) -> moderngl.VertexArray:
        """The vertex array of ``geometry`` for ``program`` (the mesh program by default)."""
        program = program or self.program
        vbo, ibo, vaos = self._buffers(geometry)
        vao = vaos.get(program.glo)
        if vao is None:
            layout = [_layout(program, vbo, Geometry.VERTEX_FORMAT, Geometry.VERTEX_ATTRIBUTES)]
            vao = vaos[program.glo] = self.ctx.vertex_array(program, layout, index_buffer=ibo, index_element_size=4)
        return vao

    def render(self, scene: Scene, target: ForegroundTarget, *, plate_depth: moderngl.Texture | None = None) -> None:
        """Draw the scene's foreground into ``target`` (cleared first) and resolve it.

        Passes: 1. the shadow map and the shadow catcher, 2. the meshes (colour only,
        depth-tested, premultiplied blending). Both hide what the plate's depth covers
        (``shaders/include/occlusion.glsl``).

        ``plate_depth``: with parallax, the plate relief's inverse view depth for this view
        (R32F, the target's size, from `ParallaxRenderer`),
        used for occlusion instead of the plate's own depth map.
        """
        self._screen_depth = plate_depth
        import moderngl

        ctx = self.ctx
        w, h = target.size
        drawables, billboards = _split(scene)
        # The environment first: building a plate's (once) draws into targets of its own.
        self._frame_env = self.materials.environment(scene) if any(d[0].mesh.material.shading != "unlit" for d in drawables) else None
        cam = scene.camera
        proj = cam.projection_matrix(w / h)
        view = cam.view_matrix()
        view_proj = proj @ view
        # Where each thing can land on screen: draws are scissored to it and the target clears,
        # resolves (and the compositor composites) only there; what is off screen is not drawn.
        particles = {id(n): n.particles.instances(scene.time) for n, _ in billboards if n.particles is not None}
        self._scissors = screen_rects(drawables, billboards, particles, view_proj, (w, h))
        self._target = target
        with self.timer.stage("clear"):
            target.begin()
        ctx.viewport = (0, 0, w, h)
        try:
            # 1. Shadows of the meshes on the ground plane (into the target's shadow texture).
            if scene.shadows is not None and drawables:
                self.shadows.render(scene, drawables, view, view_proj, target)

            # 2. The meshes: opaque ones, then transparent ones back to front without depth writes.
            target.bind()
            ctx.enable(moderngl.DEPTH_TEST | moderngl.BLEND)
            ctx.blend_func = PREMULTIPLIED_OVER
            with self.timer.stage("meshes"):
                self._draw_meshes(None, scene, drawables, view, view_proj, target.size, depth_writes_clear=False)

            # 3. Sprites and particles: instanced quads, depth-tested, no depth writes.
            if billboards:
                with self.timer.stage("sprites and particles"):
                    self._draw_billboards(self.for_plate(self.billboard_program, scene), scene, billboards, view, proj,
                                          target.size, particles=particles)
        finally:
            self._scissors = None
            self._target = None
            target.bind()  # no scissor

        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
        with self.timer.stage("resolve"):
            target.resolve()

    def _scissor(self, key: tuple[str, int], rect: Rect | None = None) -> bool:
        """Scissor the next draw to the rectangle of ``key`` (or ``rect``), recording it in the
        target; False when it is off screen (skip the draw). Always True outside `render`."""
        if self._scissors is None or self._target is None:
            return True
        if rect is None:
            rect = self._scissors.get(key)
        if rect is None:
            return False
        self.ctx.scissor = rect
        self._target.add_rect(rect)
        return True

    def render_aux(self, scene: Scene, fbo: moderngl.Framebuffer, ids: dict[int, int], *,
                   plate_depth: moderngl.Texture | None = None, next_frame: NextFrame | None = None,
                   only: set[int] | None = None, occlusion: bool | None = None) -> None:
        """Render the data passes of the nearest surface with any coverage per pixel, cleared
        to 0 (no object): attachment 0 (RGBA32F) ``(view depth m, object id, flow x, flow y)``,
        attachment 1 (when ``fbo`` has it) the camera-space normal.

        Args:
            ids: ``id(node)`` -> the id written.
            plate_depth: as for `render`.
            next_frame: the scene one frame later (flow); ``None``: no motion, flow 0.
            only: draw only these nodes (``id(node)``); default all.
            occlusion: override the scene's ``occlusion`` (``False``: the plate hides nothing).
        """
        import moderngl

        self._screen_depth = plate_depth
        self._next = next_frame
        self._occlusion = occlusion
        ctx = self.ctx
        w, h = fbo.size
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        ctx.viewport = (0, 0, w, h)
        ctx.disable(moderngl.BLEND)
        ctx.enable(moderngl.DEPTH_TEST)
        cam = scene.camera
        proj = cam.projection_matrix(w / h)
        view = cam.view_matrix()
        drawables, billboards = _split(scene)
        if only is not None:
            drawables = [d for d in drawables if id(d[0]) in only]
            billboards = [d for d in billboards if id(d[0]) in only]
        self._draw_meshes(self.aux_program, scene, drawables, view, proj @ view, (w, h), depth_writes_clear=True, ids=ids)
        if billboards:
            self._draw_billboards(self.for_plate(self.billboard_aux_program, scene), scene, billboards, view, proj, (w, h),
                                  ids=ids)
        depth_writes(ctx, True)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
        self._next = self._occlusion = None

    def render_plate_depth(self, scene: Scene, fbo: moderngl.Framebuffer, *,
                           plate_depth: moderngl.Texture | None = None) -> None:
        """Write the plate's depth as the occlusion test sees it (metres along the view axis,
        ``inf`` where there is none) into ``fbo``'s R32F attachment, in GL row order; the same
        shader function (``include/occlusion.glsl``) as the foreground's occlusion.
        ``plate_depth`` as for `render`."""
        import moderngl

        self._screen_depth = plate_depth
        ctx = self.ctx
        fbo.use()
        ctx.viewport = (0, 0, *fbo.size)
        ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        prog = self.for_plate(self.plate_depth_program, scene)
        vao = self._plate_depth_vaos.get(prog.glo)
        if vao is None:
            vao = self._plate_depth_vaos[prog.glo] = ctx.vertex_array(prog, [])
        self._bind_occlusion(prog, scene, fbo.size, True, any_camera=True)
        vao.render(moderngl.TRIANGLES, vertices=3)

    def _draw_meshes(
        self, prog: moderngl.Program | None, scene: Scene, drawables: list[tuple[Node, np.ndarray]], view: np.ndarray,
        view_proj: np.ndarray, size: tuple[int, int], *, depth_writes_clear: bool, ids: dict[int, int] | None = None,
    ) -> None:
        """Draw ``drawables`` with ``prog`` (the aux pass), or each with its material's variant
        of the mesh program (``prog=None``): opaque and masked ones first, then blended ones
        back to front."""
        import moderngl

        ctx = self.ctx
        self._bound = set()
        frame = (scene, view, view_proj, size)
        self._lod_view = (view_proj, size)
        opaque = [d for d in drawables if not d[0].mesh.material.transparent]
        clear = [d for d in drawables if d[0].mesh.material.transparent]
        clear.sort(key=lambda d: float((view @ d[1][:, 3])[2]))  # most negative view z = farthest first
        if prog is None:  # group by program: fewer switches (the order of opaque draws does not matter)
            opaque.sort(key=lambda d: self.materials.program(d[0].mesh, scene).glo)
        culling = None
        front = "ccw"  # a node drawn mirrored (a negative scale, the water's mirror in its world) turns it: _wind
        winding = ctx.front_face
        for node, world in opaque:
            p = self.for_plate(prog or self.materials.program(node.mesh, scene), scene)
            self._use(p, frame)
            cull = not node.mesh.material.two_sided
            if cull != culling:
                (ctx.enable if cull else ctx.disable)(moderngl.CULL_FACE)
                culling = cull
            winding = _wind(ctx, world, front, winding)
            self._draw(p, node, world, ids)
        if clear:
            depth_writes(ctx, depth_writes_clear)
            for node, world in clear:
                p = self.for_plate(prog or self.materials.program(node.mesh, scene), scene)
                self._use(p, frame)
                cull = not node.mesh.material.two_sided  # blended: see the back of a glass object through its front
                if cull != culling:
                    (ctx.enable if cull else ctx.disable)(moderngl.CULL_FACE)
                    culling = cull
                winding = _wind(ctx, world, front, winding)
                self._draw(p, node, world, ids)
            depth_writes(ctx, True)
        ctx.disable(moderngl.CULL_FACE)
        ctx.front_face = front

    def _use(self, prog: moderngl.Program, frame: tuple[Scene, np.ndarray, np.ndarray, tuple[int, int]]) -> None:
        """Set the frame's uniforms (camera, lights, environment, occlusion) of ``prog`` once per draw call of `_draw_meshes`."""
        if prog.glo in self._bound:
            return
        self._bound.add(prog.glo)
        scene, view, view_proj, size = frame
        cam = scene.camera
        self._bind_occlusion(prog, scene, size, self._occlusion_on(scene))
        _write(prog, "u_view", transforms.gl_bytes(view))
        _write(prog, "u_view_proj", transforms.gl_bytes(view_proj))
        _write(prog, "u_view_proj_next", transforms.gl_bytes(view_proj if self._next is None else self._next.view_proj))
        _set(prog, "u_half_size", (size[0] / 2.0, size[1] / 2.0))
        _set(prog, "u_camera_position", tuple(float(v) for v in cam.position))
        _set(prog, "u_sun_direction", tuple(float(v) for v in scene.sun.direction))
        _set(prog, "u_sun_color", linear_rgb(scene.sun.rgb["color"]))
        _set(prog, "u_sun_intensity", float(scene.sun.intensity))
        _set(prog, "u_exposure", float(2.0 ** scene.exposure))
        self.materials.bind_frame(prog, self._frame_env, mirrored=self.mirrored)

    def _draw_billboards(
        self, prog: moderngl.Program, scene: Scene, nodes: list[tuple[Node, np.ndarray]], view: np.ndarray, proj: np.ndarray,
        size: tuple[int, int], ids: dict[int, int] | None = None, particles: dict[int, Any] | None = None,
    ) -> None:
        """Sprites back to front, then each emitter; ``particles``: ``id(node)`` -> its
        ``instances(t)`` when already computed (`render`)."""
        import moderngl

        ctx = self.ctx
        self._bind_occlusion(prog, scene, size, self._occlusion_on(scene))
        _write(prog, "u_view", transforms.gl_bytes(view))
        _write(prog, "u_proj", transforms.gl_bytes(proj))
        nxt = self._next
        _write(prog, "u_view_next", transforms.gl_bytes(view if nxt is None else nxt.view))
        _write(prog, "u_proj_next", transforms.gl_bytes(proj if nxt is None else nxt.proj))
        _set(prog, "u_half_size", (size[0] / 2.0, size[1] / 2.0))
        motion_columns = has_uniform(prog, "in_motion")
        _set(prog, "u_texture", 2)
        ctx.disable(moderngl.CULL_FACE)
        depth_writes(ctx, ids is not None)  # the aux pass keeps the nearest quad's depth and id
        t = scene.time
        # Sprites back to front; runs of camera-facing sprites sharing an image are one draw
        # (their centres in world space), except in the aux pass, where each has its own id.
        sprites = sorted((d for d in nodes if d[0].sprite is not None), key=lambda d: float((view @ d[1][:, 3])[2]))
        identity = np.eye(4, dtype=np.float32)
        self._batches_used = 0
        batch: list[list[float]] = []
        batch_rects: list[Rect] = []
        batch_texture: Texture | None = None

        def flush() -> None:
            if batch:
                rect = bounding(batch_rects)
                if self._scissors is None or (rect is not None and self._scissor(("sprite", -1), rect)):
                    self._draw_instances(prog, self._batch_slot(), identity, np.array(batch, np.float32),
                                         billboard=True, texture=batch_texture, additive=False)
                batch.clear()
                batch_rects.clear()

        for node, world in sprites:
            sp = node.sprite
            if self._scissors is not None:
                rect = self._scissors.get(("sprite", id(node)))
                if rect is None:
                    continue  # off screen
            row = [*sp.size, *sp.color[:3], sp.color[3] * sp.opacity, *sp.uv_rect(t)]
            if sp.billboard and ids is None:
                if batch and sp.texture is not batch_texture:
                    flush()
                batch_texture = sp.texture
                batch.append([float(world[0, 3]), float(world[1, 3]), float(world[2, 3]), *row])
                if self._scissors is not None:
                    batch_rects.append(rect)
                continue
            flush()
            if not self._scissor(("sprite", id(node))):
                continue
            single = [0.0, 0.0, 0.0, *row] + ([0.0, 0.0, 0.0] if motion_columns else [])
            self._draw_instances(prog, node.sprite, world, np.array([single], np.float32),
                                 billboard=sp.billboard, texture=sp.texture, additive=False, node=node,
                                 object_id=ids.get(id(node), 0) if ids else 0)
        flush()
        # Then each emitter or sprite set: one instanced draw, sorted back to front.
        for node, world in nodes:
            em = node.particles
            if em is None:
                continue
            pos, size, color, uv = particles[id(node)] if particles is not None and id(node) in particles \
                else em.instances(t)
            if len(pos) == 0 or not self._scissor(("particles", id(node))):
                continue
            move = nxt.motion.get(id(node)) if nxt is not None else None
            if move is None or move.shape != pos.shape:
                move = np.zeros_like(pos)
            if not em.additive:
                z = pos @ (view @ world)[2, :3].astype(np.float32)
                order = np.argsort(z, kind="stable")  # most negative view z (farthest) first
                pos, size, color, move = pos[order], size[order], color[order], move[order]
                uv = uv[order] if uv is not None else None
            data = np.empty((len(pos), 16 if motion_columns else 13), np.float32)
            if motion_columns:
                data[:, 13:16] = move
            data[:, 0:3] = pos
            data[:, 3:5] = size
            data[:, 5:9] = color
            data[:, 9:13] = (0.0, 0.0, 1.0, 1.0) if uv is None else uv
            self._draw_instances(prog, em, world, data, billboard=True, texture=em.texture, additive=em.additive, node=node,
                                 object_id=ids.get(id(node), 0) if ids else 0)
        depth_writes(ctx, True)
        ctx.blend_func = PREMULTIPLIED_OVER

    def _batch_slot(self) -> _BatchSlot:
        """An owner for the instance buffer of the next sprite batch this frame (a batch's
        buffer is not rewritten while an earlier draw of the frame may still read it)."""
        if self._batches_used == len(self._batch_owners):
            self._batch_owners.append(_BatchSlot())
        self._batches_used += 1
        return self._batch_owners[self._batches_used - 1]

    def _draw_instances(self, prog: moderngl.Program, owner: object, world: np.ndarray, data: np.ndarray, *, billboard: bool,
                        texture: Texture | None, additive: bool, object_id: int = 0, node: Node | None = None) -> None:
        import moderngl

        ctx = self.ctx
        entry = self._instances.get(owner)
        need = data.nbytes
        if entry is None or entry[1] < need:
            if entry is not None:
                for vao in entry[2].values():
                    vao.release()
                entry[0].release()
            capacity = max(need, 1024) * 2
            entry = self._instances[owner] = (ctx.buffer(reserve=capacity, dynamic=True), capacity, {})
        buf, _, vaos = entry
        vao = vaos.get(prog.glo)
        if vao is None:
            fmt, names = "3f 2f 4f 4f", ("in_center", "in_size", "in_color", "in_uv_rect")
            if data.shape[1] == 16:  # the aux pass: per-instance motion (flow)
                fmt, names = fmt + " 3f", (*names, "in_motion")
            vao = vaos[prog.glo] = ctx.vertex_array(prog, [
                (self._corners, "2f", "in_corner"), _layout(prog, buf, fmt + "/i", names)])
        buf.write(data.tobytes())  # one upload per emitter per frame
        _set(prog, "u_object_id", float(object_id))
        _write(prog, "u_model", transforms.gl_bytes(world))
        _write(prog, "u_model_next", transforms.gl_bytes(self._next_world(node, world)))
        _set(prog, "u_billboard", bool(billboard))
        _set(prog, "u_additive", bool(additive))
        _set(prog, "u_use_texture", texture is not None)
        if texture is not None:
            self.materials.texture(texture).use(2)
        ctx.blend_func = ADDITIVE if additive else PREMULTIPLIED_OVER
        vao.render(moderngl.TRIANGLE_STRIP, vertices=4, instances=len(data))

    def _draw(self, prog: moderngl.Program, node: Node, world: np.ndarray, ids: dict[int, int] | None = None) -> None:
        import moderngl

        if not self._scissor(("mesh", id(node))):
            return  # off screen
        mat = node.mesh.material
        geometry = node.mesh.geometry
        if geometry._lod is not None and self._lod_view is not None:  # a primitive: tessellated by its size
            view_proj, size = self._lod_view
            geometry = geometry.for_screen(projected_radius(view_proj, world_corners(geometry.bounds, world), size))
        _write(prog, "u_model", transforms.gl_bytes(world))
        _write(prog, "u_model_next", transforms.gl_bytes(self._next_world(node, world)))
        _write(prog, "u_normal_matrix", transforms.gl_bytes(transforms.normal_matrix(world)))
        self.materials.bind(prog, mat)
        if ids is not None:
            _set(prog, "u_object_id", float(ids.get(id(node), 0)))
        self._vao(geometry, prog).render(moderngl.TRIANGLES)

    def _next_world(self, node: Node | None, world: np.ndarray) -> np.ndarray:
        if self._next is None or node is None:
            return world
        return self._next.worlds.get(id(node), world)

    def _occlusion_on(self, scene: Scene) -> bool:
        return scene.occlusion if self._occlusion is None else self._occlusion

    def plate_depth_texture(self, plate: Plate) -> moderngl.Texture:
        """The plate's R32F depth texture (metres, inf = sky), uploaded once per plate (wrapping
        round horizontally for a plate that covers a full turn)."""
        tex = self._depth.get(plate)
        if tex is None:
            assert plate.depth is not None
            tex = self._depth[plate] = upload_depth(self.gl, plate.depth)
            if plate.camera is not None and plate.camera.full_turn:
                tex.repeat_x = True
        return tex

    def _bind_occlusion(self, prog: moderngl.Program, scene: Scene, size: tuple[int, int], enabled: bool, *,
                        any_camera: bool = False) -> None:
        """Set ``include/occlusion.glsl``'s uniforms; the plate's depth goes on texture unit 1.
        Occlusion needs a perspective camera (the plate's depth is a perspective depth) unless
        ``any_camera``."""
        plate = scene.plate
        perspective = any_camera or not isinstance(scene.camera, OrthographicCamera)
        on = enabled and perspective and plate is not None and plate.depth is not None
        screen = on and self._screen_depth is not None
        if on and screen != self._screen_variants.get(prog.glo, False):
            raise GPUError("internal: a program drawn with the plate's depth " + ("on screen" if screen else "map")
                           + " was not made by for_plate for it")
        if screen:
            assert self._screen_depth is not None
            self._screen_depth.use(1)
        elif on:
            assert plate is not None
            self.plate_depth_texture(plate).use(1)
            prog["u_plate_from_ndc"].write(transforms.gl_bytes(plate_mapping(plate, scene.camera, size)))
        if on and not screen:
            _set(prog, "u_plate_lens", mapping_lens(plate, scene.camera)[1])  # PLATE_PROJ variants (for_plate)
        if on:
            prog["u_target_size"].value = (float(size[0]), float(size[1]))
        prog["u_plate_depth"].value = 1
        prog["u_occlusion"].value = on

    def release(self) -> None:
        self.shadows.release()
        self.materials.release()
        for vao in self._plate_depth_vaos.values():
            vao.release()
        self._plate_depth_vaos.clear()
        for buf, _, vaos in list(self._instances.values()):
            for vao in vaos.values():
                vao.release()
            buf.release()
        self._instances.clear()
        self._corners.release()
        for tex in self._depth.values():
            tex.release()
        self._depth.clear()
        for vbo, ibo, vaos in list(self._geometry.values()):
            for vao in vaos.values():
                vao.release()
            vbo.release()
            ibo.release()
        self._geometry.clear()


class _BatchSlot:
    """A weak-referenceable key for a sprite batch's instance buffer."""


def _layout(prog: moderngl.Program, buffer: moderngl.Buffer, fmt: str, names: tuple[str, ...]) -> tuple[Any, ...]:
    """A vertex-array entry for ``buffer`` whose attributes the program may have compiled out:
    those become padding (``3f`` -> ``12x``) so one buffer layout serves every program."""
    per_instance = fmt.endswith("/i")
    parts = fmt.removesuffix("/i").split()
    kept, out = [], []
    for part, name in zip(parts, names):
        if name in prog:
            out.append(part)
            kept.append(name)
        else:
            out.append(f"{int(part[:-1]) * 4}x")
    return (buffer, " ".join(out) + ("/i" if per_instance else ""), *kept)


def depth_writes(ctx: moderngl.Context, on: bool) -> None:
    """Turn depth writes on or off for the bound framebuffer (moderngl keeps the mask per
    framebuffer and applies it when one is bound; ``Context`` has no ``depth_mask``)."""
    fbo = ctx.fbo
    if fbo.depth_mask != on:
        fbo.depth_mask = on
        fbo.use()


def _split(scene: Scene) -> tuple[list[tuple[Node, np.ndarray]], list[tuple[Node, np.ndarray]]]:
    """One walk of the scene graph: visible meshes (not fully transparent) and sprite/particle nodes."""
    meshes, billboards = [], []
    for node, world in scene.visible_nodes():
        if node.mesh is not None and node.mesh.material.opacity > 0.0:
            meshes.append((node, world))
        if node.sprite is not None or node.particles is not None:
            billboards.append((node, world))
    return meshes, billboards


def _wind(ctx: moderngl.Context, world: np.ndarray, front: str, winding: str) -> str:
    """Set the front faces' winding for a node drawn with ``world``: ``front``, turned around
    when ``world`` mirrors (a negative scale), so back faces are culled and ``gl_FrontFacing``
    holds either way. ``winding`` is the one set now; returns the one set after."""
    want = ({"ccw": "cw", "cw": "ccw"}[front]) if transforms.mirrors(world) else front
    if want != winding:
        ctx.front_face = want
    return want
