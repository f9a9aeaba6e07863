"""Rendering and datasets on Ray: a two-node local cluster (``ray.cluster_utils.Cluster``: a head
with 2 CPUs and a node with 2 CPUs and one declared GPU, so the plate worker takes the GPU path)
shared by every test here; the outputs must equal a render in this process, byte for byte (PNG,
EXR, labels) or frame for frame (MP4, decoded); a worker killed mid-render is restarted and the
output is still complete and identical."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hybridscene as hs

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.gl, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SIZE = (160, 90)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two Ray nodes on this machine (2 physical cores: 4 logical CPUs, or Ray's scheduler can
    deadlock), with their own plate cache; workers import hybridscene from this checkout."""
    from ray.cluster_utils import Cluster

    cache = tmp_path_factory.mktemp("ray-cache")
    old = os.environ.get("HYBRIDSCENE_CACHE")
    os.environ["HYBRIDSCENE_CACHE"] = str(cache)
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    c.add_node(num_cpus=2, num_gpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, logging_level="ERROR", log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()
    if old is None:
        os.environ.pop("HYBRIDSCENE_CACHE", None)
    else:
        os.environ["HYBRIDSCENE_CACHE"] = old


def source(name: str = "flight.py") -> hs.SceneSource:
    return hs.SceneSource(EXAMPLES / name, options={"size": SIZE})


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but the manifest (which records the machine and time)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            data = p.read_bytes()
            if p.name == "coco.json":  # the wall-clock date in its info is not part of the labels
                coco = json.loads(data)
                coco["info"].pop("date_created", None)
                data = json.dumps(coco, sort_keys=True).encode()
            out[p.relative_to(folder).as_posix()] = data
    return out


def decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as f:
        return [fr.to_ndarray(format="rgb24") for fr in f.decode(video=0)]


def test_ray_render_equals_a_local_render(cluster, tmp_path):
    """PNG sequence, labels and EXR layers from three Ray workers in chunks of 3 frames equal the
    same render in this process."""
    kw = dict(frames=14, fps=30, size=SIZE, labels=None)
    ray_out, here = tmp_path / "ray", tmp_path / "here"
    ray_out.mkdir()
    here.mkdir()
    executor = hs.RayExecutor(workers=3, chunk=3)
    result = hs.render(source(), f"{ray_out}/frames/", ray=executor, **{**kw, "labels": ray_out / "labels"},
                       layers=ray_out / "layers", layer_format="exr", passes="all")
    assert result.frames == 14
    hs.render(source().load().scene, f"{here}/frames/", **{**kw, "labels": here / "labels"},
              layers=here / "layers", layer_format="exr", passes="all")
    for part in ("frames", "labels", "layers"):
        got, want = files(ray_out / part), files(here / part)
        assert got.keys() == want.keys() and len(got) >= 14
        assert [k for k in got if got[k] != want[k]] == []
        m_ray = json.loads((ray_out / part / "manifest.json").read_text())
        m_here = json.loads((here / part / "manifest.json").read_text())
        assert m_ray["digests"] == m_here["digests"] and len(m_ray["digests"]) == 14
        assert m_ray["ray"] == {"workers": 3, "chunk": 3, "gl_renderers": [m_here["gl"]["renderer"]],
                                "written_by": "workers"}  # this machine: every worker sees the folders
        assert m_ray["scene"]["file"].endswith("flight.py")


def test_when_the_driver_writes_the_folders_they_are_the_same(cluster, tmp_path):
    """``write="driver"``: frames and passes travel to the driver, which writes the files."""
    (tmp_path / "ray").mkdir()
    (tmp_path / "here").mkdir()
    hs.render(source(), f"{tmp_path}/ray/frames/", frames=6, size=SIZE, labels=tmp_path / "ray" / "labels",
              ray=hs.RayExecutor(workers=2, chunk=2, write="driver"))
    hs.render(source().load().scene, f"{tmp_path}/here/frames/", frames=6, size=SIZE,
              labels=tmp_path / "here" / "labels")
    for part in ("frames", "labels"):
        assert files(tmp_path / "ray" / part) == files(tmp_path / "here" / part)
        assert json.loads((tmp_path / "ray" / part / "manifest.json").read_text())["ray"]["written_by"] == "driver"


def test_ray_mp4_decodes_to_the_local_frames(cluster, tmp_path):
    hs.render(source("birds.py"), tmp_path / "ray.mp4", frames=10, size=SIZE, ray=hs.RayExecutor(chunk=4))
    hs.render(source("birds.py").load().scene, tmp_path / "here.mp4", frames=10, size=SIZE)
    got, want = decode(tmp_path / "ray.mp4"), decode(tmp_path / "here.mp4")
    assert len(got) == len(want) == 10
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


def _render_worker_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"RenderWorker" in cmd:
                pids.append(int(entry))
    return pids


def test_a_worker_killed_mid_render_is_retried_and_the_output_is_identical(cluster, tmp_path):
    """Every render worker is killed (SIGKILL) right after the driver hands out a chunk; Ray
    restarts them (new processes) and runs their unfinished chunks again."""
    before, killed, restarted = set(_render_worker_pids()), [], set()

    def kill_all(p: hs.Progress) -> None:
        if p.frame == 2 and not killed:  # chunk 0 written, chunks 1 and 2 handed out (queue=1)
            pids = [pid for pid in _render_worker_pids() if pid not in before]
            assert pids, "no Ray render worker process found"
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed.extend(pids)
        elif killed:
            restarted.update(set(_render_worker_pids()) - before - set(killed))

    result = hs.render(source(), f"{tmp_path}/ray/", frames=16, size=SIZE, progress=kill_all,
                       ray=hs.RayExecutor(workers=2, chunk=2, queue=1))
    assert killed and result.frames == 16
    assert restarted, "Ray did not start new worker processes after the kill"
    hs.render(source().load().scene, f"{tmp_path}/here/", frames=16, size=SIZE)
    assert files(tmp_path / "ray") == files(tmp_path / "here")
    assert sorted(p.name for p in (tmp_path / "ray").iterdir())[:16] == [f"{i:05d}.png" for i in range(16)]


def test_dataset_on_ray_makes_the_same_items_and_digests(cluster, tmp_path):
    kw = dict(count=3, frames=2, size=(96, 54), passes="depth,ids")
    scene = EXAMPLES / "flight.py"
    got = hs.make_dataset(scene, tmp_path / "ray", ray=hs.RayExecutor(workers=2), **kw)
    assert (got.done, got.skipped) == (3, 0)
    hs.make_dataset(scene, tmp_path / "here", **kw)
    items = [json.loads((tmp_path / d / "manifest.json").read_text())["items"] for d in ("ray", "here")]
    assert list(items[0]) == ["000000", "000001", "000002"]
    assert {k: v["digest"] for k, v in items[0].items()} == {k: v["digest"] for k, v in items[1].items()}
    assert files(tmp_path / "ray" / "000001") == files(tmp_path / "here" / "000001")
    assert (tmp_path / "ray" / "coco.json").is_file()
    again = hs.make_dataset(scene, tmp_path / "ray", ray=hs.RayExecutor(), **kw)  # complete: nothing to do
    assert (again.done, again.skipped) == (0, 3)


def test_the_command_line_renders_on_the_cluster_in_ray_address(cluster, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": cluster.address}
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "hybridscene", "render", str(EXAMPLES / "birds.py"), "-o", f"{out}/",
                        "--frames", "20", "--size", "96x64", "--ray", "--workers", "2", "-q"],
                       capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr and "20 frames" in r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    # 20 frames in chunks of 8 (the default): 3 chunks for the 2 workers asked for.
    assert manifest["ray"]["workers"] == 2 and manifest["ray"]["chunk"] == 8
    assert manifest["scene"]["file"].endswith("birds.py")
    here = hs.SceneSource(EXAMPLES / "birds.py", options={"size": (96, 64)})
    hs.render(here.load().scene, f"{tmp_path}/here/", frames=20, size=(96, 64))
    assert manifest["digests"] == json.loads((tmp_path / "here" / "manifest.json").read_text())["digests"]


def test_a_scene_object_or_a_shard_with_ray_is_one_line(cluster, tmp_path):
    scene = source().load().scene
    with pytest.raises(hs.SceneError, match="SceneSource"):
        hs.render(scene, tmp_path / "x.mp4", frames=2, ray=hs.RayExecutor())
    with pytest.raises(hs.ConfigError, match="give one"):
        hs.render(source(), f"{tmp_path}/x/", frames=4, shard=(0, 2), ray=hs.RayExecutor())
    assert not (tmp_path / "x.mp4").exists()


def test_a_failing_scene_on_a_worker_is_its_own_one_line_error(cluster, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import hybridscene as hs\n\ndef build_scene(size=(96, 64), seed=0):\n"
                   "    raise ValueError('no scene today')\n")
    with pytest.raises(hs.SceneError, match="no scene today"):
        hs.render(hs.SceneSource(bad), f"{tmp_path}/out/", frames=2, size=(96, 64), ray=hs.RayExecutor())
    assert not (tmp_path / "out").exists()


# -- without a cluster -------------------------------------------------------------------------

@pytest.mark.ai
def test_a_render_worker_without_the_plate_workers_gpu_finds_its_plate(tiny_sd, tmp_path, monkeypatch):
    """The plate worker paints for its own device (a GPU: cuda, float16); a render worker on a
    CPU-only node asks for the same device and dtype, so it computes the same cache key and loads
    the shipped entry instead of painting the plate again. Run in-process: the devices are faked."""
    from hybridscene.cluster.workers import install_plates, painted_like, prepare
    from hybridscene.plate import generate

    scene_file = tmp_path / "valley.py"
    scene_file.write_text("import hybridscene as hs\n\ndef build_scene(size=(64, 32), seed=0, model=None):\n"
                          "    return hs.Scene(hs.background_plate(size, seed=3, model=model, prompt='a valley'))\n")
    src = hs.SceneSource(scene_file, options={"model": str(tiny_sd)}, plate_options={"steps": 1, "dtype": "float32"})
    # On the "GPU node": auto resolves to cuda; painting is real but runs on the CPU.
    real_paint = generate._paint
    monkeypatch.setattr("hybridscene.info.guess_torch_device", lambda: "cuda")
    monkeypatch.setattr(generate, "_paint", lambda resolved, *a: real_paint(
        dataclasses.replace(resolved, device="cpu"), *a))
    prepared = prepare(src, src.sha256(), False)
    assert prepared["painted_for"] == {"device": "cuda", "dtype": "float32"} and len(prepared["plates"]) == 1
    # On the "CPU node": a new, empty cache; auto resolves to cpu; painting would be an error.
    monkeypatch.setenv("HYBRIDSCENE_CACHE", str(tmp_path / "node-cache"))
    monkeypatch.setattr("hybridscene.info.guess_torch_device", lambda: None)
    monkeypatch.setattr(generate, "_paint", lambda *a: pytest.fail("the render worker painted the plate again"))
    assert install_plates(prepared["plates"]) == 1
    scene = painted_like(src, prepared).load().scene
    assert scene.plate.meta["cache_key"] == next(iter(prepared["plates"]))
    with pytest.raises(pytest.fail.Exception, match="painted the plate again"):
        src.load()  # without painted_like: another key, and a second painting



def test_chunks_in_flight_never_exceed_workers_times_queue():
    """The driver's loop against a fake Ray: at most workers * queue chunks are submitted and
    not yet written, and chunks are written in frame order."""
    from hybridscene.cluster.render import _run
    from hybridscene.export.driver import RenderPlan

    class Ref:
        def __init__(self, start, stop):
            self.frames = list(range(start, stop))

    class Worker:
        def __init__(self):
            self.render = self

        def remote(self, start, stop, plates, write):
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
            return Ref(start, stop)

    class FakeRay:
        @staticmethod
        def get(ref):
            state["in_flight"] -= 1
            return [np.full((2, 2, 3), i, np.uint8) for i in ref.frames]

    class Out:
        done = 0
        written: list[int] = []

        def write(self, i, item):
            assert int(item[0, 0, 0]) == i
            self.written.append(i)
            self.done += 1

    state = {"in_flight": 0, "peak": 0}
    plan = RenderPlan(indices=range(5, 105), total=None, shard=None, fps=30.0, start=0.0, size=(2, 2), samples=None,
                      passes=(), layers=None, layer_passes=(), layer_format="png", labels=None)
    out = Out()
    _run(FakeRay(), [Worker(), Worker(), Worker()], plan, hs.RayExecutor(chunk=4, queue=2), out, {})
    assert out.written == list(range(5, 105))
    assert state["peak"] == 6  # 3 workers x 2 queued chunks, never more


def test_ray_takes_an_executor(tmp_path):
    with pytest.raises(hs.ConfigError, match=r"ray= takes a hybridscene.RayExecutor.*got True"):
        hs.render(source(), tmp_path / "x.mp4", frames=2, ray=True)
    with pytest.raises(hs.ConfigError, match=r"RayExecutor\(chunk=0\)"):
        hs.RayExecutor(chunk=0)
    with pytest.raises(hs.ConfigError, match=r"write='both'.*'auto', 'workers' or 'driver'"):
        hs.RayExecutor(write="both")
    assert not (tmp_path / "x.mp4").exists()


def test_ray_without_the_extra_is_one_line_with_the_install_command(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from hybridscene.cli import main\n"
            f"main(['render', {str(EXAMPLES / 'birds.py')!r}, '-o', {str(tmp_path / 'x.mp4')!r}, '--ray'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        'error: --ray (ray=) needs Ray, which is not installed; install it with: pip install "hybridscene[ray]"']
    assert not (tmp_path / "x.mp4").exists()


def test_the_driver_refuses_to_publish_a_frame_a_worker_reported_but_did_not_write(tmp_path):
    """A worker writes a frame's files with a copy of the driver's sink and reports a record; the
    driver checks the files are there before it publishes the folder."""
    import pickle

    from hybridscene.sinks import PngSequenceSink

    sink = PngSequenceSink(tmp_path / "seq", size=(4, 2), fps=30, first_frame=10)
    copy = pickle.loads(pickle.dumps(sink))  # what Ray sends a worker
    frames = [np.full((2, 4, 3), 40 * k, np.uint8) for k in range(3)]
    for i, frame in enumerate(frames, 10):
        sink.accept(copy.files(i, frame))
    sink.check_files()
    assert sink.digests == [hs.sinks.manifest.frame_digest(f) for f in frames]
    (sink.tmp_path / "00011.png").unlink()
    with pytest.raises(hs.SinkError, match=r"00011.png of .* is missing.*frame 11"):
        sink.check_files()
    sink.abort()
    assert not (tmp_path / "seq").exists()
