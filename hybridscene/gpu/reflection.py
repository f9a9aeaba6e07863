"""Reflections in the plate's water: the reflection catcher.

The foreground's meshes are drawn mirrored about the water plane ``y = height`` with the scene
renderer's mesh program (lit by the mirrored sun, which lights the mirror image as the real sun
lights the real object), into a premultiplied RGBA16F target the size of the frame. An oblique
near plane (Lengyel, "Oblique View Frustum Depth Projection and Clipping", 2005) clips away the
mirror image of whatever lies below the water, at no per-pixel cost. A second, scissored pass
then scales each pixel by ``strength x water mask x exp(-depth below the water / falloff)``, the
depth below the water read back from the depth buffer. The compositor lays the result over the
plate, under the shadows and the foreground (``HAS_REFLECTION`` in ``composite.glsl``).

What hides the mirror image: the water mask (a ridge or a bank in front of the water is not
water), looked up where the pixel's ray meets the water plane as the plate's camera saw that
point (`water_mapping`, so it stays on the water when the camera moves), and the plate's depth
where it shows something nearer than that point of the water (``include/occlusion.glsl``,
with the scene's ``occlusion``).
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import transforms
from ..plate import Plate
from ..plate.projection import plate_from_direction
from ..scene import Scene
from ..scene.camera import PerspectiveCamera
from ..scene.view import mapping_lens, plate_mapping
from .programs import has_uniform, load_program
from .rects import Rect, merge, project_points, world_corners
from .rects import scale as scale_rect
from .renderer import depth_writes

if TYPE_CHECKING:
    import moderngl

    from ..scene import Node
    from ..scene.camera import OrthographicCamera

__all__ = ["ReflectionPass", "mirror_matrix", "water_mapping"]

_OVER = (1, 0x0303)  # (GL_ONE, GL_ONE_MINUS_SRC_ALPHA): premultiplied over
_SCALE = (0, 0x0302)  # (GL_ZERO, GL_SRC_ALPHA): the target times the source's alpha


def mirror_matrix(height: float) -> np.ndarray:
    """``(4, 4) float32``: the reflection about the plane ``y = height`` (world from world)."""
    m = np.diag([1.0, -1.0, 1.0, 1.0]).astype(np.float32)
    m[1, 3] = 2.0 * float(height)
    return m


def water_mapping(plate: Plate, camera: PerspectiveCamera | OrthographicCamera, size: tuple[int, int],
                  height: float) -> np.ndarray:
    """``(3, 3) float32``: a frame pixel's NDC ``(x, y, 1)`` -> the plate's image coordinates
    ``(u w, v w, w)`` of the point where the pixel's ray meets the water plane ``y = height``,
    as the plate's camera sees it; ``w <= 0`` where the ray misses the plane (above the
    horizon) or the point is behind the plate's camera.

    A camera standing where the plate was painted from gets the plate's own mapping
    (`hybridscene.scene.view.plate_mapping`), whatever the plane; one that moved gets the
    homography the plane induces. Plates without a camera, and orthographic cameras, get the
    plate's mapping (the water mask is fitted to the frame like the plate). For a cylindrical or
    equirectangular plate the result is the direction from the plate's eye to the point (times
    a positive factor where the ray meets the plane, a negative one where it misses), which the
    shader maps through the plate's projection (`hybridscene.scene.view.mapping_lens`).
    """
    base = plate_mapping(plate, camera, size).astype(np.float64)
    cam = plate.camera
    if cam is None or not isinstance(camera, PerspectiveCamera):
        return base.astype(np.float32)
    eye = np.asarray(camera.position, np.float64)
    k = float(height) - eye[1]  # < 0: the camera is above the water
    if abs(k) < 1e-6:
        k = -1e-6
    offset = eye - np.array([0.0, cam.height, 0.0])
    # A ray r from the eye meets the plane at eye + (k / r_y) r; seen from the plate's eye that is
    # offset + (k / r_y) r, or, scaled by r_y / k (> 0 in front of the eye), (offset e_y^T / k + I) r.
    through_plane = np.outer(offset, [0.0, 1.0, 0.0]) / k + np.eye(3)
    if cam.projection != "perspective":
        return (through_plane @ base).astype(np.float32)
    pfd = plate_from_direction(plate)
    return (pfd @ through_plane @ np.linalg.inv(pfd) @ base).astype(np.float32)


def _oblique(proj: np.ndarray, plane_view: np.ndarray) -> np.ndarray:
    """``proj`` with its near plane replaced by ``plane_view`` (view space, ``(a, b, c, d)``,
    kept side positive, the eye on the negative side); its far plane meets the old frustum's
    far corner. Works for perspective and orthographic projections alike."""
    p = proj.astype(np.float64)
    c = plane_view.astype(np.float64)
    corner = np.linalg.inv(p) @ np.array([np.sign(c[0]) or 1.0, np.sign(c[1]) or 1.0, 1.0, 1.0])
    out = p.copy()
    out[2] = c * (2.0 * float(p[3] @ corner) / float(c @ corner)) - p[3]
    return out


_INVISIBLE = math.log(100.0)  # depths below the water, in falloffs, where the image is under 1 %


class _MirroredScene:
    """The scene as the mirror shows it to the mesh program: the same in every respect but the
    sun, mirrored (a mirrored surface lit by the mirrored sun shades as the real one does)."""

    def __init__(self, scene: Scene) -> None:
        self._scene = scene
        d = np.asarray(scene.sun.direction, np.float64)
        self.sun = dataclasses.replace(scene.sun, direction=(float(d[0]), -float(d[1]), float(d[2])))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scene, name)


class ReflectionPass:
    """Renders a scene's [`ReflectionCatcher`][hybridscene.ReflectionCatcher] into `color`.

    ``owner``: the [`SceneRenderer`][hybridscene.gpu.renderer.SceneRenderer] whose mesh
    program and geometry buffers it draws with. ``release()`` frees what it made (not the
    owner's resources).
    """

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        gl = owner.gl
        self.gl = gl
        self.ctx = gl.mgl
        self._fade: dict[int, tuple[moderngl.Program, moderngl.VertexArray]] = {}  # by program, made on first use
        self.color: moderngl.Texture | None = None
        """The last reflection: RGBA16F linear premultiplied, already faded and masked by the
        water, the frame's size, GL row order."""
        self._depth: moderngl.Texture | None = None
        self._fbo: moderngl.Framebuffer | None = None
        self._fade_fbo: moderngl.Framebuffer | None = None
        self._plate_masks: weakref.WeakKeyDictionary[Plate, moderngl.Texture] = weakref.WeakKeyDictionary()
        self._user_masks: dict[int, tuple[weakref.ref[np.ndarray], moderngl.Texture]] = {}
        self.frame_rect: Rect | None = None
        """Where the last reflection can show in the frame (GL pixels, `hybridscene.gpu.rects`);
        ``None`` when `render` drew nothing."""
        self._drawn: Rect | None = None  # where the target holds an image (None: unknown, all)

    def render(self, scene: Scene, size: tuple[int, int]) -> moderngl.Texture | None:
        """Draw the mirror image of ``scene``'s meshes in its water for a frame of ``size``.

        Returns `color`, or ``None`` when there is nothing to show (no catcher, no water mask,
        no mesh above the water, the camera at or below the water, the image off screen); then
        nothing was drawn."""
        import moderngl

        # 1. What to mirror, and whether it can show.
        self.frame_rect = None
        catcher = scene.reflections
        if catcher is None or catcher.strength <= 0.0:
            return None
        mask = catcher.mask if catcher.mask is not None else getattr(scene.plate, "water", None)
        if mask is None:
            return None
        plane = float(catcher.height)
        cam = scene.camera
        if float(cam.position[1]) <= plane + 1e-3:
            return None
        mirror = mirror_matrix(plane)
        drawables: list[tuple[Node, np.ndarray]] = []
        corners = []
        for node, world in scene.visible_nodes():
            if node.mesh is None or node.mesh.material.opacity <= 0.0:
                continue
            box = world_corners(node.mesh.geometry.bounds, world)
            if box[:, 1].max() <= plane:
                continue  # wholly under water: its mirror image is clipped away
            if catcher.falloff > 0.0 and box[:, 1].min() - plane > _INVISIBLE * catcher.falloff:
                continue  # so high above the water that its faded image would be under 1 %
            drawables.append((node, (mirror @ world).astype(np.float32)))
            corners.append(box)
        if not drawables:
            return None
        w, h = size
        scale = float(catcher.resolution)
        rsize = (max(1, round(w * scale)), max(1, round(h * scale)))  # the mirror image's target
        proj = cam.projection_matrix(w / h).astype(np.float64)
        view = cam.view_matrix().astype(np.float64)
        mirrored = np.concatenate(corners) @ mirror[:3, :3].T.astype(np.float64) + mirror[:3, 3]
        rect = project_points(proj @ view, mirrored, rsize, margin=1)
        if rect is None:
            return None
        # Where the compositor must look: the image filtered up to the frame's size.
        self.frame_rect = scale_rect(rect, w / rsize[0], h / rsize[1], size, margin=3)

        # 2. The mirror image, clipped at the water by an oblique near plane (kept: below it).
        plane_view = np.linalg.inv(view).T @ np.array([0.0, -1.0, 0.0, plane])
        view_proj = _oblique(proj, plane_view) @ view
        self._ensure(rsize)
        assert self._fbo is not None and self._fade_fbo is not None and self.color is not None
        ctx = self.ctx
        owner = self.owner
        self._fbo.scissor = None
        self._fbo.use()
        ctx.viewport = (0, 0, *rsize)
        for dirty in merge([self._drawn, rect]) if self._drawn is not None else [None]:
            self._fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=dirty)  # only what was drawn
        self._drawn = rect
        ctx.scissor = rect  # the bound framebuffer's (moderngl keeps one per framebuffer)
        ctx.enable(moderngl.DEPTH_TEST | moderngl.BLEND)
        ctx.blend_func = _OVER
        ctx.front_face = "cw"  # the mirror turns the winding around
        saved = owner._occlusion
        owner._occlusion = False  # the water mask hides what the plate puts in front of the water
        owner.mirrored = True  # ... and the environment lights the image mirrored, like the sun
        try:
            owner._draw_meshes(None, _MirroredScene(scene), drawables, view.astype(np.float32),
                               view_proj.astype(np.float32), rsize, depth_writes_clear=False)
        finally:
            owner._occlusion = saved
            owner.mirrored = False
            ctx.front_face = "ccw"
            depth_writes(ctx, True)

        # 3. Fade with depth below the water, times strength and the water mask (scissored).
        self._fbo.scissor = None
        self._fade_fbo.scissor = rect
        self._fade_fbo.use()
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = _SCALE
        prog, vao = self._fade_pass(scene)
        owner._bind_occlusion(prog, scene, rsize, scene.occlusion)  # the plate's depth: unit 1
        self._depth.use(0)
        mask_texture = self._mask_texture(scene.plate if catcher.mask is None else None, mask)
        mask_texture.use(2)
        prog["u_depth"].value = 0
        prog["u_water"].value = 2
        prog["u_world_from_clip"].write(transforms.gl_bytes(np.linalg.inv(view_proj).astype(np.float32)))
        water_plate = scene.plate if scene.plate is not None else _Shape(mask.shape)
        prog["u_water_from_ndc"].write(transforms.gl_bytes(water_mapping(water_plate, cam, size, plane)))
        if has_uniform(prog, "u_plate_lens"):  # a cylindrical or equirectangular plate (the PLATE_PROJ variant)
            prog["u_plate_lens"].value = mapping_lens(scene.plate, cam)[1]
        prog["u_height"].value = plane
        prog["u_strength"].value = float(catcher.strength)
        prog["u_inv_falloff"].value = 1.0 / catcher.falloff if catcher.falloff > 0.0 else 0.0
        prog["u_camera_position"].value = tuple(float(v) for v in cam.position)
        prog["u_camera_forward"].value = tuple(float(v) for v in -view[2, :3])
        vao.render(moderngl.TRIANGLES, vertices=3)
        # Leave no texture unit pointing at the depth buffer: while a texture that is also the
        # bound framebuffer's attachment stays bound, Mesa synchronises after every draw call
        # (next frame's mirror image took 5 ms per mesh instead of a fraction of one).
        mask_texture.use(0)
        self._fade_fbo.scissor = None
        self._fade_fbo.use()  # applies the cleared scissor
        ctx.disable(moderngl.BLEND)
        ctx.blend_func = _OVER
        return self.color

    def _fade_pass(self, scene: Scene) -> tuple[moderngl.Program, moderngl.VertexArray]:
        prog = self.owner.for_plate(load_program(self.gl, "reflection"), scene)
        entry = self._fade.get(prog.glo)
        if entry is None:
            entry = self._fade[prog.glo] = (prog, self.ctx.vertex_array(prog, []))
        return entry

    def _ensure(self, size: tuple[int, int]) -> None:
        if self.color is not None and self.color.size == size:
            return
        self._release_targets()
        self._drawn = None  # new targets: cleared whole
        import moderngl

        ctx = self.ctx
        self.color = ctx.texture(size, 4, dtype="f2")
        self.color.repeat_x = self.color.repeat_y = False
        self.color.filter = (moderngl.LINEAR, moderngl.LINEAR)  # filtered up to the frame's size
        self._depth = ctx.depth_texture(size)
        self._depth.compare_func = ""
        self._depth.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._fbo = ctx.framebuffer([self.color], self._depth)
        self._fade_fbo = ctx.framebuffer([self.color])  # no depth: the fade reads it

    def _mask_texture(self, plate: Plate | None, mask: np.ndarray) -> moderngl.Texture:
        """The water mask as an R8 texture (row 0 = image top, linear filtering), uploaded once
        per plate, or per mask array while it lives."""
        if plate is not None:
            tex = self._plate_masks.get(plate)
            if tex is None:
                tex = self._plate_masks[plate] = self._upload(mask)
                if plate.camera is not None and plate.camera.full_turn:
                    tex.repeat_x = True
            return tex
        for key, (ref, old) in list(self._user_masks.items()):
            if ref() is None:
                old.release()
                del self._user_masks[key]
        entry = self._user_masks.get(id(mask))
        if entry is None or entry[0]() is not mask:
            if entry is not None:
                entry[1].release()
            entry = self._user_masks[id(mask)] = (weakref.ref(mask), self._upload(mask))
        return entry[1]

    def _upload(self, mask: np.ndarray) -> moderngl.Texture:
        import moderngl

        data = np.round(np.clip(np.asarray(mask, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
        h, w = data.shape
        tex = self.ctx.texture((w, h), 1, np.ascontiguousarray(data).tobytes(), alignment=1)
        tex.repeat_x = tex.repeat_y = False
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        return tex

    def _release_targets(self) -> None:
        if self._fbo is not None:
            self.gl.unbind([self._fbo, self._fade_fbo])
        for r in (self._fade_fbo, self._fbo, self._depth, self.color):
            if r is not None:
                r.release()
        self._fbo = self._fade_fbo = None
        self._depth = self.color = None

    def release(self) -> None:
        """Free the targets, the mask textures and the fade pass's vertex array."""
        self._release_targets()
        for tex in self._plate_masks.values():
            tex.release()
        self._plate_masks.clear()
        for _ref, tex in self._user_masks.values():
            tex.release()
        self._user_masks.clear()
        for _prog, vao in self._fade.values():
            vao.release()
        self._fade.clear()


@dataclasses.dataclass(frozen=True)
class _Shape:
    """Stands in for a plate (no plate, a mask of its own): the size the mask is fitted by."""

    shape: tuple[int, ...]
    camera: None = None

    @property
    def size(self) -> tuple[int, int]:
        return int(self.shape[1]), int(self.shape[0])
