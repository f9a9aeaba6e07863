"""Outputs: decoded back and checked; atomic writes; clear errors."""

import logging
import os

import av
import numpy as np
import pytest
from PIL import Image

import hybridscene as hs
from conftest import flat_scene
from hybridscene.sinks import GifSink, PngSequenceSink, StillSink, VideoSink, open_sink

pytestmark = pytest.mark.gl


def moving_scene(size=(96, 64)):
    scene = flat_scene(size=size)
    cube = scene.add(hs.Mesh.cube(1.0, color=(1.0, 0.8, 0.1)))

    @scene.on_frame
    def move(t):
        cube.position = (t - 1.0, 0.0, 0.0)

    return scene


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_mp4_decodes_with_codec_format_count_and_size(tmp_path, ctx):
    out = tmp_path / "clip.mp4"
    result = hs.render(moving_scene(), out, frames=12, fps=24, ctx=ctx)
    assert result.frames == 12 and result.size == (96, 64) and result.duration == 0.5
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (96, 64)
        assert stream.average_rate == 24
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 12
    # Decoded pixels match the rendered ones within H.264 (CRF 20) and 4:2:0 tolerance.
    rendered = list(hs.frames(moving_scene(), frames=12, fps=24, ctx=ctx))
    for got, want in zip(decoded, rendered):
        err = np.abs(got.astype(int) - want.astype(int))
        assert err.mean() < 3.0 and np.median(err) <= 2
    # +faststart: the index (moov) comes before the media data (mdat).
    head = out.read_bytes()
    assert 0 < head.find(b"moov") < head.find(b"mdat")
    assert leftovers(tmp_path) == []


def test_video_settings_are_recorded_by_the_encoder(tmp_path):
    out = tmp_path / "q.mp4"
    with VideoSink(out, size=(32, 32), fps=30, crf=18, preset="veryfast") as sink:
        for i in range(3):
            sink.write(np.full((32, 32, 3), 40 * i, np.uint8))
    data = out.read_bytes()
    # libx264 writes its settings into the stream (SEI): check CRF and preset-driven options.
    assert b"crf=18.0" in data and b"x264" in data


def test_odd_size_is_rounded_to_even_with_a_warning(tmp_path, ctx, caplog):
    out = tmp_path / "odd.mp4"
    with caplog.at_level(logging.WARNING, logger="hybridscene"):
        result = hs.render(moving_scene(), out, frames=2, size=(97, 65), ctx=ctx)
    assert result.size == (96, 64)
    assert "97x65 is not even; rendering 96x64" in caplog.text
    with pytest.raises(hs.SinkError, match="97x64 must be even.*use 96x64"):
        VideoSink(tmp_path / "x.mp4", size=(97, 64), fps=30)


def test_gif_frames_and_timing(tmp_path, ctx):
    out = tmp_path / "clip.gif"
    hs.render(moving_scene(), out, frames=9, fps=30, ctx=ctx)
    with Image.open(out) as gif:
        assert gif.size == (96, 64) and gif.n_frames == 9
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
            if i == 4:
                mid = np.asarray(gif.convert("RGB"))
    assert sum(durations) == 300  # 9 frames at 30 fps, in whole centiseconds
    rendered = list(hs.frames(moving_scene(), frames=9, fps=30, ctx=ctx))[4]
    assert np.abs(mid.astype(int) - rendered.astype(int)).mean() < 4


def test_png_sequence_is_lossless_and_replaces_only_frame_folders(tmp_path, ctx):
    out = tmp_path / "seq"
    hs.render(moving_scene(), f"{out}/", frames=3, ctx=ctx)
    names = sorted(os.listdir(out))
    assert names == ["00000.png", "00001.png", "00002.png", "manifest.json"]
    rendered = list(hs.frames(moving_scene(), frames=3, ctx=ctx))
    for name, want in zip(names, rendered):
        with Image.open(out / name) as img:
            np.testing.assert_array_equal(np.asarray(img), want)
    # Re-rendering a shorter sequence replaces the old one entirely.
    hs.render(moving_scene(), out, frames=2, ctx=ctx)
    assert sorted(os.listdir(out)) == ["00000.png", "00001.png", "manifest.json"]
    # A folder with anything else in it is never overwritten.
    (out / "notes.txt").write_text("mine")
    with pytest.raises(hs.SinkError, match="holds other files.*notes.txt"):
        hs.render(moving_scene(), out, frames=1, ctx=ctx)
    assert (out / "notes.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []


def test_still_image_holds_one_frame(tmp_path, ctx):
    out = tmp_path / "still.png"
    hs.render(moving_scene(), out, frames=1, ctx=ctx)
    with Image.open(out) as img:
        assert img.size == (96, 64)
    with pytest.raises(hs.SinkError, match="single image.*--frames 1"):
        hs.render(moving_scene(), out, frames=2, ctx=ctx)
    with Image.open(out) as img:  # the earlier still is intact
        assert img.size == (96, 64)
    assert leftovers(tmp_path) == []


def test_unknown_extension_names_the_supported_ones(tmp_path):
    with pytest.raises(hs.UnsupportedOutputError) as info:
        hs.render(moving_scene(), tmp_path / "clip.avi", frames=1)
    msg = str(info.value)
    assert "'.avi'" in msg and ".mp4" in msg and ".gif" in msg and "DIR/" in msg
    with pytest.raises(hs.UnsupportedOutputError, match="no extension"):
        open_sink(tmp_path / "clip", size=(8, 8), fps=1)


@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "seq/"])
def test_interrupted_render_leaves_the_old_output_untouched(tmp_path, ctx, name):
    out = tmp_path / name
    if name.endswith("/"):
        out.mkdir()
        (out / "00000.png").write_bytes(b"old frame")
        marker = out / "00000.png"
    else:
        out.write_bytes(b"old output")
        marker = out

    def boom(progress):
        if progress.frame == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hs.render(moving_scene(), out, frames=4, progress=boom, ctx=ctx)
    assert marker.read_bytes().startswith(b"old")
    assert leftovers(tmp_path) == []


def test_progress_callback_reports_and_cancels(tmp_path, ctx):
    seen = []

    def cb(p):
        seen.append((p.frame, p.total, round(p.t, 4)))
        return p.frame < 3

    with pytest.raises(hs.Cancelled, match="after 3 of 10 frames"):
        hs.render(moving_scene(), tmp_path / "c.mp4", frames=10, fps=10, progress=cb, ctx=ctx)
    assert seen == [(1, 10, 0.0), (2, 10, 0.1), (3, 10, 0.2)]
    assert list(tmp_path.iterdir()) == []


def test_custom_sink_objects_are_accepted(ctx):
    class Collect:
        def __init__(self):
            self.frames, self.closed = [], False

        def write(self, frame):
            self.frames.append(frame.copy())

        def close(self):
            self.closed = True

        def abort(self):
            raise AssertionError("not expected")

    sink = Collect()
    result = hs.render(moving_scene(), sink, frames=3, ctx=ctx)
    assert result.path is None and sink.closed and len(sink.frames) == 3
    assert isinstance(sink, hs.sinks.Sink)


def test_sink_rejects_wrong_frames_and_missing_folders(tmp_path):
    with pytest.raises(hs.SinkError, match="does not exist"):
        GifSink(tmp_path / "nope" / "a.gif", size=(8, 8), fps=10)
    sink = StillSink(tmp_path / "a.png", size=(8, 8))
    with pytest.raises(hs.SinkError, match=r"\(8, 8, 3\) uint8"):
        sink.write(np.zeros((8, 8, 4), np.uint8))
    sink.abort()
    seq = PngSequenceSink(tmp_path / "s", size=(8, 8), fps=1)
    seq.abort()
    assert list(tmp_path.iterdir()) == []


def test_pipelined_export_writes_the_same_frames_in_order(tmp_path, ctx):
    piped, plain = tmp_path / "piped", tmp_path / "plain"
    hs.render(moving_scene(), f"{piped}/", frames=7, fps=10, ctx=ctx, overlap=True)
    hs.render(moving_scene(), f"{plain}/", frames=7, fps=10, ctx=ctx, overlap=False)
    names = sorted(p.name for p in piped.iterdir())
    assert names == [*(f"{i:05d}.png" for i in range(7)), "manifest.json"] == sorted(p.name for p in plain.iterdir())
    frames = [np.asarray(Image.open(piped / n)) for n in names if n.endswith(".png")]
    for n, frame in zip(names, frames):
        np.testing.assert_array_equal(frame, np.asarray(Image.open(plain / n)))
    assert not np.array_equal(frames[0], frames[-1])  # the cube moved: order is checked above


def test_a_failing_sink_on_the_encoder_thread_stops_the_render(ctx):
    class Breaks:
        def __init__(self):
            self.written, self.aborted = 0, False

        def write(self, frame):
            if self.written == 2:
                raise OSError("disk full")
            self.written += 1

        def close(self):
            raise AssertionError("must not publish after a failure")

        def abort(self):
            self.aborted = True

    sink = Breaks()
    with pytest.raises(OSError, match="disk full"):
        hs.render(moving_scene(), sink, frames=30, ctx=ctx, overlap=True)
    assert sink.aborted and sink.written == 2


def test_overlap_auto_is_off_on_a_cpu_rasteriser_and_on_on_a_gpu(ctx, monkeypatch):
    """On llvmpipe the ring and a converting encoder thread compete with the rasteriser for the
    same cores (measured 0.85-0.97x of one frame at a time), so "auto" overlaps them only on a
    GPU (a video's libx264 alone runs on a thread there: the test after the next ones)."""
    import importlib

    render_mod = importlib.import_module("hybridscene.export.driver")  # hs.render is the function

    started = []
    real = render_mod.EncoderThread

    class Recording(real):
        def __init__(self, *args, **kwargs):
            started.append(True)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(render_mod, "EncoderThread", Recording)
    frames = []

    class Collect:
        def write(self, frame):
            frames.append(frame.copy())

        def close(self):
            pass

        def abort(self):
            pass

    hs.render(moving_scene(), Collect(), frames=3, ctx=ctx)  # the default is "auto"
    assert started == [] and len(frames) == 3  # llvmpipe here: one frame at a time
    monkeypatch.setattr(hs.GLContext, "software", property(lambda self: False))  # as on a GPU
    hs.render(moving_scene(), Collect(), frames=3, ctx=ctx)
    assert started == [True] and len(frames) == 6
    with pytest.raises(hs.ConfigError, match="overlap must be True, False or 'auto', got 'yes'"):
        hs.render(moving_scene(), Collect(), frames=3, ctx=ctx, overlap="yes")
    # The old name still works, with a warning.
    with pytest.warns(DeprecationWarning, match=r"render\(pipeline=...\) is now called overlap="):
        hs.render(moving_scene(), Collect(), frames=3, ctx=ctx, pipeline=False)
    assert started == [True] and len(frames) == 9


def test_on_a_cpu_rasteriser_a_video_is_converted_here_and_encoded_on_the_encoder_thread(tmp_path, ctx, monkeypatch):
    """overlap="auto" on llvmpipe: each frame is drawn, read and converted to yuv420p on the GL
    thread, and only libx264 runs on the encoder thread (the GL thread no longer waits for it);
    the video decodes to the frames written one frame at a time. (Not always to the byte: in the
    full suite libx264 on another thread than before made another bitstream of the same input
    planes, decoding to the same pixels.)"""
    import threading

    where = {"convert": set(), "encode": set()}
    convert, write = VideoSink.convert, VideoSink._write
    monkeypatch.setattr(VideoSink, "convert", lambda self, f: where["convert"].add(threading.current_thread().name)
                        or convert(self, f))
    monkeypatch.setattr(VideoSink, "_write", lambda self, f: where["encode"].add(threading.current_thread().name)
                        or write(self, f))
    hs.render(moving_scene(), tmp_path / "auto.mp4", frames=8, fps=24, ctx=ctx)
    assert where == {"convert": {"MainThread"}, "encode": {"hybridscene-encoder"}}
    where = {"convert": set(), "encode": set()}
    hs.render(moving_scene(), tmp_path / "serial.mp4", frames=8, fps=24, ctx=ctx, overlap=False)
    assert where == {"convert": set(), "encode": {"MainThread"}}
    decoded = {}
    for name in ("auto", "serial"):
        with av.open(str(tmp_path / f"{name}.mp4")) as container:
            decoded[name] = [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]
    frames = decoded["auto"]
    assert len(frames) == len(decoded["serial"]) == 8 and not np.array_equal(frames[0], frames[-1])
    assert max(np.abs(a - b).max() for a, b in zip(frames, decoded["serial"])) <= 2


def test_a_failure_on_the_encoder_thread_leaves_no_video(tmp_path, ctx, monkeypatch):
    """The encoder thread's error (a full disk) stops the render as a SinkError naming the file,
    and nothing is left under the output's name or beside it."""
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"the previous take")
    calls = []
    write = VideoSink._write

    def failing(self, frame):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        write(self, frame)

    monkeypatch.setattr(VideoSink, "_write", failing)
    with pytest.raises(hs.SinkError, match=r"no space left on device writing .*clip\.mp4; free space"):
        hs.render(moving_scene(), out, frames=30, fps=24, ctx=ctx)
    assert out.read_bytes() == b"the previous take" and leftovers(tmp_path) == []
    assert len(calls) < 30  # stopped, not drawn to the end


@pytest.mark.parametrize("size", [(1280, 720), (98, 64)])
def test_video_sink_converts_a_frame_in_place_to_the_planes_of_a_copy(tmp_path, size):
    """A contiguous frame (a read-back, read-only) is converted from its own buffer, not copied
    into a new AVFrame first; the planes are those of PyAV's copying path, for RGB and RGBA,
    and a frame whose rows are not contiguous (a flipped view) is copied and converted alike."""
    w, h = size
    rng = np.random.default_rng(2)
    sink = VideoSink(tmp_path / "a.mp4", size=size, fps=10)
    for channels, fmt in ((4, "rgba"), (3, "rgb24")):
        data = rng.integers(0, 256, (h, w, channels), np.uint8).tobytes()
        frame = np.frombuffer(data, np.uint8).reshape(h, w, channels)  # as read_pixels returns it
        want = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=fmt).reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        for f in (frame, frame[::-1][::-1], np.ascontiguousarray(frame[::-1])[::-1]):
            vf = sink.convert(f)
            assert (vf.colorspace, vf.color_range) == (want.colorspace, want.color_range)
            np.testing.assert_array_equal(vf.to_ndarray(), want.to_ndarray())  # the planes without row padding
    wrapped = []
    real = av.VideoFrame.from_numpy_buffer
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(av.VideoFrame, "from_numpy_buffer", lambda a, **kw: wrapped.append(a) or real(a, **kw))
        sink.convert(frame)
        sink.convert(np.ascontiguousarray(frame[::-1])[::-1])
    assert len(wrapped) == 1 and wrapped[0] is frame
    sink.abort()


def test_video_sink_converts_for_another_thread_and_checks_what_it_gets(tmp_path):
    """`VideoSink.convert` gives the yuv420p frame `write` would encode (the same file either
    way); a frame of the wrong size or format is refused with the sizes."""
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (64, 96, 4), np.uint8) for _ in range(3)]
    a, b = VideoSink(tmp_path / "a.mp4", size=(96, 64), fps=10), VideoSink(tmp_path / "b.mp4", size=(96, 64), fps=10)
    for f in frames:
        a.write(f)
        vf = b.convert(f)
        assert (vf.width, vf.height, vf.format.name) == (96, 64, "yuv420p")
        b.write(vf)
    a.close(), b.close()
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    sink = VideoSink(tmp_path / "c.mp4", size=(96, 64), fps=10)
    with pytest.raises(hs.SinkError, match=r"expects a 96x64 yuv420p av.VideoFrame .* got 48x32 yuv420p"):
        sink.write(av.VideoFrame(48, 32, "yuv420p"))
    with pytest.raises(hs.SinkError, match=r"expects \(64, 96, 3\) or \(64, 96, 4\) uint8 frames"):
        sink.convert(np.zeros((64, 96), np.uint8))
    sink.abort()
