"""yuv420p on the GPU (hybridscene.gpu.yuv): planes against libswscale's (PyAV's reformat, the
conversion the RGB path uses), videos written both ways decoded by PyAV, the ``yuv`` setting."""

import platform

import av
import numpy as np
import pytest

import hybridscene as hs
from conftest import flat_scene
from hybridscene.config import get_settings
from hybridscene.errors import ConfigError, SinkError
from hybridscene.export import writers
from hybridscene.gpu.yuv import YuvConverter, use_gpu_yuv
from hybridscene.sinks import VideoSink
from hybridscene.sinks.video import Yuv420Frame


# The shader follows x86-64 libswscale's SIMD chroma filter bit for bit; elsewhere (its C path,
# other SIMD) chroma may round one level apart.
CHROMA_TOLERANCE = 0 if platform.machine().lower() in ("x86_64", "amd64") else 1


def swscale_planes(rgb):
    """(Y, U, V) int arrays as VideoSink's RGB path makes them (libswscale, BT.709, limited)."""
    h, w, _ = rgb.shape
    vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    vf = vf.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
    return [np.frombuffer(p, np.uint8).reshape(ph, p.line_size)[:, :pw].astype(int)
            for p, (pw, ph) in zip(vf.planes, ((w, h), (w // 2, h // 2), (w // 2, h // 2)))]


def test_cases(w, h, seed=0):
    """Noise (every colour, worst case for the chroma filter) and a smooth gradient with edges."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) % 256], -1).astype(np.uint8)
    smooth[h // 3: h // 2, w // 4: w // 2] = (250, 20, 30)  # a hard-edged red block
    return noise, smooth


test_cases.__test__ = False  # a helper, not a test


@pytest.mark.gl
@pytest.mark.parametrize("size", [(160, 90), (162, 90)], ids=["one pass (W % 8 == 0)", "two passes"])
def test_planes_match_swscale(ctx, size):
    w, h = size
    with YuvConverter(ctx, size) as conv:
        assert conv.fused == (w % 8 == 0)
        for rgb in test_cases(w, h):
            rgba = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], -1)
            tex = ctx.mgl.texture(size, 4, rgba.tobytes())
            try:
                conv.convert(tex)
                got = conv.read()
            finally:
                tex.release()
            want = swscale_planes(rgb)
            assert got.y.shape == (h, w) and got.u.shape == got.v.shape == (h // 2, w // 2)
            assert np.array_equal(got.y, want[0])  # luma: swscale's arithmetic, exactly
            for plane, ref in zip((got.u, got.v), want[1:]):
                diff = np.abs(plane.astype(int) - ref)
                assert diff.max() <= CHROMA_TOLERANCE and diff.mean() < 0.15


def gradient_scene(size=(160, 90)):
    """A colourful plate and a cube moving across it (chroma edges that move)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), 255 - xx * 255 // (w - 1)], -1).astype(np.uint8)
    scene = flat_scene(hs.Plate(image=image), size=size)
    cube = scene.add(hs.Mesh.cube(1.0, color=(1.0, 0.2, 0.6)))

    @scene.on_frame
    def move(t):
        cube.position = (2.0 * t - 1.0, 0.0, 0.0)

    return scene


@pytest.mark.gl
def test_gpu_video_decodes_like_the_rgb_video(tmp_path, ctx, monkeypatch):
    """Lossless (crf 0) MP4s through both paths decode to the same planes (chroma within
    `CHROMA_TOLERANCE`)."""
    videos = {}
    for mode, overlap in (("cpu", False), ("gpu", False), ("gpu", True)):
        monkeypatch.setenv("HYBRIDSCENE_YUV", mode)
        out = tmp_path / f"{mode}-{overlap}.mp4"
        hs.render(gradient_scene(), out, frames=5, fps=10, ctx=ctx, overlap=overlap, crf=0)
        with av.open(str(out)) as c:
            frames = list(c.decode(video=0))
            assert c.streams.video[0].codec_context.color_range == 1  # MPEG (limited), tagged as before
            videos[mode, overlap] = np.stack([f.to_ndarray(format="yuv420p") for f in frames]).astype(int)
    want = videos["cpu", False]
    assert want.shape == (5, 135, 160)  # (H * 3 / 2, W) per frame
    assert want.std() > 10  # not a blank video
    for key in (("gpu", False), ("gpu", True)):
        diff = np.abs(videos[key] - want)
        assert diff[:, :90].max() == 0, key  # luma identical
        assert diff.max() <= CHROMA_TOLERANCE and diff.mean() < 0.05, key


def test_video_sink_takes_planes_with_padded_rows(tmp_path):
    """162 wide: PyAV pads each plane's rows (line_size > width); the planes still land right."""
    w, h = 162, 90
    rgb = test_cases(w, h, seed=3)[1]
    y, u, v = (p.astype(np.uint8) for p in swscale_planes(rgb))
    with VideoSink(tmp_path / "p.mkv", size=(w, h), fps=10, crf=0) as sink:
        sink.write(Yuv420Frame(y, u, v))
        sink.write(rgb)  # RGB still works beside planes
        with pytest.raises(SinkError, match=r"yuv420p planes"):
            sink.write(Yuv420Frame(y, u[:, :-1], v))
    with av.open(str(tmp_path / "p.mkv")) as c:
        got = [f.to_ndarray(format="yuv420p").astype(int) for f in c.decode(video=0)]
    want = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)
    assert len(got) == 2 and np.array_equal(got[0], want) and np.array_equal(got[1], want)


def test_yuv_setting_bad_value_is_one_line(monkeypatch):
    monkeypatch.setenv("HYBRIDSCENE_YUV", "fast")
    with pytest.raises(ConfigError) as info:
        get_settings()
    assert "HYBRIDSCENE_YUV='fast'" in str(info.value) and "auto, gpu or cpu" in str(info.value)
    assert "\n" not in str(info.value)
    monkeypatch.setenv("HYBRIDSCENE_YUV", "GPU")
    assert get_settings().yuv == "gpu"
    with pytest.raises(ConfigError, match=r"yuv must be one of auto, gpu, cpu, got 'x'"):
        hs.Settings(yuv="x")


@pytest.mark.gl
def test_auto_converts_on_the_gpu_only_for_a_video_alone(tmp_path, ctx, monkeypatch):
    """``auto``: the GPU on a GPU, the CPU on a CPU rasteriser (as measured); the planes are
    made only when a VideoSink is the frame's only consumer."""
    assert use_gpu_yuv(ctx, "auto") == (not ctx.software)
    assert use_gpu_yuv(ctx, "gpu") and not use_gpu_yuv(ctx, "cpu")
    made = []
    real = writers.YuvConverter

    def spy(*args, **kwargs):
        made.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(writers, "YuvConverter", spy)
    scene = flat_scene(size=(64, 32))
    monkeypatch.delenv("HYBRIDSCENE_YUV", raising=False)
    hs.render(scene, tmp_path / "a.mp4", frames=1, ctx=ctx)
    assert made == ([] if ctx.software else [(64, 32)])
    monkeypatch.setenv("HYBRIDSCENE_YUV", "gpu")
    hs.render(scene, tmp_path / "b.mp4", frames=1, ctx=ctx)
    assert made[-1:] == [(64, 32)]
    count = len(made)
    hs.render(scene, tmp_path / "c.gif", frames=1, ctx=ctx)  # GIF: RGB
    hs.render(scene, tmp_path / "d.mp4", frames=1, ctx=ctx, layers=tmp_path / "layers")  # passes: RGB
    monkeypatch.setenv("HYBRIDSCENE_YUV", "cpu")
    hs.render(scene, tmp_path / "e.mp4", frames=1, ctx=ctx)
    assert len(made) == count


def test_video_sink_takes_rgba_frames_as_their_rgb(tmp_path):
    """An RGBA frame's alpha is dropped: the same yuv420p as its RGB (lossless, decoded)."""
    w, h = 162, 90
    rgb = test_cases(w, h, seed=4)[1]
    rgba = np.concatenate([rgb, np.zeros((h, w, 1), np.uint8)], -1)  # any alpha: not used
    for name, frame in (("rgb", rgb), ("rgba", rgba)):
        with VideoSink(tmp_path / f"{name}.mkv", size=(w, h), fps=10, crf=0) as sink:
            sink.write(frame)
    decoded = {}
    for name in ("rgb", "rgba"):
        with av.open(str(tmp_path / f"{name}.mkv")) as c:
            decoded[name] = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]
    assert len(decoded["rgba"]) == 1 and np.array_equal(decoded["rgba"][0], decoded["rgb"][0])
    with VideoSink(tmp_path / "bad.mkv", size=(w, h), fps=10) as sink:
        sink.write(rgba)
        with pytest.raises(SinkError, match=r"^VideoSink expects \(90, 162, 3\) or \(90, 162, 4\) uint8 frames, "
                                            r"got \(90, 162, 2\) uint8$"):
            sink.write(rgba[..., :2])


@pytest.mark.gl
def test_a_video_alone_converted_on_the_cpu_reads_rgba_and_writes_the_same_video(tmp_path, ctx, monkeypatch):
    """A video-only export on the CPU path reads the frame back as RGBA (no repacking) and
    writes the same video as the RGB path (a VideoSink subclass, which gets RGB frames);
    other outputs still get RGB."""
    from hybridscene.export import driver

    read = []
    real = driver.read_pixels

    def spy(*args, **kwargs):
        read.append(kwargs.get("components"))
        return real(*args, **kwargs)

    class RgbOnly(VideoSink):
        def write(self, frame):
            assert frame.shape[2] == 3
            super().write(frame)

    monkeypatch.setattr(driver, "read_pixels", spy)
    monkeypatch.setenv("HYBRIDSCENE_YUV", "cpu")
    hs.render(gradient_scene(), tmp_path / "rgba.mp4", frames=4, fps=10, ctx=ctx, overlap=False, crf=0)
    assert read == [4] * 4
    with RgbOnly(tmp_path / "rgb.mp4", size=(160, 90), fps=10, crf=0) as sink:
        hs.render(gradient_scene(), sink, frames=4, fps=10, ctx=ctx, overlap=False)
    assert read == [4] * 4  # the subclass: RGB through render_frame
    videos = []
    for name in ("rgba", "rgb"):
        with av.open(str(tmp_path / f"{name}.mp4")) as c:
            videos.append(np.stack([f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]))
    assert videos[0].shape == (4, 135, 160) and videos[0].std() > 10
    np.testing.assert_array_equal(videos[0], videos[1])
    hs.render(gradient_scene(), tmp_path / "a.gif", frames=1, fps=10, ctx=ctx)  # a GIF: RGB
    assert read == [4] * 4
