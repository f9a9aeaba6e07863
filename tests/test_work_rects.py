"""Work only where the foreground is: each frame clears, resolves and composites only the
rectangles on screen that it or the last frame drew in, and its pixels equal a frame composited
whole."""

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.gpu import rects

SIZE = (160, 96)


def moving_scene(plate=None):
    """A plate with depth and water (shadows and reflections), a ball crossing it and leaving the
    frame, a sprite, and an emitter that starts emitting at t = 0.5."""
    plate = plate if plate is not None else hs.background_plate(SIZE, seed=5)
    scene = hs.Scene(plate, shadows=hs.ShadowCatcher(strength=0.6, softness=0.3))
    ball = scene.add(hs.Mesh.sphere(0.5, color="#dd3322", metallic=0.5, roughness=0.3), position=(-1.5, 0.8, -8.0))
    scene.animate(ball, "position", [(0.0, (-1.5, 0.8, -8.0)), (1.0, (1.0, 1.0, -8.0)), (2.0, (30.0, 1.0, -8.0))])
    dot = np.zeros((8, 8, 4), np.uint8)
    dot[2:6, 2:6] = (250, 240, 200, 255)
    sprite = scene.add(hs.Sprite(dot, size=(0.4, 0.4)), position=(0.5, 3.0, -9.0))
    scene.animate(sprite, "position", [(0.0, (0.5, 3.0, -9.0)), (2.0, (-0.5, 3.4, -9.0))])
    scene.add(hs.ParticleEmitter(rate=30, lifetime=1.0, velocity=(0.0, 0.5, 0.0), size=0.1, seed=2, start=0.5),
              position=(2.0, 1.0, -7.0))
    return scene


@pytest.mark.gl
def test_incremental_frames_equal_frames_composited_whole(ctx):
    times = [0.0, 0.2, 0.45, 0.7, 1.0, 1.3, 1.6, 2.0, 2.1]
    scene, reference = moving_scene(), moving_scene()
    with hs.FrameRenderer(ctx, SIZE) as r, hs.FrameRenderer(ctx, SIZE) as whole:
        partial = 0
        for t in times:
            frame = r.render_frame(scene, t)
            if r.composited is not None:
                partial += 1
                assert rects.area(r.composited) < SIZE[0] * SIZE[1]
            whole.output.fbo.clear(1.0, 0.0, 1.0, 1.0)  # nothing kept: composited whole every time
            whole._kept[whole.output.fbo.glo] = (None, [])
            expected = whole.render_frame(reference, t)
            assert whole.composited is None
            assert np.array_equal(frame, expected), f"t={t}: {np.abs(frame.astype(int) - expected).max()} levels off"
        assert partial == len(times) - 1  # every frame after the first composited only its rectangles


@pytest.mark.gl
def test_a_window_gets_the_kept_frame_copied_in(ctx):
    """A framebuffer the renderer does not own (a window's, GL row order) gets a frame kept in
    GL row order, composited only where things changed, then copied: the same pixels."""
    window = ctx.mgl.framebuffer([ctx.mgl.texture(SIZE, 4)])
    scene, reference = moving_scene(), moving_scene()
    with hs.FrameRenderer(ctx, SIZE) as r, hs.FrameRenderer(ctx, SIZE) as whole:
        for i, t in enumerate((0.0, 0.3, 0.6, 1.5)):
            window.clear(0.0, 1.0, 0.0, 1.0)  # a swapped back buffer holds anything
            r.render_to(scene, window, t=t, top_down=False)
            assert (r.composited is None) == (i == 0)
            got = np.frombuffer(window.read(components=3, alignment=1), np.uint8).reshape(SIZE[1], SIZE[0], 3)[::-1]
            assert np.array_equal(got, whole.render_frame(reference, t))
            # What is drawn next goes into the window (an overlay), never into the kept frame.
            r.render_to(scene, window, t=t, top_down=False)
            ctx.mgl.clear(1.0, 0.0, 1.0, 1.0, viewport=(0, 0, 40, 20))
    ctx.unbind([window])
    window.color_attachments[0].release()
    window.release()


@pytest.mark.gl
def test_what_left_the_frame_leaves_no_trace(ctx):
    scene = moving_scene()
    empty = hs.Scene(scene.plate, shadows=hs.ShadowCatcher(strength=0.6, softness=0.3))
    with hs.FrameRenderer(ctx, SIZE) as r, hs.FrameRenderer(ctx, SIZE) as plain:
        r.render_frame(scene, 1.0)
        assert r.foreground.rects and r.foreground.has_shadow
        for node in list(scene.root.children):
            node.visible = False
        frame = r.render_frame(scene, 1.0)
        assert r.foreground.rects == [] and r.foreground.shadow_rects == [] and not r.foreground.has_shadow
        assert np.array_equal(frame, plain.render_frame(empty, 1.0))
        assert not r.foreground.read_premultiplied().any()  # the foreground is clear again


@pytest.mark.gl
def test_a_plate_only_frame_draws_no_foreground(ctx):
    scene = hs.Scene(hs.background_plate(SIZE, seed=1), shadows=False)
    with hs.FrameRenderer(ctx, SIZE) as r:
        first = r.render_frame(scene, 0.0)
        second = r.render_frame(scene, 0.1)
        assert r.foreground.rects == [] and r.composited == []  # nothing to redo
        assert np.array_equal(first, second)


def test_project_points_is_conservative_and_clipped():
    cam = hs.PerspectiveCamera(fov_y=60.0, position=(0, 0, 0), target=(0, 0, -1))
    vp = cam.projection_matrix(160 / 96) @ cam.view_matrix()
    box = np.array([[x, y, -5.0] for x in (-0.5, 0.5) for y in (-0.5, 0.5)])
    x, y, w, h = rects.project_points(vp, box, SIZE, margin=0)
    assert 60 <= x < 80 and 30 <= y < 48 and 80 < x + w <= 100 and 48 < y + h <= 66
    assert rects.project_points(vp, box + (50.0, 0, 0), SIZE) is None  # off to the right
    behind = np.vstack([box, [[0.0, 0.0, 1.0]]])  # a corner behind the eye: unbounded, the whole frame
    assert rects.project_points(vp, behind, SIZE) == (0, 0, *SIZE)


def test_merge_covers_every_rectangle_with_few():
    rng = np.random.default_rng(0)
    boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h in
             zip(rng.integers(0, 900, 30), rng.integers(0, 500, 30), rng.integers(1, 80, 30), rng.integers(1, 80, 30))]
    many = [(int(x), int(y), 6, 6) for x, y in zip(rng.integers(0, 40, 300) * 32, rng.integers(0, 3, 300) * 200)]
    for group in (boxes, many):  # a few, merged pairwise; many, gathered into tiles first
        merged = rects.merge(group, limit=8)
        assert 1 <= len(merged) <= 8
        for x, y, w, h in group:
            assert any(mx <= x and my <= y and x + w <= mx + mw and y + h <= my + mh for mx, my, mw, mh in merged)
    assert rects.area([(0, 0, 10, 10), (5, 5, 10, 10)]) == 175
    assert rects.merge([(0, 0, 10, 10), (2, 2, 3, 3), None]) == [(0, 0, 10, 10)]
    assert rects.flip((1, 2, 3, 4), 10) == (1, 4, 3, 4)


@pytest.mark.gl
def test_the_shadow_map_is_drawn_again_only_when_casters_or_sun_move(ctx):
    plate = hs.background_plate(SIZE, seed=5)
    scene = hs.Scene(plate, shadows=hs.ShadowCatcher(strength=0.6, softness=0.3, contact=0.0))
    ball = scene.add(hs.Mesh.sphere(0.5, color="#dd3322"), position=(0.0, 1.0, -8.0))
    with hs.FrameRenderer(ctx, SIZE) as r, hs.FrameRenderer(ctx, SIZE) as fresh:
        r.timer.enabled = True
        r.render_frame(scene, 0.0)
        still = r.render_frame(scene, 0.1)  # nothing moved: the map stands
        assert r.timer.counts()["shadow map"] == 1
        assert np.array_equal(still, fresh.render_frame(scene, 0.1))
        ball.position = (0.5, 1.0, -8.0)
        moved = r.render_frame(scene, 0.2)
        scene.sun.direction = (0.3, -1.0, -0.2)
        lit = r.render_frame(scene, 0.3)
        assert r.timer.counts()["shadow map"] == 3
        with hs.FrameRenderer(ctx, SIZE) as check:
            assert np.array_equal(lit, check.render_frame(scene, 0.3))
        assert not np.array_equal(moved, still)


@pytest.mark.gl
@pytest.mark.parametrize("samples", [1, 4])
def test_a_frame_that_fails_halfway_leaves_nothing_behind(ctx, monkeypatch, samples):
    """A frame that raises after the target's begin() (a sprite that cannot be drawn, say):
    the next frame still equals one composited whole (nothing resolved is stale, depth writes
    are on again)."""
    scene, reference = moving_scene(), moving_scene()
    with hs.FrameRenderer(ctx, SIZE, samples=samples) as r, hs.FrameRenderer(ctx, SIZE, samples=samples) as whole:
        r.render_frame(scene, 0.0)
        real = r.scene_renderer._draw_instances
        calls = {"n": 0}

        def fail_once(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 1:
                raise hs.SceneError("a sprite that cannot be drawn")
            return real(*args, **kwargs)

        monkeypatch.setattr(r.scene_renderer, "_draw_instances", fail_once)
        with pytest.raises(hs.SceneError):
            r.render_frame(scene, 1.0)  # the ball moved far: its old place must not linger
        assert r.foreground.draw_fbo.depth_mask
        frame = r.render_frame(scene, 1.3)
        assert np.array_equal(frame, whole.render_frame(reference, 1.3))
