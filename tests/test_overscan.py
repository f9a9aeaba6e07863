"""Covering the camera's path: a camera that sways over a plate never sees past its edges
(a larger procedural plate, or a zoom), and the decision is the same in every shard."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

import hybridscene as hs
from hybridscene.export.driver import plan_render
from hybridscene.scene.coverage import camera_path, path_times, plate_coverage
from hybridscene.scene.overscan import cover_camera_path, render_times

SIZE = (320, 180)
SWAY = 1.5  # metres to each side
SIDES = ("left", "right", "bottom")  # the edges that show land (the top one shows smooth sky)


def stretched_lines(frame: np.ndarray, side: str, *, level: int = 1, min_run: int = 8, after: int = 8) -> np.ndarray:
    """Per line of pixels across ``side`` of the frame (rows for left/right, columns for
    top/bottom): whether it starts with a smear, i.e. at least ``min_run`` pixels from the edge
    each within ``level`` of the next one inward, after which the image has texture (most of the
    next ``after`` steps are larger): the edge pixels stretched up to where the plate begins.
    Meant for edges that show textured land (grass), where natural runs of near-identical
    pixels are short; smooth regions (sky, water) look stretched to it too."""
    f = np.asarray(frame, np.int16)
    g = {"left": f, "right": f[:, ::-1], "top": f.transpose(1, 0, 2), "bottom": f[::-1].transpose(1, 0, 2)}[side]
    step = np.abs(np.diff(g, axis=1)).max(-1)  # (lines, n - 1): pixel k to pixel k + 1 from the edge
    same = step <= level
    run = np.argmin(np.concatenate([same, np.zeros((len(same), 1), bool)], 1), 1)
    idx = np.clip(run[:, None] + np.arange(after), 0, step.shape[1] - 1)
    textured = (np.take_along_axis(step, idx, 1) > level).mean(1) >= 0.5
    return (run >= min_run) & textured


def smeared_band(frame: np.ndarray, side: str) -> int:
    """The longest band of consecutive stretched lines on ``side``, counted over the land near
    the camera (the lower 40 % of the rows for left/right; the whole bottom edge)."""
    lines = stretched_lines(frame, side)
    if side in ("left", "right"):
        lines = lines[int(0.6 * frame.shape[0]):]
    best = run = 0
    for hit in lines:
        run = run + 1 if hit else 0
        best = max(best, run)
    return best


def swaying(plate: hs.Plate, overscan: str) -> hs.Scene:
    """The plate's camera sways 1.5 m to each side (keyframed, looking at a point 40 m ahead):
    at t = 0 it is 1.5 m left, at t = 1 1.5 m right."""
    scene = hs.Scene(plate, shadows=False, reflections=False, overscan=overscan)
    h = plate.camera.height
    left, right = (-SWAY, h, 0.0), (SWAY, h, 0.0)
    scene.animate(scene.camera, "position", [(0.0, left), (1.0, right), (2.0, left)], easing="sine-in-out")
    scene.camera.target = (0.0, h, -40.0)
    return scene


@pytest.fixture(scope="module")
def plate():
    p = hs.procedural_plate(size=SIZE, seed=1)  # ground 7.8 m out at the bottom row
    assert 7.5 < float(p.depth[-1, SIZE[0] // 2]) < 8.1
    return p


def sway_frames(scene: hs.Scene, ctx) -> list[np.ndarray]:
    """Frames at the sway's extremes (t = 0 and 1), rendered by the export's own loop."""
    return list(hs.frames(scene, frames=2, fps=1.0, size=SIZE, ctx=ctx, samples=1))


@pytest.mark.gl
def test_a_sway_past_the_plate_smears_without_overscan_and_not_with_it(plate, ctx, caplog):
    caplog.set_level(logging.INFO, logger="hybridscene.scene.overscan")
    off = sway_frames(swaying(plate, "off"), ctx)
    assert "overscan='off': the camera path sees past the plate" in caplog.text
    # At t = 0 the camera is 1.5 m left: the left edge is stretched; at t = 1, the right one.
    bands = [smeared_band(off[0], "left"), smeared_band(off[1], "right")]
    assert min(bands) >= 15, f"the detector should see the stretched edge pixels: {bands}"

    caplog.clear()
    scene = swaying(plate, "auto")
    auto = sway_frames(scene, ctx)
    assert "plate repainted with overscan" in caplog.text and "to cover the camera path" in caplog.text
    assert scene.plate is not plate and scene.plate.size[0] > plate.size[0]
    for frame in auto:
        bands = {s: smeared_band(frame, s) for s in SIDES}
        assert max(bands.values()) < 6, f"stretched edge lines with overscan='auto': {bands}"
    # Away from the edges, the far view (sky and mountains: little parallax) is the same in both.
    diff = np.abs(auto[0][8:40, 40:-40].astype(int) - off[0][8:40, 40:-40].astype(int)).max(-1)
    assert (diff > 3).mean() < 0.01


def test_a_repainted_plate_is_the_same_world_with_margins(plate):
    big = hs.procedural_plate(size=SIZE, seed=1, overscan=(24, 8, 24, 32))
    assert big.size == (SIZE[0] + 48, SIZE[1] + 40)
    assert big.meta["overscan"] == {"margins": [24, 8, 24, 32], "size": list(SIZE), "fov_y": 50.0, "horizon": 0.45}
    # The same focal length and axis: the original's pixels sit at (24, 8) in the larger plate.
    f = (SIZE[1] / 2) / np.tan(np.radians(plate.camera.fov_y) / 2)
    f_big = (big.size[1] / 2) / np.tan(np.radians(big.camera.fov_y) / 2)
    assert f_big == pytest.approx(f, rel=1e-9)
    assert big.camera.horizon * big.size[1] == pytest.approx(plate.camera.horizon * SIZE[1] + 8)
    inner = big.image[8:8 + SIZE[1], 24:24 + SIZE[0]]
    np.testing.assert_array_equal(inner[:, 1:-1], plate.image[:, 1:-1])  # edge columns: shading slopes
    np.testing.assert_array_equal(big.depth[8:8 + SIZE[1], 24:24 + SIZE[0]], plate.depth)
    with pytest.raises(hs.ConfigError, match="left == right"):
        hs.procedural_plate(size=SIZE, seed=1, overscan=(8, 0, 16, 0))


@pytest.mark.gl
def test_a_static_camera_needs_no_overscan_and_draws_as_before(plate, ctx, caplog):
    caplog.set_level(logging.INFO, logger="hybridscene.scene.overscan")
    scene = hs.Scene(plate, shadows=False)
    cov = plate_coverage(plate, camera_path(scene, [0.0, 1.0]), SIZE, parallax=scene.parallax)
    np.testing.assert_allclose(cov.rect, (0.0, 0.0, 1.0, 1.0), atol=1e-6)
    assert cov.margins == (0, 0, 0, 0) and cov.covered
    decision = cover_camera_path(scene, SIZE, [0.0, 4.0])
    assert decision.action == "none" and scene.plate is plate and scene.camera.zoom == 1.0
    assert caplog.text == ""
    (exported,) = hs.frames(scene, frames=1, size=SIZE, ctx=ctx, samples=1)
    with hs.FrameRenderer(ctx, SIZE, samples=1) as r:
        np.testing.assert_array_equal(exported, r.render_frame(hs.Scene(plate, shadows=False), 0.0))


def array_plate() -> hs.Plate:
    """A plate that cannot be painted again: random texture on the ground plane (exact depths
    for a level camera 4 m up, fov 50, horizon at 0.45), a bluer textured sky above."""
    w, h = SIZE
    rng = np.random.default_rng(3)
    image = rng.integers(40, 200, (h, w, 3), dtype=np.uint8)
    cy = 0.45 * h
    f = (h / 2) / np.tan(np.radians(50.0) / 2)
    rows = np.arange(h) + 0.5
    depth = np.where(rows > cy + 0.5, f * 4.0 / np.maximum(rows - cy, 1e-6), np.inf)[:, None].repeat(w, 1)
    sky = rows <= cy + 0.5
    image[sky] = image[sky] // 4 + np.array([120, 150, 190], np.uint8)  # textured too, bluer
    return hs.Plate(image=image, depth=depth.astype(np.float32), camera=hs.PlateCamera(fov_y=50.0, height=4.0, horizon=0.45))


@pytest.mark.gl
def test_a_plate_that_cannot_be_repainted_is_zoomed_just_enough(ctx, caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="hybridscene.scene.overscan")
    plate = array_plate()
    scene = swaying(plate, "auto")
    decision = cover_camera_path(scene, SIZE, [0.0, 2.0])
    assert decision.action == "zoom" and scene.plate is plate
    assert 1.05 < decision.zoom < 2.0 and scene.camera.zoom == pytest.approx(decision.zoom)
    assert f"zoomed in x{decision.zoom:.3f} to keep every frame covered" in caplog.text
    assert "paint" in caplog.text  # says how to avoid it
    cameras = camera_path(scene, path_times(scene, [0.0, 2.0]))
    assert plate_coverage(plate, cameras, SIZE).covered
    # Just enough: 3 % less zoom leaves some frame uncovered.
    assert not plate_coverage(plate, cameras, SIZE, zoom=0.97).covered
    # hs.render decides the same before its first frame, in a shard too (here: the sway's right end).
    caplog.clear()
    fresh = swaying(plate, "auto")
    hs.render(fresh, f"{tmp_path}/frames/", frames=2, fps=1.0, size=SIZE, shard=(1, 2), ctx=ctx, samples=1)
    assert fresh.camera.zoom == decision.zoom and caplog.text.count("zoomed in") == 1
    (png,) = sorted((tmp_path / "frames").glob("*.png"))
    frame = np.asarray(Image.open(png).convert("RGB"))
    bands = {s: smeared_band(frame, s) for s in SIDES}
    assert max(bands.values()) < 6, bands
    caplog.clear()
    (again,) = hs.frames(fresh, frames=range(1, 2), fps=1.0, size=SIZE, ctx=ctx, samples=1)  # already covered
    assert caplog.text == "" and fresh.camera.zoom == decision.zoom
    np.testing.assert_array_equal(again, frame)


def test_every_shard_and_every_range_inside_the_keys_decides_the_same(plate, tmp_path):
    images, margins = [], set()
    plans = [plan_render(None, f"{tmp_path}/out/", frames=60, fps=30.0, shard=(k, 4), default_size=SIZE)[0]
             for k in range(4)]
    assert len({tuple(render_times(p)) for p in plans}) == 1  # the whole render's span in every shard
    ranges = [render_times(p) for p in plans] + [[0.5, 0.9], [1.2, 1.4]]  # frame ranges inside the keys
    for times in ranges:
        scene = swaying(plate, "auto")
        decision = cover_camera_path(scene, SIZE, times)
        margins.add(decision.margins)
        images.append(scene.plate.image)
    assert len(margins) == 1 and next(iter(margins))[0] > 0
    assert all(np.array_equal(images[0], im) for im in images[1:])
    zooms = set()
    for times in ranges:
        scene = swaying(array_plate(), "zoom")
        zooms.add(cover_camera_path(scene, SIZE, times).zoom)
    assert len(zooms) == 1 and next(iter(zooms)) > 1.0


def test_overscan_is_checked_and_zoom_scales_the_projection():
    with pytest.raises(hs.SceneError, match="overscan must be one of 'auto', 'zoom', 'off'"):
        hs.Scene(overscan="yes")
    cam = hs.PerspectiveCamera(fov_y=40.0, shift=(0.0, 0.2))
    p1 = cam.projection_matrix(16 / 9)
    cam.zoom = 1.25
    p2 = cam.projection_matrix(16 / 9)
    np.testing.assert_allclose(p2[:2, :3], 1.25 * p1[:2, :3], rtol=1e-6)
    np.testing.assert_array_equal(p2[2:], p1[2:])
    with pytest.raises(hs.HybridSceneError, match="zoom"):
        cam.zoom = 0.0


def test_the_path_follows_camera_keys_and_callbacks(plate):
    scene = swaying(plate, "auto")
    node = scene.add(hs.Node(position=(0, 0, -5)))
    scene.animate(node, "position", [(0.0, (0, 0, -5)), (30.0, (1, 0, -5))])  # not a camera: not followed
    keyed = path_times(scene, [0.0, 0.5])
    assert keyed == path_times(scene, [5.0, 9.0]) and keyed[0] == 0.0 and keyed[-1] == 2.0 and len(keyed) >= 48
    assert path_times(hs.Scene(plate), [0.0, 4.0]) == [0.0]  # nothing moves the camera: one pose
    moved = hs.Scene(plate, shadows=False)
    moved.on_frame(lambda t: setattr(moved.camera, "position", (0.1 * t, 4.0, 0.0)))
    times = path_times(moved, [0.0, 4.0])  # callbacks may move it any way: the render's span
    assert times[0] == 0.0 and times[-1] == 4.0
    cameras = camera_path(moved, times)
    assert len(cameras) == len(times) and cameras[-1].position[0] == pytest.approx(0.4)
    assert moved.camera.position[0] == 0.0  # posed back at its own time


def test_the_preview_covers_each_plate_it_shows_once(plate, caplog):
    from types import SimpleNamespace

    from hybridscene.live.app import PreviewApp

    caplog.set_level(logging.INFO, logger="hybridscene.scene.overscan")
    app = SimpleNamespace(scene=swaying(plate, "auto"), size=SIZE, _covered=None)
    PreviewApp._cover(app)
    assert app.scene.plate is not plate and app._covered is app.scene.plate
    assert caplog.text.count("plate repainted with overscan") == 1
    PreviewApp._cover(app)  # every frame: nothing more to do
    assert caplog.text.count("plate repainted") == 1


@pytest.mark.gl
def test_a_render_computes_the_relief_only_when_a_frame_draws_one(plate, ctx, monkeypatch, tmp_path):
    import hybridscene.gpu.parallax as parallax

    computed: list[hs.Plate] = []  # reliefs computed or read from the cache
    real = parallax.cached_relief
    monkeypatch.setattr(parallax, "cached_relief", lambda p, **kw: computed.append(p) or real(p, **kw))
    h = plate.camera.height
    still = hs.Scene(plate, shadows=False)
    assert cover_camera_path(still, SIZE, [0.0, 1.0]).relief is False
    hs.render(still, tmp_path / "still.mp4", frames=3, fps=30, size=SIZE, ctx=ctx, samples=1, progress=False)
    list(hs.frames(still, frames=2, size=SIZE, ctx=ctx, samples=1))
    assert computed == []  # the camera never leaves the plate's viewpoint: no relief is drawn, none computed
    with hs.FrameRenderer(ctx, SIZE, samples=1) as r:  # a preview's: computed ahead, for a camera that may move
        r.render_frame(still, 0.0)
        r.parallax.prefetch(plate).result(timeout=60)
    assert computed == [plate]

    assert cover_camera_path(hs.Scene(plate, shadows=False, parallax=True), SIZE, [0.0, 1.0]).relief is True
    moving = hs.Scene(plate, shadows=False, overscan="off")
    moving.on_frame(lambda t: setattr(moving.camera, "position", (0.0 if t < 0.5 else 0.3, h, 0.0)))
    assert cover_camera_path(moving, SIZE, [0.0, 1.0]).relief is True
    flat = hs.Scene(plate, shadows=False, parallax=False, overscan="off")
    flat.on_frame(lambda t: setattr(flat.camera, "position", (0.3 * t, h, 0.0)))
    assert cover_camera_path(flat, SIZE, [0.0, 1.0]).relief is False

    def broken(t: float) -> None:
        if t > 0.5:
            raise RuntimeError("no camera here")

    unknown = hs.Scene(plate, shadows=False)
    unknown.on_frame(broken)
    assert cover_camera_path(unknown, SIZE, [0.0, 1.0]).relief is True  # the path cannot be followed: assume it

    # Without the relief ahead, a camera that starts moving gets it when it first needs it: the same frames.
    frames = {}
    for ahead in (True, False):
        with hs.FrameRenderer(ctx, SIZE, samples=1, relief_ahead=ahead) as r:
            frames[ahead] = [r.render_frame(moving, t) for t in (0.0, 1.0)]
    for a, b in zip(frames[True], frames[False]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(frames[False][0], frames[False][1])  # the camera did move
