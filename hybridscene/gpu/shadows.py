"""Shadows on the plate's ground: a shadow map from the sun, then the catcher plane (an invisible
ground that writes only how much light the foreground takes away, which the compositor
multiplies into the plate in linear light)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import transforms
from ..scene import Geometry, Node, Scene
from .programs import load_program
from .targets import ForegroundTarget

if TYPE_CHECKING:
    import moderngl

__all__ = ["ShadowPass"]


class ShadowPass:
    """The shadow map and the shadow catcher of a [`SceneRenderer`][hybridscene.gpu.renderer.SceneRenderer]
    (``owner``, whose geometry buffers and occlusion uniforms it shares). Owned by the renderer, released with it."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        gl = owner.gl
        ctx = self.ctx = gl.mgl
        self.shadow_program = load_program(gl, "shadow_depth")
        self.catcher_program = load_program(gl, "shadow_catcher")
        self._catcher_vbo = ctx.buffer(reserve=4 * 3 * 4)
        self._catcher_vao = ctx.vertex_array(self.catcher_program, [(self._catcher_vbo, "3f", "in_position")])
        self._shadow_size = 0
        self._shadow_fbo_obj: moderngl.Framebuffer | None = None
        self._shadow_depth: moderngl.Texture | None = None

    def render(
        self, scene: Scene, drawables: list[tuple[Node, np.ndarray]], view: np.ndarray, view_proj: np.ndarray,
        target: ForegroundTarget,
    ) -> None:
        """Render the shadow map from the sun, then the catcher plane's shadow amount into
        ``target``'s shadow attachment."""
        import moderngl

        catcher = scene.shadows
        assert catcher is not None
        ctx = self.ctx
        # a. Fit an orthographic light box around the meshes.
        corners = np.concatenate([_world_corners(node.mesh.geometry, world) for node, world in drawables])
        center = (corners.min(axis=0) + corners.max(axis=0)) / 2.0
        radius = float(np.linalg.norm(corners - center, axis=1).max()) * 1.05 + 1e-3
        light_dir = np.asarray(scene.sun.direction, np.float64)
        if light_dir[1] > -0.02:  # the sun at or below the horizon casts no shadow on the ground
            return
        up = (0.0, 1.0, 0.0) if abs(light_dir[1]) < 0.99 else (0.0, 0.0, -1.0)
        eye = center - light_dir * (radius * 2.0)
        light_view = transforms.look_at(eye, center, up)
        # Far enough for the ground where the shadows fall; depth beyond it clamps to "behind".
        reach = radius * 3.0 + abs((center[1] - catcher.height) / light_dir[1]) + radius
        light_proj = transforms.orthographic(-radius, radius, -radius, radius, radius * 0.5, reach)
        light_vp = light_proj @ light_view

        # b. The shadow map.
        fbo = self._shadow_fbo(catcher.resolution)
        fbo.use()
        ctx.viewport = (0, 0, catcher.resolution, catcher.resolution)
        fbo.clear(depth=1.0)
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE | moderngl.BLEND)
        sprog = self.shadow_program
        sprog["u_light_view_proj"].write(transforms.gl_bytes(light_vp))
        for node, world in drawables:
            sprog["u_model"].write(transforms.gl_bytes(world))
            self.owner._vao(node.mesh.geometry, self.shadow_program).render(moderngl.TRIANGLES)

        # c. The catcher: a square on the plane around the shadow of the meshes' bounding sphere
        #    (an ellipse stretched by the sun's slant), plus the penumbra.
        t = (center[1] - catcher.height) / -light_dir[1]
        hit = center + light_dir * t
        half = radius / max(abs(float(light_dir[1])), 0.2) + catcher.softness
        quad = np.array(
            [[hit[0] - half, catcher.height, hit[2] - half], [hit[0] + half, catcher.height, hit[2] - half],
             [hit[0] - half, catcher.height, hit[2] + half], [hit[0] + half, catcher.height, hit[2] + half]],
            dtype=np.float32,
        )
        self._catcher_vbo.write(quad.tobytes())
        target.bind(target.SHADOW_ONLY)
        ctx.viewport = (0, 0, *target.size)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE | moderngl.BLEND)
        cprog = self.catcher_program
        self._shadow_depth.use(0)
        cprog["u_shadow_map"].value = 0
        self.owner._bind_occlusion(cprog, scene, target.size, True)  # the plate always hides its own ground
        cprog["u_view_proj"].write(transforms.gl_bytes(view_proj))
        cprog["u_view"].write(transforms.gl_bytes(view))
        cprog["u_light_view_proj"].write(transforms.gl_bytes(light_vp))
        cprog["u_strength"].value = float(catcher.strength)
        # Penumbra in metres -> filter radius in shadow-map texels (the map spans 2 * radius).
        cprog["u_softness"].value = float(catcher.softness) / 2.0 * catcher.resolution / (2.0 * radius)
        cprog["u_bias"].value = 0.0015
        self._catcher_vao.render(moderngl.TRIANGLE_STRIP)
        target.has_shadow = True

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
        return self._shadow_fbo_obj

    def release(self) -> None:
        if self._shadow_fbo_obj is not None:
            self._shadow_fbo_obj.release()
            self._shadow_depth.release()
            self._shadow_fbo_obj = None
        self._catcher_vao.release()
        self._catcher_vbo.release()


def _world_corners(geometry: Geometry, world: np.ndarray) -> np.ndarray:
    """The 8 corners of a geometry's bounding box in world space, ``(8, 3)``."""
    lo, hi = geometry.bounds
    corners = np.array([[x, y, z, 1.0] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    return (corners @ world.T.astype(np.float64))[:, :3]
