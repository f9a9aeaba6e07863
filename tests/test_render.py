"""Pixels: the foreground, the plate, their composite in linear light, orientation, determinism."""

import numpy as np
import pytest

import hybridscene as hs
from conftest import PLATE_RGB, flat_scene, linear_to_srgb8, srgb_to_linear

pytestmark = pytest.mark.gl

SIZE = (160, 120)
ORANGE = (1.0, 0.5, 0.0)


def render(ctx, scene, size=SIZE, t=0.0, **kw):
    with hs.FrameRenderer(ctx, size, **kw) as r:
        return r.render_frame(scene, t)


def test_object_color_where_it_must_be_and_plate_elsewhere(ctx):
    scene = flat_scene()
    scene.add(hs.Mesh.cube(1.0, color=ORANGE, shading="lambert"))
    frame = render(ctx, scene)
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    # The front face looks straight at the sun's light: its colour is exactly the albedo.
    expected = linear_to_srgb8(srgb_to_linear(ORANGE))
    assert np.abs(frame[60, 80].astype(int) - expected).max() <= 1
    # The cube (1 m at 4.5 m, fov 50) spans about 28 px; everything 30 px away is plate.
    for y, x in [(5, 5), (60, 20), (60, 140), (110, 80), (10, 80)]:
        assert frame[y, x].tolist() == list(PLATE_RGB), (y, x)


def test_edge_pixels_are_antialiased_between_object_and_plate(ctx):
    scene = flat_scene()
    scene.add(hs.Mesh.cube(1.0, color=ORANGE, shading="lambert"), rotation=hs.quat_from_euler(z=17))
    with hs.FrameRenderer(ctx, SIZE) as r:
        assert r.samples == min(4, ctx.mgl.max_samples)
        frame = r.render_frame(scene, 0.0).astype(int)
    obj = linear_to_srgb8(srgb_to_linear(ORANGE))
    plate = np.array(PLATE_RGB)
    lo, hi = np.minimum(obj, plate), np.maximum(obj, plate)
    strictly_between = ((frame > lo + 2) & (frame < hi - 2)).all(axis=2)
    # A slanted edge crosses many pixels partially.
    assert strictly_between.sum() >= 20
    # And each such pixel is the linear-light blend of the two colours for some coverage a.
    ys, xs = np.nonzero(strictly_between)
    px = frame[ys[0], xs[0]]
    lin_px, lin_o, lin_p = srgb_to_linear(px / 255), srgb_to_linear(obj / 255), srgb_to_linear(plate / 255)
    a = (lin_px - lin_p) / (lin_o - lin_p)
    assert np.ptp(a) < 0.05, f"channels imply different coverages {a}: not a linear-light blend"


def test_translucent_object_blends_in_linear_light(ctx):
    scene = flat_scene()
    scene.add(hs.Mesh.cube(1.0, color=(1.0, 1.0, 1.0), opacity=0.5))
    frame = render(ctx, scene)
    plate_lin = srgb_to_linear(np.array(PLATE_RGB) / 255)
    # A blended material is two-sided and writes no depth: the back face (turned to the light
    # too) shows through the front one, each laid over in linear light.
    expected = linear_to_srgb8(0.5 * 1.0 + 0.5 * (0.5 * 1.0 + 0.5 * plate_lin))
    assert np.abs(frame[60, 80].astype(int) - expected).max() <= 1
    naive_srgb_average = np.round((np.array(PLATE_RGB) + 255) / 2)
    assert np.abs(frame[60, 80].astype(int) - naive_srgb_average).max() > 10


def test_lambert_shading_follows_the_sun_angle(ctx):
    # Sun at 60 degrees from the face normal: cos = 0.5 of the albedo, plus ambient 0.1.
    d = (0.0, -np.sin(np.radians(60)), -np.cos(np.radians(60)))
    scene = flat_scene(sun_dir=d, ambient=0.1)
    scene.add(hs.Mesh.cube(1.0, color=(0.8, 0.8, 0.8)))
    frame = render(ctx, scene)
    expected = linear_to_srgb8(srgb_to_linear(0.8) * (0.5 + 0.1))
    assert np.abs(frame[60, 80].astype(int) - expected).max() <= 1


def test_image_orientation_top_is_top_and_left_is_left(ctx):
    scene = flat_scene()
    scene.add(hs.Mesh.cube(0.4, color=(1.0, 0.0, 0.0), shading="lambert"), position=(-1.2, 0.8, 0))  # up-left
    frame = render(ctx, scene).astype(int)
    red = (frame[..., 0] > 200) & (frame[..., 2] < 50)
    ys, xs = np.nonzero(red)
    assert ys.mean() < 60 and xs.mean() < 80, "object drawn in the wrong quadrant (row flip?)"
    # Plate rows come out in order too: a plate with a red top half.
    img = np.zeros((120, 160, 3), np.uint8)
    img[:60] = (255, 0, 0)
    frame = render(ctx, flat_scene(hs.Plate(image=img)))
    assert frame[10, 80].tolist() == [255, 0, 0] and frame[110, 80].tolist() == [0, 0, 0]


def test_depth_test_hides_the_farther_object_whatever_the_order(ctx):
    for order in (0, 1):
        scene = flat_scene()
        near = hs.Mesh.cube(1.0, color=(0.0, 1.0, 0.0), shading="lambert")
        far = hs.Mesh.cube(2.0, color=(1.0, 0.0, 0.0), shading="lambert")
        items = [(near, (0, 0, 1)), (far, (0, 0, -2))]
        for mesh, pos in items[:: 1 if order else -1]:
            scene.add(mesh, position=pos)
        frame = render(ctx, scene)
        assert frame[60, 80].tolist() == [0, 255, 0]


def test_parent_transform_moves_children_on_screen(ctx):
    scene = flat_scene()
    group = scene.add(hs.Node(position=(1.5, 0, 0)))
    scene.add(hs.Mesh.cube(0.5, color=(1.0, 1.0, 1.0)), parent=group)
    frame = render(ctx, scene)
    white = (frame == 255).all(axis=2)
    assert white[:, 80:].sum() > 100 and white[:, :80].sum() == 0


def test_animation_callback_and_determinism(ctx):
    scene = flat_scene()
    cube = scene.add(hs.Mesh.cube(1.0, color=ORANGE, shading="lambert"))

    @scene.on_frame
    def move(t):
        cube.position = (2.0 * t - 1.0, 0.0, 0.0)

    a0 = render(ctx, scene, t=0.0)
    a1 = render(ctx, scene, t=1.0)
    assert not np.array_equal(a0, a1)
    ys, xs = np.nonzero((a1.astype(int) - np.array(PLATE_RGB)).any(axis=2))
    assert xs.mean() > 80  # moved right
    np.testing.assert_array_equal(render(ctx, scene, t=0.0), a0)


def test_demo_scene_is_deterministic(ctx):
    from hybridscene.demo import build_demo_scene

    frames_a = [render(ctx, build_demo_scene((192, 108), seed=3), size=(192, 108), t=t) for t in (0.0, 0.5)]
    frames_b = list(hs.frames(build_demo_scene((192, 108), seed=3), frames=2, fps=2, ctx=ctx))
    for a, b in zip(frames_a, frames_b):
        np.testing.assert_array_equal(a, b)


def test_plate_passes_through_unchanged_where_nothing_is_drawn(ctx):
    plate = hs.procedural_plate(size=SIZE, seed=5)
    frame = render(ctx, hs.Scene(plate))  # no objects at all
    assert np.abs(frame.astype(int) - plate.image.astype(int)).max() <= 1


def test_plate_is_fit_to_the_frame_by_cover(ctx):
    # A plate twice as wide as the frame's aspect: the frame shows its middle half.
    img = np.zeros((120, 320, 3), np.uint8)
    img[:, :80] = (255, 0, 0)  # left quarter: cropped away
    img[:, 80:240] = (0, 255, 0)  # middle half: visible
    frame = render(ctx, flat_scene(hs.Plate(image=img)))
    assert (frame[:, 2:-2] == [0, 255, 0]).all()


def test_no_plate_shows_the_background_color(ctx):
    scene = hs.Scene(background=(255, 0, 128))
    frame = render(ctx, scene, size=(32, 16))
    assert frame[8, 16].tolist() == [255, 0, 128]


def test_frames_validates_before_rendering():
    scene = flat_scene()
    with pytest.raises(hs.ConfigError, match="either frames or seconds"):
        next(hs.frames(scene, frames=2, seconds=1.0))
    with pytest.raises(hs.ConfigError, match="frames must be a positive integer, got 0"):
        next(hs.frames(scene, frames=0))
    with pytest.raises(hs.ConfigError, match="WIDTHxHEIGHT"):
        next(hs.frames(scene, frames=1, size="big"))


def test_plate_crossfade_blends_in_linear_light_over_scene_time(ctx):
    old = hs.Plate.solid((255, 0, 0), SIZE)
    new = hs.Plate.solid((0, 0, 255), SIZE)
    scene = hs.Scene(old)
    with hs.FrameRenderer(ctx, SIZE) as r:
        r.render_frame(scene, 1.0)
        scene.set_plate(new, crossfade=2.0)  # starts at the next frame's time
        start = r.render_frame(scene, 3.0)
        mid = r.render_frame(scene, 4.0)
        end = r.render_frame(scene, 5.0)
    assert start[5, 5].tolist() == [255, 0, 0]
    half = linear_to_srgb8(0.5)
    assert np.abs(mid[5, 5].astype(int) - [half, 0, half]).max() <= 1
    assert end[5, 5].tolist() == [0, 0, 255]
    assert scene.plate is new and scene.plate_blend() == (None, 1.0)


def test_pending_plate_future_keeps_the_placeholder_until_done(ctx):
    import concurrent.futures

    class FakeFuture:  # anything with done() and result() works
        def __init__(self):
            self.f = concurrent.futures.Future()

        def done(self):
            return self.f.done()

        def result(self, timeout=None):
            return self.f.result(timeout)

    placeholder = hs.Plate.solid((10, 200, 10), SIZE)
    scene = hs.Scene(placeholder)
    fut = FakeFuture()
    scene.set_plate(fut, crossfade=0.0)
    with hs.FrameRenderer(ctx, SIZE) as r:
        assert r.render_frame(scene, 0.0)[5, 5].tolist() == [10, 200, 10]
        assert scene.waiting_for_plate
        arrived = hs.Plate.solid((200, 10, 10), SIZE)
        fut.f.set_result(type("R", (), {"plate": arrived})())
        assert r.render_frame(scene, 0.1)[5, 5].tolist() == [200, 10, 10]
    assert not scene.waiting_for_plate


def test_orthographic_camera_keeps_sizes_regardless_of_distance(ctx):
    scene = flat_scene()
    scene.camera = hs.OrthographicCamera(height=4.0, position=(0, 0, 10), target=(0, 0, 0))
    near = scene.add(hs.Mesh.cube(1.0, color=(1.0, 0.0, 0.0), shading="unlit"), position=(-1, 0, 5))
    far = scene.add(hs.Mesh.cube(1.0, color=(0.0, 0.0, 1.0), shading="unlit"), position=(1, 0, -50))
    frame = render(ctx, scene).astype(int)
    red = (frame[..., 0] > 200) & (frame[..., 2] < 50)
    blue = (frame[..., 2] > 200) & (frame[..., 0] < 50)
    # 1 m of a 4 m high view at 120 px is 30 px: the same for both, whatever their distance.
    assert abs(red.sum() - 900) < 80 and abs(blue.sum() - 900) < 80
    assert np.nonzero(red)[1].mean() < 80 < np.nonzero(blue)[1].mean()
    assert near is not far
    with pytest.raises(hs.ConfigError, match="camera height must be a positive finite number"):
        hs.OrthographicCamera(height=0)


def test_a_renderer_keeps_working_after_another_context_was_made(ctx, tmp_path):
    """hs.render() without ctx= makes (and drops) a context of its own; a renderer on another
    context must still draw on its own, including programs it compiles only later."""
    scene = hs.Scene(hs.procedural_plate(size=(64, 36)), shadows=False)
    with hs.FrameRenderer(ctx, (64, 36)) as r:
        before = r.render_frame(scene, 0.0)
        hs.render(scene, tmp_path / "own.png", frames=1)  # creates, uses and releases its own context
        assert (r.render_frame(scene, 0.0) == before).all()
        scene.shadows = hs.ShadowCatcher()  # a composite variant compiled only now
        scene.add(hs.Mesh.cube(1.5, color="#e04020", shading="lambert"), position=(0, 1.0, -5))
        after = r.render_frame(scene, 0.0)
    assert (after != before).any(axis=2).sum() > 20


def test_a_moderngl_context_is_wrapped_without_taking_it_over(ctx):
    """A plain moderngl.Context (a window's, or one made elsewhere) works; hybridscene releases
    what it compiled on it, never the context itself."""
    import moderngl

    mgl = moderngl.create_standalone_context(backend="egl")
    try:
        scene = flat_scene()
        scene.add(hs.Mesh.cube(1.0, color=ORANGE, shading="lambert"))
        with mgl:
            with hs.FrameRenderer(mgl, SIZE, samples=1) as r:
                frame = r.render_frame(scene, 0.0)
                assert not r.gl.owned and r.gl.mgl is mgl
            assert r.gl.released and not r.gl.programs  # its programs are gone ...
            h, w = frame.shape[:2]
            assert tuple(frame[h // 2, w // 2]) != PLATE_RGB  # the cube is in the middle
            frames = list(hs.frames(scene, frames=2, size=SIZE, ctx=mgl, samples=1))
            np.testing.assert_array_equal(frames[0], frame)
            assert mgl.error == "GL_NO_ERROR"  # ... and the context still works
        with pytest.raises(hs.ConfigError, match="expected a GL context .* got str"):
            hs.FrameRenderer("not a context", SIZE)
    finally:
        mgl.release()
        ctx.make_current()


def test_waiting_for_the_gpu_lets_other_python_threads_run(ctx):
    """`GLContext.wait` waits for the queued drawing without holding the GIL (an encoder thread
    runs meanwhile), where moderngl's own finish holds it throughout."""
    import threading
    import time

    mgl = ctx.mgl
    fbo = mgl.simple_framebuffer((320, 240))
    prog = mgl.program(
        vertex_shader="#version 330\nvoid main() { vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));"
                      " gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0); }",
        fragment_shader="#version 330\nout vec4 c; void main() { float a = 0.0;"
                        " for (int i = 0; i < 3000; i++) a += sin(gl_FragCoord.x * float(i)); c = vec4(a); }")
    vao = mgl.vertex_array(prog, [])
    fbo.use()
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    def ticks_during(wait):
        vao.render(vertices=3)
        t0 = time.perf_counter()
        wait()
        t1 = time.perf_counter()
        return sum(1 for t in list(ticks) if t0 + 0.005 < t < t1 - 0.005), t1 - t0

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        time.sleep(0.02)
        held, held_s = ticks_during(mgl.finish)
        free, free_s = ticks_during(ctx.wait)
    finally:
        stop.set()
        thread.join()
        for obj in (vao, prog, fbo):
            obj.release()
        ctx.default_framebuffer.use()
    assert held_s > 0.03 and free_s > 0.03, (held_s, free_s)  # enough drawing to wait for
    assert free > 1000 and free > 5 * held, (held, free)  # (a few ticks slip in around moderngl's call)
