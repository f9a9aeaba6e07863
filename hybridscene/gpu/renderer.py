"""The scene renderer: draws a :class:`~hybridscene.scene.Scene`'s foreground into a
:class:`ForegroundTarget`. It never creates a context or a window; it takes ``ctx``."""

from __future__ import annotations

import weakref
from typing import Any

from .. import transforms
from ..plate import Plate
from ..scene import Geometry, Scene
from .programs import load_program
from .targets import ForegroundTarget
from .textures import cover_rect, upload_depth

__all__ = ["SceneRenderer"]


class SceneRenderer:
    """Rasterises meshes with depth test, back-face culling and MSAA (per the target).

    GPU copies of geometry are made on first use and kept while the :class:`Geometry` lives.
    """

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.program = load_program(ctx, "mesh")
        self.depth_program = load_program(ctx, "plate_depth")
        self._fullscreen = ctx.vertex_array(self.depth_program, [])
        self._geometry: weakref.WeakKeyDictionary[Geometry, tuple[Any, Any, Any]] = weakref.WeakKeyDictionary()
        self._depth: weakref.WeakKeyDictionary[Plate, Any] = weakref.WeakKeyDictionary()

    def _vao(self, geometry: Geometry) -> Any:
        entry = self._geometry.get(geometry)
        if entry is None:
            vbo = self.ctx.buffer(geometry.interleaved().tobytes())
            ibo = self.ctx.buffer(geometry.indices.tobytes())
            vao = self.ctx.vertex_array(
                self.program, [(vbo, "3f 3f", "in_position", "in_normal")], index_buffer=ibo, index_element_size=4
            )
            entry = (vao, vbo, ibo)
            self._geometry[geometry] = entry
        return entry[0]

    def render(self, scene: Scene, target: ForegroundTarget) -> None:
        """Draw the scene's visible meshes into ``target`` (cleared first) and resolve it."""
        import moderngl

        ctx = self.ctx
        w, h = target.size
        target.draw_fbo.use()
        target.clear()
        ctx.viewport = (0, 0, w, h)
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
        # Premultiplied "over": (ONE, ONE_MINUS_SRC_ALPHA). Not moderngl.PREMULTIPLIED_ALPHA,
        # which is (SRC_ALPHA, ONE).
        ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA

        cam = scene.camera
        proj = cam.projection_matrix(w / h)
        if scene.occlusion and scene.plate is not None and scene.plate.depth is not None:
            self._depth_prepass(scene.plate, proj, target)
        view_proj = proj @ cam.view_matrix()
        prog = self.program
        prog["u_view_proj"].write(transforms.gl_bytes(view_proj))
        prog["u_sun_direction"].value = tuple(float(v) for v in scene.sun.direction)
        prog["u_sun_color"].value = scene.sun.rgb["color"]
        prog["u_sun_intensity"].value = float(scene.sun.intensity)
        prog["u_ambient_color"].value = scene.ambient.rgb["color"]
        prog["u_ambient_intensity"].value = float(scene.ambient.intensity)

        for node, world in scene.drawables():
            mesh = node.mesh
            assert mesh is not None
            mat = mesh.material
            if mat.opacity <= 0.0:
                continue
            prog["u_model"].write(transforms.gl_bytes(world))
            prog["u_normal_matrix"].write(transforms.gl_bytes(transforms.normal_matrix(world)))
            prog["u_base_color"].value = mat.color_rgb
            prog["u_emissive"].value = mat.emissive_rgb
            prog["u_opacity"].value = float(mat.opacity)
            self._vao(mesh.geometry).render(moderngl.TRIANGLES)

        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
        target.resolve()

    def _depth_prepass(self, plate: Plate, proj: Any, target: ForegroundTarget) -> None:
        """Fill the depth buffer with the plate's surface (see ``shaders/plate_depth.glsl``)."""
        import moderngl

        tex = self._depth.get(plate)
        if tex is None:
            assert plate.depth is not None
            tex = self._depth[plate] = upload_depth(self.ctx, plate.depth)
        tex.use(0)
        prog = self.depth_program
        prog["u_plate_depth"].value = 0
        prog["u_plate_rect"].value = cover_rect(plate.size, target.size)
        prog["u_depth_coeffs"].value = (float(proj[2, 2]), float(proj[2, 3]))
        fbo = target.draw_fbo
        fbo.color_mask = (False, False, False, False)
        fbo.use()  # moderngl applies a framebuffer's masks when it is bound
        self._fullscreen.render(moderngl.TRIANGLES, vertices=3)
        fbo.color_mask = (True, True, True, True)
        fbo.use()

    def release(self) -> None:
        for tex in list(self._depth.values()):
            tex.release()
        self._depth.clear()
        self._fullscreen.release()
        for vao, vbo, ibo in list(self._geometry.values()):
            vao.release()
            vbo.release()
            ibo.release()
        self._geometry.clear()

