"""The benchmark scripts keep running: each prints one JSON object with its figures and the
machine (smoke runs on tiny sizes; the figures themselves are not asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

pytestmark = [pytest.mark.gl, pytest.mark.slow]


def run(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                         cwd=BENCH, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_gpu_checklist_quick_on_this_machine():
    data = run("bench_gpu.py", "--quick", "--allow-software", "--sections", "gl,preview,export")
    gl = data["results"]["gl"]
    assert gl["renderer"] and isinstance(gl["software"], bool)
    preview = data["results"]["preview"]
    assert preview["size"] == "480x270" and preview["particles"] == 2000
    for key in ("msaa 1x", "msaa 4x"):
        assert preview[key]["fps"] > 0 and preview[key]["p50_ms"] > 0
    assert data["results"]["export"]["320x180"]["fps"] > 0
    assert data["machine"]["cores"] >= 1 and "moderngl" in data["machine"]["versions"]


def test_export_benchmark_reports_its_ratios():
    data = run("bench_export.py", "--frames", "6", "--size", "320x180")
    assert data["results"]["export (pipelined)"]["fps"] > 0
    assert data["ratios"]["export / render only"] > 0
    assert data["machine"]["gl_renderer"]


def test_passes_benchmark_reports_every_configuration():
    data = run("bench_passes.py", "--frames", "2", "--size", "160x90", "--dataset-items", "1")
    results = data["results"]
    for fmt in ("png", "exr"):
        for passes in ("composite", "default", "all"):
            assert results[f"{fmt} {passes}"]["fps"] > 0 and results[f"{fmt} {passes}"]["bytes_per_frame"] > 0
    assert results["exr all"]["bytes_per_frame"] > results["exr composite"]["bytes_per_frame"]
    assert results["dataset"]["seconds_per_item"] > 0


def test_scale_benchmark_reports_workers_overhead_and_estimate():
    pytest.importorskip("ray")
    # One configuration of workers (2): every figure and the estimate, in half the time of two.
    data = run("bench_scale.py", "--size", "96x64", "--frames", "4", "--chunk", "2", "--workers", "2",
               "--overhead-frames", "4", "--film-frames", "100")
    assert data["lp_num_threads"] == {"driver": "1", "ray_worker": "1"}
    results = data["results"]
    assert results["no ray"]["fps_steady"] > 0
    assert results["ray 2 workers"]["fps_steady"] > 0 and results["ray 2 workers"]["first_frame_s"] > 0
    assert data["ray_init_s"] > 0 and results["ray overhead"]["noop_round_trip_s"] > 0
    assert results["driver write"]["png_s_per_frame"] > 0 and results["driver write"]["mp4_s_per_frame"] > 0
    assert data["speedup"]["steady"] > 0
    assert results["ray 2 workers png"]["written_by"] == "workers" and results["ray 2 workers png"]["fps_steady"] > 0
    for sink in ("none", "mp4", "png, workers write", "png, driver writes"):
        assert data["estimate"]["predicted"][f"sink {sink}"]["machines"]["32"]["speedup"] > 0
    assert data["machine"]["gl_renderer"]


def test_materials_benchmark_reports_pbr_against_blinn_phong_and_the_environment_build():
    data = run("bench_materials.py", "--frames", "1", "--size", "160x90")
    results = data["results"]
    assert results["environment build"]["ms"] > 0
    for count in ("1 mesh", "100 meshes"):
        for case in ("blinn-phong", "pbr", "pbr, textured"):
            assert results[f"{count}, {case}"]["fps"] > 0


def test_environment_benchmark_reports_the_build_and_the_cached_read():
    data = run("bench_environment.py", "--size", "160x90", "--repeat", "1")
    assert data["plate"] == "160x90" and data["environment"] == "256x128"
    assert data["build_ms_median"] > 0 and data["sidecar_read_ms_median"] > 0 and data["brdf_lut_ms"] > 0
    assert data["machine"]["cores"] >= 1


def test_serve_benchmark_reads_the_stream():
    data = run("bench_serve.py", "--seconds", "0.6", "--warmup", "0.3", "--sizes", "160x90", "--clients", "1,2")
    one, two = data["cases"]
    assert one["size"] == "160x90" and one["clients"] == 1 and one["fps"][0] > 0 and one["kb_per_frame"] > 0
    assert two["clients"] == 2 and len(two["fps"]) == 2 and min(two["fps"]) > 0
    assert data["machine"]["gl_renderer"]


def test_floor_benchmark_reports_the_floor_its_parts_and_each_targets_ratio():
    data = run("bench_floor.py", "--size", "160x90", "--frames", "3")
    assert data["size"] == "160x90" and data["frames"] == 3 and data["relief"] == "cached"
    for floor in ("floor", "floor, encoder thread", "floor, RGBA read-back"):
        result = data["results"][floor]
        assert result["fps"] > 0 and result["ms_per_frame"] > 0
        assert set(result["median_ms"]) == {"pass + read-back", "yuv420p conversion", "x264"}
        assert min(result["median_ms"].values()) > 0
    assert data["ratios_use"].startswith("floor (one frame at a time)")
    assert len(data["results"]["floor"]["runs_fps"]) == 4  # before the exports, then after each of the 3
    assert set(data["ratios"]) == {"birds", "glossy", "sway"}
    for case, target in (("birds", 0.8), ("glossy", 0.5), ("sway", 0.5)):
        fps = data["results"][case]["fps"]
        ratio = data["ratios"][case]
        assert fps > 0 and ratio["ratio"] > 0 and len(ratio["runs"]) == 1
        assert ratio["target"] == target and ratio["meets"] == (ratio["ratio"] >= target)
        assert ratio["ratio_to_median_floor"] == pytest.approx(fps / data["results"]["floor"]["fps"], abs=0.001)
        assert ratio["ratio_to_rgba_floor"] == pytest.approx(fps / data["results"]["floor, RGBA read-back"]["fps"],
                                                             abs=0.001)
    assert data["machine"]["gl_renderer"]


def test_stages_benchmark_reports_every_stage_the_timer_holds():
    data = run("bench_stages.py", "--size", "160x90", "--frames", "3", "--cases", "glossy,birds,sway")
    assert data["size"] == "160x90" and data["samples"] >= 1
    assert list(data["results"]) == ["glossy", "birds", "sway"]
    for case, result in data["results"].items():
        assert result["fps"] > 0 and result["samples"] >= 1, case
        medians, counts = result["median_ms"], result["counts"]
        assert set(medians) == set(counts) and min(counts.values()) >= 1
        for stage in ("read-back", "yuv420p conversion", "x264"):  # every frame, whatever the renderer skips
            assert medians[stage] > 0 and counts[stage] == 3, (case, stage)
        assert len(medians) > 3 and result["sum_of_medians_ms"] >= max(medians.values())
    assert any("shadow" in stage for stage in data["results"]["glossy"]["median_ms"])  # the only case with shadows
    assert data["machine"]["gl_renderer"]


def test_the_optional_paths_benchmarks_run():
    """bench_foreground_format (an 8-bit foreground against RGBA16F) and bench_edge_aa (1x + the
    edge pass against 4x) at tiny sizes (bench_yuv's paths are tests/test_yuv.py's)."""
    fmt = run("bench_foreground_format.py", "--size", "160x90", "--times", "0.5", "--examples", "glossy")
    assert fmt["results"]["glossy"]["max_levels"] >= 0 and fmt["results"]["glossy"]["ms_per_frame"]["rgba8"] > 0
    assert isinstance(fmt["identical_within_a_level"], bool)
    aa = run("bench_edge_aa.py", "--size", "160x90", "--frames", "2", "--cases", "glossy", "--no-reference")
    assert aa["results"]["glossy"]["vs_4x"]["1x+aa"]["edges"]["pixels"] > 0


@pytest.mark.window
def test_preview_benchmark_runs_an_example_at_full_size_and_with_dynamic_resolution():
    import shutil

    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb (make test installs it)")
    data = run("bench_preview.py", "--cases", "glossy", "--seconds", "0.5", "--size", "160x90",
               "--render-scales", "1,auto")
    full, auto = data["results"]["glossy"], data["results"]["glossy scale=auto"]
    assert full["render_scale"] == 1.0 and full["fps"] > 0 and auto["fps"] > 0
    assert 0.5 <= auto["render_scale"] <= 1.0 and data["machine"]["gl_renderer"]
    served = run("bench_preview.py", "--cases", "glossy", "--seconds", "3", "--size", "160x90",
                 "--render-scales", "0.5", "--via", "serve")
    assert served["via"] == "serve" and served["results"]["glossy scale=0.5"]["render_scale"] == 0.5
