"""The one frame function: a scene at a time -> its layers on the GPU -> a composite in a
target. Export, the preview window, stills and layer files all go through
[`FrameRenderer`][hybridscene.FrameRenderer].

Per frame: 1. the scene is updated to ``t``; 2. each plate on screen becomes a
`PlateLayer` (drawn as a relief when the camera has moved,
see `hybridscene.gpu.parallax`); 3. the foreground is rasterised, hidden where the plate is
nearer; 4. the foreground's reflection in the plate's water, when the scene has a reflection
catcher (`hybridscene.gpu.reflection`); 5. the compositor lays them together in linear light.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import check_size
from ..config import check_samples, get_settings
from ..gpu.context import GLContext
from ..gpu.edge_aa import EdgeAA
from ..gpu.parallax import ParallaxRenderer, ReliefView
from ..gpu.readback import read_pixels
from ..gpu.rects import Rect, merge
from ..gpu.reflection import ReflectionPass
from ..gpu.renderer import SceneRenderer
from ..gpu.targets import ForegroundTarget, OutputTarget
from ..gpu.timing import StageTimer
from ..scene import Scene
from ..scene.camera import PerspectiveCamera
from ..scene.view import uses_parallax
from .compositor import Compositor
from .instances import Registry, box_corners, instances_of
from .layers import ForegroundLayer, PlateLayer
from .motion import background_flow, camera_info, look_ahead, next_frame
from .passes import FramePasses, InstanceInfo, check_passes, srgb8, straight_srgba8

if TYPE_CHECKING:
    import moderngl

__all__ = ["FrameLayers", "FrameRenderer"]


@dataclasses.dataclass(frozen=True)
class FrameLayers:
    """One frame split for a compositor (Nuke, OpenImageIO, ...); arrays top row first.

    ``composite == foreground over (plate x shadow)`` in linear light, with the foreground
    premultiplied (PNG stores it straight; linearise, then premultiply).
    """

    composite: np.ndarray
    """``(H, W, 3) uint8`` sRGB: the final frame."""
    plate: np.ndarray
    """``(H, W, 3) uint8`` sRGB: the plate as fitted to the frame, with the foreground's
    reflection in its water (a reflection catcher), before shadows."""
    plate_depth: np.ndarray | None
    """``(H, W) float32`` metres along the view axis (``inf`` sky): the plate's depth as the
    occlusion test saw it this frame; ``None`` when the plate has no depth."""
    foreground: np.ndarray
    """``(H, W, 4) uint8`` sRGB, straight alpha, already hidden where the plate is nearer."""
    depth: np.ndarray
    """``(H, W) float32`` metres along the view axis to the nearest foreground surface; ``inf`` where empty."""
    ids: np.ndarray
    """``(H, W) uint16`` object id of that surface; 0 = none (see ``names``)."""
    shadow: np.ndarray | None
    """``(H, W) uint8`` linear multiplier of the plate, 255 = unshadowed; ``None`` without shadows."""
    names: dict[int, str]
    """Object id → node name."""


class FrameRenderer:
    """Renders frames of a scene at one size on a context you own.

    ``with FrameRenderer(gl, (1280, 720)) as r: frame = r.render_frame(scene, t=0.5)``

    Args:
        ctx: a `GLContext` from
            [`create_context`][hybridscene.create_context] (a ``moderngl.Context``, such as a window's, is
            wrapped without taking ownership).
        size: ``(width, height)`` of the frames.
        samples: MSAA samples for the foreground; default from settings (4), clamped to the
            driver's maximum.
        edge_aa: with one sample, smooth the foreground's silhouettes with an edge
            anti-aliasing pass (`hybridscene.gpu.edge_aa`, FXAA-style, geometric edges only:
            sprites and particles stay as drawn). It closes about half of one sample's gap to 4x
            MSAA on mesh edges; the preview takes it from ``HYBRIDSCENE_PREVIEW_EDGE_AA``.
        relief_ahead: while the camera stands at the plate's viewpoint (the plate drawn flat),
            compute the plate's relief on a worker thread all the same, so that a camera that
            starts moving finds it ready (a preview, a live session). Exports pass False when no
            frame of their camera path leaves the viewpoint
            (`hybridscene.scene.overscan.OverscanDecision.relief`): the relief is then never
            drawn, and computing it costs about a second of CPU for a 1280x720 plate.
    """

    def __init__(self, ctx: GLContext | moderngl.Context, size: tuple[int, int], *, samples: int | None = None,
                 edge_aa: bool = False, relief_ahead: bool = True) -> None:
        gl = self.gl = GLContext.wrap(ctx)
        self._wrapped = gl is not ctx  # a moderngl.Context: this renderer owns the wrapper (not the context)
        gl.make_current()
        self.size = check_size(size)
        samples = get_settings().msaa if samples is None else check_samples(samples)
        self.scene_renderer = SceneRenderer(gl)
        self.timer: StageTimer = self.scene_renderer.timer
        """Per-stage timings of this renderer's frames (`StageTimer`; off by default)."""
        self.reflection = ReflectionPass(self.scene_renderer)
        self.compositor = Compositor(gl)
        self.parallax = ParallaxRenderer(gl, depth_texture=self.scene_renderer.plate_depth_texture)
        self.foreground = ForegroundTarget(gl, self.size, samples=samples)
        self.output = OutputTarget(gl, self.size)
        self.edge_aa: EdgeAA | None = EdgeAA(gl) if edge_aa and self.foreground.samples == 1 else None
        self.relief_ahead = bool(relief_ahead)
        """Compute a plate's relief ahead of need while the camera is at its viewpoint (see above)."""
        self._aa_color: moderngl.Texture | None = None  # this frame's anti-aliased foreground
        self._plates: list[PlateLayer] = []
        self._relief: ReliefView | None = None  # the current plate's relief this frame
        self._aux: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._normals: moderngl.Texture | None = None  # the aux target's second attachment
        self._plate_depth: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._linear: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._reflection: moderngl.Texture | None = None  # this frame's reflection catcher, or None
        self._plate_key: tuple[Any, ...] | None = None  # this frame's plates (None: a relief, new every frame)
        self._gl_rows: OutputTarget | None = None  # a kept frame in GL row order, for windows
        # Per kept target (by framebuffer): the plates it was last composited with (None: whole,
        # unknown) and where that frame drew over them.
        self._kept: dict[int, tuple[tuple[Any, ...] | None, list[Rect]]] = {self.output.fbo.glo: (None, [])}
        self._keep_layers = False  # render_passes: the frame keeps its relief's layers for the passes
        self.composited: list[Rect] | None = None
        """Where the last frame was composited (GL pixels, `hybridscene.gpu.rects`): only where
        it or the frame before drew something, when the plates did not change; ``None``: the whole
        frame."""
        self.registry = Registry()
        """Node ids (``ids`` pass) and instance track ids, stable over this renderer's frames."""

    @property
    def samples(self) -> int:
        """MSAA samples of the foreground, after clamping to the driver's maximum."""
        return self.foreground.samples

    def render_to(self, scene: Scene, fbo: moderngl.Framebuffer, *, t: float | None = None,
                  top_down: bool = False) -> None:
        """Update the scene to time ``t`` (when given), draw it and composite into ``fbo``
        (``top_down`` as for `Compositor.compose`)."""
        self.gl.make_current()
        if t is not None:
            scene.update(t)
        timer = self.timer
        if self._plate_only(scene, fbo, top_down):
            return
        with timer.stage("plate"):
            self._plates = self._plate_layers(scene)
        depth = self._relief.inverse_depth if self._relief is not None else None
        fg = self.foreground
        self.scene_renderer.render(scene, fg, plate_depth=depth)
        self._aa_color = None
        if self.edge_aa is not None and fg.rects:
            with timer.stage("edge aa"):
                self._aa_color = self.edge_aa.run(fg.color, fg.rects, depth=fg.depth)
        with timer.stage("reflection"):
            self._reflection = self.reflection.render(scene, self.size) if scene.reflections is not None else None
        # Into a target this renderer keeps, when the plates are as they were there last frame,
        # only where this frame or the last one drew something changes: the rest is the plate.
        # Another framebuffer of the frame's size (a window) gets such a kept frame copied in.
        drawn = merge([*fg.rects, *fg.shadow_rects, self.reflection.frame_rect if self._reflection else None])
        key = (self._plate_key, top_down) if self._plate_key is not None else None
        target = fbo
        if fbo is not self.output.fbo and key is not None and tuple(fbo.size) == self.size and _blittable(fbo):
            target = self._mirror(top_down)
        rects = None
        kept = self._kept.get(target.glo)
        if kept is not None:
            if key is not None and key == kept[0]:
                rects = merge([*kept[1], *drawn])
            self._kept[target.glo] = (key, drawn)
        self.composited = rects
        with timer.stage("composite"):
            self.compositor.compose([*self._plates, self._foreground_layer()], target, top_down=top_down, rects=rects)
            if target is not fbo:
                self.gl.mgl.copy_framebuffer(fbo, target)
                fbo.use()  # left bound, as after composing into it (a window draws its overlay next)

    def _plate_only(self, scene: Scene, fbo: moderngl.Framebuffer, top_down: bool) -> bool:
        """A frame with nothing over a relief (no mesh, sprite or emitter in the scene, no
        cross-fade) is drawn straight into the frame (`ParallaxRenderer.render_direct`),
        without the relief's float layer and the compositor. Into a framebuffer this renderer
        does not own, through the kept frame in its row order and a copy. Returns whether it
        was (the frame is then done)."""
        plate = scene.plate
        if self._keep_layers or plate is None or scene.plate_blend()[1] < 1.0 \
                or not uses_parallax(scene.parallax, plate, scene.camera):
            return False
        if fbo is not self.output.fbo and (tuple(fbo.size) != self.size or not _blittable(fbo)):
            return False
        if any(n.mesh is not None or n.sprite is not None or n.particles is not None for n, _ in scene.visible_nodes()):
            return False
        output = self.output if fbo is self.output.fbo else None
        target = self.output.fbo if output is not None else self._mirror(top_down)
        with self.timer.stage("plate"):
            layer = self.compositor.plate_layer(plate, scene.camera, self.size, background=scene.background)
            self.compositor.fit_filter(dataclasses.replace(layer, texture=self.parallax.backdrop(plate)), self.size)
            self.parallax.render_direct(plate, layer.texture, scene.camera, target.color_attachments[0],  # type: ignore[arg-type]
                                        layer.mapping, top_down=top_down)
        self._plates, self._relief, self._plate_key, self._reflection = [], None, None, None
        self._kept[target.glo] = (None, [])  # composited whole, under no foreground
        self.composited = None
        if target is not fbo:
            self.gl.mgl.copy_framebuffer(fbo, target)
        fbo.use()  # (the caller's framebuffer stays bound, as after a composited frame)
        return True

    def _mirror(self, top_down: bool) -> moderngl.Framebuffer:
        """A kept frame in ``top_down`` row order for framebuffers this renderer does not own
        (made on first use; the output itself stores the top row first)."""
        if top_down:
            return self.output.fbo
        if self._gl_rows is None:
            self._gl_rows = OutputTarget(self.gl, self.size)
            self._kept[self._gl_rows.fbo.glo] = (None, [])
        return self._gl_rows.fbo

    def _foreground_layer(self) -> ForegroundLayer:
        """This frame's foreground, its shadows and its reflection, as the compositor takes them."""
        fg = self.foreground
        color = (self._aa_color if self._aa_color is not None else fg.color) if fg.rects else None
        return ForegroundLayer(color, fg.shadow if fg.has_shadow else None, self._reflection)

    def _plate_layers(self, scene: Scene) -> list[PlateLayer]:
        """The plates on screen, back to front: the one fading out (when a cross-fade runs),
        then the current one; each drawn as a relief when the camera has moved."""
        previous, weight = scene.plate_blend()
        slots = [(scene.plate, 0, weight)]
        if previous is not None and weight < 1.0:
            slots.insert(0, (previous, 1, 1.0))
        layers = []
        self._relief = None
        key: list[Any] = []  # what the plates' pixels depend on (None: they change every frame)
        for plate, slot, opacity in slots:
            layer = self.compositor.plate_layer(plate, scene.camera, self.size, background=scene.background,
                                                opacity=opacity)
            if plate is not None and uses_parallax(scene.parallax, plate, scene.camera):
                # The backdrop goes under the relief there (sampled as the compositor would), so the
                # compositor reads the relief alone.
                self.compositor.fit_filter(dataclasses.replace(layer, texture=self.parallax.backdrop(plate)), self.size)
                view = self.parallax.render(plate, layer.texture, scene.camera, self.size, slot=slot,  # type: ignore[arg-type]
                                            fill=layer.mapping)
                layer = dataclasses.replace(layer, texture=view.backdrop, relief=view.color, opaque=view.opaque)
                if slot == 0:
                    self._relief = view
                key = None  # type: ignore[assignment]
            elif slot == 0 and plate is not None and self.relief_ahead and scene.parallax is not False \
                    and uses_parallax(True, plate, scene.camera):
                self.parallax.prefetch(plate)  # at rest now, but the camera may move: be ready by then
            layers.append(layer)
            if key is not None:
                key.append((plate if plate is not None else scene.background, layer.mapping.tobytes(), opacity,
                            layer.projection, layer.lens))
        self._plate_key = tuple(key) if key is not None else None
        return layers

    def render_frame(self, scene: Scene, t: float | None = None) -> np.ndarray:
        """``(H, W, 3) uint8`` sRGB frame, top row first, at scene time ``t`` seconds."""
        self.render_to(scene, self.output.fbo, t=t, top_down=True)
        with self.timer.stage("read-back"):
            return self.output.read()

    def render_passes(self, scene: Scene, t: float | None = None, *, passes: Any = None, dt: float = 1 / 30,
                      labels: bool = False) -> FramePasses:
        """Render a frame and the chosen render passes, each read back from what the GPU
        computed for the frame (see `hybridscene.compose.passes` for the arrays).

        Args:
            passes: pass names (a list, ``"all"`` or comma-separated; default
                `DEFAULT_PASSES`; ``()`` for none: the frame, and labels when asked); only these
                are rendered and read back.
            dt: seconds to the next frame (``1 / fps``), for ``flow``: the scene is posed at
                ``t + dt`` and back (`Scene.pose_at`).
            labels: also count each instance's visible, unoccluded and plate-hidden pixels
                (``FramePasses.instances``; two extra single-sample draws per instance); the
                ``ids`` pass comes with them.
        """
        chosen = () if isinstance(passes, (tuple, list)) and not passes else check_passes(passes)
        # Flow looks one frame ahead first; the frame's own update then poses the scene at t, so
        # the frame and every pass see it as they would without flow.
        peek = look_ahead(scene, float(t) + dt, self.size) if "flow" in chosen and t is not None else None
        self._keep_layers = True
        try:
            frame = self.render_frame(scene, t)
        finally:
            self._keep_layers = False
        if "flow" in chosen and t is None:  # no update to come back with: pose it back here
            peek = look_ahead(scene, scene.time + dt, self.size)
            scene.pose_at(scene.time)
        t = scene.time if t is None else float(t)
        fg = self.foreground
        out: dict[str, np.ndarray] = {}
        cam = camera_info(scene.camera, self.size)
        # 1. Colour: the composite and the plate again in linear light into a float target.
        if "composite" in chosen or "plate" in chosen:
            tex, fbo = self._linear = self._linear or self._float_target(4)
            if "composite" in chosen:
                self.compositor.compose([*self._plates, self._foreground_layer()], fbo, top_down=True, linear=True)
                out["composite"] = np.ascontiguousarray(read_pixels(tex)[..., :3])
            if "plate" in chosen:  # with the reflection, so the composite is fg over (plate x shadow)
                mirrored = [ForegroundLayer(None, reflection=self._reflection)] \
                    if self._reflection is not None else []
                self.compositor.compose([*self._plates, *mirrored], fbo, top_down=True, linear=True)
                out["plate"] = np.ascontiguousarray(read_pixels(tex)[..., :3])
        if "foreground" in chosen:  # as composited (anti-aliased, with edge_aa)
            out["foreground"] = read_pixels(self._aa_color, gl_rows=True).astype(np.float32) \
                if self._aa_color is not None else fg.read_premultiplied()
        if "shadow" in chosen and fg.has_shadow:
            out["shadow"] = 1.0 - fg.read_shadow().astype(np.float32) / 255.0
        # 2. The plate's depth as the occlusion test saw it (the same shader function).
        screen_depth = self._relief.inverse_depth if self._relief is not None else None
        has_depth = scene.plate is not None and scene.plate.depth is not None
        plate_depth = None
        if has_depth and ("plate_depth" in chosen or "flow" in chosen):
            pd_tex, pd_fbo = self._plate_depth = self._plate_depth or self._float_target(1)
            self.scene_renderer.render_plate_depth(scene, pd_fbo, plate_depth=screen_depth)
            plate_depth = np.array(read_pixels(pd_tex, gl_rows=True))
            if "plate_depth" in chosen:
                out["plate_depth"] = plate_depth
        # 3. Data of the nearest foreground surface: depth, id, flow, normal (one draw, two targets).
        instances = None
        if labels or {"depth", "ids", "normals", "flow"} & set(chosen):
            self.registry.register(scene)
            drawn = [n for n, _ in scene.visible_nodes() if n.mesh is not None or n.sprite is not None or n.particles is not None]
            ids = {id(n): self.registry.node_id(n) for n in drawn}
            nxt = next_frame(scene, peek, t, dt) if peek is not None else None
            aux_tex, aux_fbo = self._aux = self._aux or self._aux_target()
            self.scene_renderer.render_aux(scene, aux_fbo, ids, plate_depth=screen_depth,
                                           next_frame=nxt)
            aux = read_pixels(aux_tex, gl_rows=True)
            ids_img = np.round(aux[..., 1]).astype(np.uint32)
            empty = ids_img == 0
            if "ids" in chosen or labels:
                out["ids"] = ids_img
            if "depth" in chosen:
                out["depth"] = np.where(empty, np.inf, aux[..., 0]).astype(np.float32)
            if "normals" in chosen:
                assert self._normals is not None
                normals = read_pixels(self._normals, gl_rows=True)[..., :3].astype(np.float32)
                normals[empty] = 0.0
                out["normals"] = normals
            if peek is not None:
                plate = scene.plate
                if plate is None or plate.camera is None or not isinstance(scene.camera, PerspectiveCamera):
                    flow = np.zeros(empty.shape + (2,), np.float32)  # fitted to the frame: it stays put
                else:  # seen through its own camera: at its depth when drawn as a relief, else at infinity
                    flow = background_flow(cam, peek.camera, plate_depth if scene.parallax is not False else None)
                flow[~empty] = aux[..., 2:4][~empty]
                out["flow"] = flow
            if labels:
                instances = self._count_instances(scene, ids, ids_img, screen_depth)
        return FramePasses(time=t, frame=np.array(frame), passes=out, names=dict(self.registry.names), camera=cam,
                           instances=instances)

    def _count_instances(self, scene: Scene, ids: dict[int, int], ids_img: np.ndarray,
                         screen_depth: moderngl.Texture | None) -> tuple[InstanceInfo, ...]:
        """Per instance: visible pixels (from the ``ids`` pass), and two draws of it alone,
        without and with the plate's occlusion (amodal pixels, and those the plate hides)."""
        assert self._aux is not None
        _, fbo = self._aux
        occludes = scene.occlusion and scene.plate is not None and scene.plate.depth is not None
        per_id = np.bincount(ids_img.ravel())  # visible pixels of every node id, in one pass
        out = []
        for inst in instances_of(scene):
            only = {id(n) for n, _ in inst.members}
            node_ids = tuple(sorted(ids[i] for i in only))
            counts = []
            for occlusion in ((False, True) if occludes else (False,)):
                self.scene_renderer.render_aux(scene, fbo, ids, plate_depth=screen_depth, only=only, occlusion=occlusion)
                counts.append(int(np.count_nonzero(read_pixels(fbo, components=1, dtype="f4") > 0)))
            amodal = counts[0]
            hidden = amodal - counts[1] if occludes else 0
            track = self.registry.track_id(inst.root)
            bbox = inst.bbox_local()
            world = np.asarray(inst.root_world, np.float64)
            corners = None
            if bbox is not None:
                corners = (box_corners(bbox[0], bbox[1]) @ world.T)[:, :3]
            out.append(InstanceInfo(
                track_id=track, name=inst.root.name or f"instance-{track}",
                category=inst.category, node_ids=node_ids, world=world, bbox_local=bbox, bbox_world=corners,
                visible_pixels=int(sum(per_id[i] for i in node_ids if i < len(per_id))), amodal_pixels=amodal,
                hidden_by_plate=max(hidden, 0)))
        return tuple(out)

    def render_layers(self, scene: Scene, t: float | None = None) -> FrameLayers:
        """Render a frame and its 8-bit layers (see [`FrameLayers`][hybridscene.FrameLayers]);
        `render_passes` gives the same in floating point, and more passes."""
        fp = self.render_passes(scene, t, passes=("plate", "plate_depth", "foreground", "depth", "ids", "shadow"))
        p = fp.passes
        plate_img = srgb8(p["plate"])
        fg_rgba = straight_srgba8(p["foreground"])
        shadow = np.round(p["shadow"] * 255).astype(np.uint8) if "shadow" in p else None
        ids = np.minimum(p["ids"], 65535).astype(np.uint16)
        names = {i: n for i, n in fp.names.items() if i <= 65535}
        return FrameLayers(fp.frame, plate_img, p.get("plate_depth"), fg_rgba, p["depth"], ids, shadow, names)

    def _aux_target(self) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        """RGBA32F (depth, id, flow) and RGBA16F normals, with a depth buffer; single sample."""
        ctx = self.gl.mgl
        tex = ctx.texture(self.size, 4, dtype="f4")
        self._normals = ctx.texture(self.size, 4, dtype="f2")
        return tex, ctx.framebuffer([tex, self._normals], ctx.depth_renderbuffer(self.size))

    def _float_target(self, components: int, *, depth: bool = False) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        ctx = self.gl.mgl
        tex = ctx.texture(self.size, components, dtype="f4")
        return tex, ctx.framebuffer([tex], ctx.depth_renderbuffer(self.size) if depth else None)

    def release(self) -> None:
        """Free every GPU resource this renderer made (not the context)."""
        self.gl.make_current()
        for target in (self._aux, self._plate_depth, self._linear):
            if target is not None:
                tex, fbo = target
                self.gl.unbind([fbo])
                attachments = [fbo.depth_attachment, *fbo.color_attachments]
                fbo.release()
                for attachment in attachments:
                    if attachment is not None:
                        attachment.release()
        self._aux = self._plate_depth = self._linear = None
        self._normals = None
        self.output.release()
        if self.edge_aa is not None:
            self.edge_aa.release()
            self.edge_aa = None
        self._aa_color = None
        if self._gl_rows is not None:
            self._gl_rows.release()
            self._gl_rows = None
        self._kept.clear()
        self.foreground.release()
        self.parallax.release()
        self.compositor.release()
        self.reflection.release()
        self._reflection = None
        self.scene_renderer.release()
        if self._wrapped:
            self.gl.release()  # the programs compiled here; the moderngl.Context stays the caller's

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _blittable(fbo: moderngl.Framebuffer) -> bool:
    """Whether a kept frame can be copied into ``fbo`` (``glBlitFramebuffer``): a window's
    default framebuffer, or one 8-bit single-sample colour attachment."""
    if fbo.glo == 0:
        return True
    attachments = fbo.color_attachments
    return len(attachments) == 1 and getattr(attachments[0], "samples", 0) == 0 and attachments[0].dtype == "f1"
