"""hybridscene side by side with its peers, in one run on this machine: DepthFlow (a 2.5D
parallax renderer of one image and its depth map) and pyrender (an OpenGL mesh renderer).

    python benchmarks/bench_peers.py [--frames 90] [--warmup 5] [--size 1280x720]
                                     [--venv PATH] [--setup-only] [--no-peers] [--peers depthflow,pyrender]

The peers live in their own virtual environment, never the project's: ``--venv`` (default
``~/.cache/hybridscene-bench/peers-venv``, or under ``$XDG_CACHE_HOME``) is made with
``python -m venv`` and pip on the first run (about 0.6 GB, a few minutes) and reused after
that (a marker file in it records what was installed). DepthFlow is installed without its
depth estimator's dependencies (torch, torchvision, transformers: several GB): the benchmark
hands it the plate's exact depth, so no model runs. Each peer runs in a subprocess of that
environment (``_peer_depthflow.py``, ``_peer_pyrender.py``, which write their figures as
JSON); hybridscene runs here, in the project's interpreter. A peer that cannot be installed or
run is reported with its error line, and the rest is still measured.

Cases (frames/s; hybridscene is measured before and after each peer and the two runs averaged,
since the machine may be shared):

1. Parallax sway, frames to numpy: `_scenes.sway_scene` (the procedural mountains plate, its
   exact depth, the camera swaying 0.5 m side to side and 0.15 m up and down). hybridscene:
   `hs.frames`; DepthFlow: the same plate and its depth (normalised inverse depth, 16-bit PNG),
   ``state.offset`` swaying the same way, each frame read back. Timed between the frames that
   follow the warm-up.
2. Parallax sway, H.264: the same, encoded (libx264 preset veryfast CRF 20 yuv420p) by each
   one's own exporter: `hs.render` (PyAV in-process), DepthFlow's ``main(output=...)``
   (an ffmpeg process). Timed over the whole call, after a warm-up call.
3. 100 lit spheres, read back: hybridscene's sphere (48 x 24 segments, 2208 triangles) 100
   times in a 10 x 10 grid 14 m away, one sun, no shadows, no plate; hybridscene's
   `FrameRenderer.render_frame` (pbr and blinn-phong) against pyrender's
   ``OffscreenRenderer.render`` of the very same triangles (its metallic-roughness shader).
   Both at 4x MSAA (hybridscene's default; pyrender's fixed).

Prints one JSON object: per case each one's frames/s and the ratio hybridscene / peer, the
peers' versions (or why they are missing), what each does per frame, and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import machine
from _scenes import SWAY_PERIOD, sway_scene

import hybridscene as hs

HERE = Path(__file__).resolve().parent

DEPTHFLOW = ["depthflow==1.0.1"]
"""Installed with ``--no-deps``: its other requirements are below, less torch, torchvision and
transformers (its depth estimator's, which this benchmark does not use)."""
DEPTHFLOW_DEPS = ["shaderflow==0.12.0", "attrs", "cyclopts", "diskcache", "imageio", "imageio-ffmpeg", "numpy",
                  "pillow", "platformdirs", "pydantic", "scipy", "xxhash"]
PYRENDER = ["pyrender==0.1.45", "trimesh"]
MARKER = "hybridscene-peers.json"

PER_FRAME = {
    "hybridscene sway": "update the camera; draw the plate as a relief mesh (parallax) into the frame, the "
                        "(empty) foreground and the composite pass; read back RGB8 (hs.frames); for H.264 also "
                        "yuv420p conversion and libx264 in-process (PyAV)",
    "depthflow sway": "one full-screen fragment shader ray-marching the depth map (quality 50: up to ~85 "
                      "forward steps and a refining walk back per pixel), ShaderFlow's final pass into RGB8, "
                      "read back with scene.screenshot(); for H.264 the read-back goes through TurboPipe to an "
                      "ffmpeg process (rgb24 -> yuv420p, libx264)",
    "hybridscene spheres": "update 100 nodes; clear the 4x MSAA foreground target, draw 100 spheres (one draw "
                           "each), resolve, composite over the background colour, read back RGB8",
    "pyrender spheres": "bind and draw 100 primitives (uniforms set per draw from Python through PyOpenGL) into "
                        "a 4x MSAA renderbuffer, blit-resolve colour and depth, read back RGB8 and float depth, "
                        "linearise the depth in numpy",
}


def default_venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "hybridscene-bench" / "peers-venv"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("WARNING")]
    return lines[-1][:300] if lines else "(no output)"


def pip(venv: Path, *args: str) -> str | None:
    """Runs pip in the peers' environment; None, or the error line."""
    cmd = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    print("$", " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, capture_output=True, text=True)
    return None if out.returncode == 0 else last_line(out.stderr or out.stdout)


def setup_venv(venv: Path, peers: list[str]) -> dict[str, str | None]:
    """Makes (or reuses) the peers' virtual environment; per peer None, or why it is missing."""
    wanted = {"depthflow": [*DEPTHFLOW, *DEPTHFLOW_DEPS], "pyrender": PYRENDER}
    marker = venv / MARKER
    done = json.loads(marker.read_text()) if marker.is_file() else {}
    status: dict[str, str | None] = {}
    if not venv_python(venv).exists():
        print(f"making the peers' virtual environment {venv} (once)", file=sys.stderr)
        out = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if out.returncode != 0:
            return {p: f"python -m venv failed: {last_line(out.stderr)}" for p in peers}
        done = {}
    for peer in peers:
        if done.get(peer) == wanted[peer]:
            status[peer] = None
            continue
        if peer == "depthflow":
            error = pip(venv, "--no-deps", *DEPTHFLOW) or pip(venv, *DEPTHFLOW_DEPS)
        else:
            error = pip(venv, *PYRENDER)
        status[peer] = error
        if error is None:
            done[peer] = wanted[peer]
            marker.write_text(json.dumps(done, indent=2))
    return status


def installed(venv: Path) -> dict[str, str | None]:
    """Versions of the peers' packages in their environment (``None``: not installed)."""
    names = ["depthflow", "shaderflow", "moderngl", "pyrender", "PyOpenGL", "trimesh", "numpy"]
    code = ("import json, importlib.metadata as m\n"
            "def v(d):\n    try:\n        return m.version(d)\n    except m.PackageNotFoundError:\n        return None\n"
            f"print(json.dumps({{d: v(d) for d in {names!r}}}))")
    out = subprocess.run([str(venv_python(venv)), "-c", code], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def run_peer(venv: Path, script: str, args: list[str], tmp: Path, timeout: float) -> dict:
    """Runs a peer's script in its environment; its JSON, or ``{"error": ...}``."""
    out_json = tmp / f"{script}.json"
    log = tmp / f"{script}.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("PYOPENGL_PLATFORM", "egl")
    cmd = [str(venv_python(venv)), str(HERE / script), "--json", str(out_json), *args]
    print("$", " ".join(cmd), file=sys.stderr)
    with open(log, "w") as f:
        try:
            code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=tmp, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
    result = json.loads(out_json.read_text()) if out_json.is_file() else {}
    if code != 0 and "error" not in result:
        result["error"] = f"exit code {code}: {last_line(log.read_text(errors='replace'))}"
    if "error" in result:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
    return result


def sway_inputs(size: tuple[int, int], tmp: Path) -> tuple[Path, Path]:
    """The sway scene's plate and its depth as files DepthFlow reads: RGB8 PNG, and the depth as
    16-bit normalised inverse depth (1 = the nearest point, 0 = the sky), what its estimator gives."""
    from PIL import Image

    plate = sway_scene(size).plate
    image, depth = tmp / "plate.png", tmp / "depth.png"
    Image.fromarray(plate.image).save(image)
    inv = 1.0 / plate.depth.astype(np.float64)  # inf (sky) -> 0
    inv = (inv - inv.min()) / (inv.max() - inv.min())
    Image.fromarray(np.round(inv * 65535).astype(np.uint16)).save(depth)
    return image, depth


SUN = (-0.4, -1.0, -0.6)
COLORS = ((0.9, 0.35, 0.2), (0.25, 0.55, 0.9), (0.95, 0.8, 0.3))


def sphere_grid() -> tuple[np.ndarray, np.ndarray]:
    """100 positions (10 x 10 grid, 1.3 m apart, 14 m ahead) and their colours."""
    i = np.arange(100)
    offsets = np.stack([(i % 10 - 4.5) * 1.3, (i // 10 - 4.5) * 1.3, np.full(100, -14.0)], axis=1)
    return offsets, np.array([COLORS[k % 3] for k in i])


def spheres_scene(shading: str) -> hs.Scene:
    cam = hs.PerspectiveCamera(fov_y=50.0, position=(0.0, 0.0, 0.0), target=(0.0, 0.0, -1.0))
    scene = hs.Scene(None, camera=cam, sun=hs.DirectionalLight(direction=SUN), shadows=False)
    geometry = hs.Geometry.sphere(0.5)
    for position, color in zip(*sphere_grid()):
        scene.add(hs.Mesh(geometry, color=tuple(color), shading=shading, roughness=0.5), position=tuple(position))
    return scene


def spheres_file(size: tuple[int, int], tmp: Path) -> Path:
    g = hs.Geometry.sphere(0.5)
    offsets, colors = sphere_grid()
    path = tmp / "spheres.npz"
    np.savez(path, positions=g.positions, normals=g.normals, indices=g.indices, offsets=offsets, colors=colors,
             fov_y=50.0, sun=np.array(SUN), size=np.array(size))
    return path


def fps_after_warmup(stamps: list[float], warmup: int, n: int) -> dict[str, float]:
    steps = np.diff(stamps[warmup - 1:warmup + n])
    return {"fps": round(n / float(steps.sum()), 2), "ms_median": round(1000 * float(np.median(steps)), 1)}


def hs_sway_frames(ctx: hs.GLContext, size: tuple[int, int], n: int, warmup: int) -> dict[str, float]:
    scene = sway_scene(size)
    stamps = []
    for _frame in hs.frames(scene, frames=warmup + n, fps=30.0, size=size, ctx=ctx):
        stamps.append(time.perf_counter())
    return fps_after_warmup(stamps, warmup, n)


def hs_sway_export(ctx: hs.GLContext, size: tuple[int, int], n: int, tmp: Path) -> dict[str, float]:
    scene = sway_scene(size)
    t0 = time.perf_counter()
    hs.render(scene, tmp / "hybridscene.mp4", frames=n, fps=30.0, size=size, ctx=ctx)
    dt = time.perf_counter() - t0
    return {"fps": round(n / dt, 2), "seconds": round(dt, 2)}


def hs_spheres(ctx: hs.GLContext, size: tuple[int, int], n: int, warmup: int, shading: str) -> dict[str, float]:
    scene = spheres_scene(shading)
    steps = []
    with hs.FrameRenderer(ctx, size) as renderer:
        for i in range(max(1, warmup)):
            renderer.render_frame(scene, i / 30)
        for i in range(n):
            t0 = time.perf_counter()
            renderer.render_frame(scene, (warmup + i) / 30)  # (H, W, 3) uint8
            steps.append(time.perf_counter() - t0)
        samples = renderer.samples
    return {"fps": round(n / sum(steps), 2), "ms_median": round(1000 * float(np.median(steps)), 1), "msaa": samples}


def both(runs: list[dict]) -> dict:
    """hybridscene before and after the peer: the mean frames/s and each run."""
    return {"fps": round(float(np.mean([r["fps"] for r in runs])), 2), "runs": runs}


def ratio(ours: dict, theirs: dict) -> float | None:
    if "fps" not in ours or not isinstance(theirs, dict) or not theirs.get("fps"):
        return None
    return round(ours["fps"] / theirs["fps"], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--venv", type=Path, default=default_venv())
    parser.add_argument("--peers", default="depthflow,pyrender", help="which peers (comma-separated)")
    parser.add_argument("--setup-only", action="store_true", help="make the peers' environment, then stop")
    parser.add_argument("--no-peers", action="store_true", help="measure hybridscene only (no environment)")
    parser.add_argument("--no-export", action="store_true", help="skip the H.264 case")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per peer subprocess")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    n, warmup = args.frames, max(1, args.warmup)
    peers = [] if args.no_peers else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(peers) - {"depthflow", "pyrender"}
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; choose from depthflow, pyrender")
    venv = args.venv.expanduser().absolute()
    # 1. The peers' environment (made once, reused).
    setup = setup_venv(venv, peers) if peers else {}
    report: dict = {"benchmark": "peers", "size": args.size, "frames": n, "warmup": warmup,
                    "peers_venv": str(venv) if peers else None,
                    "peers": {p: ({"error": e} if e else {}) for p, e in setup.items()}}
    if args.setup_only:
        report["installed"] = installed(venv) if venv_python(venv).exists() else {}
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    cases: dict[str, dict] = {}
    ctx = hs.create_context()
    fw = ["--frames", str(n), "--warmup", str(warmup)]
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp_name:
        tmp = Path(tmp_name)
        # 2. Parallax sway: hybridscene, DepthFlow, hybridscene again.
        hs.render(sway_scene(size), tmp / "warm.mp4", frames=3, fps=30.0, size=size, ctx=ctx)  # programs, plate
        frames_runs, export_runs = [hs_sway_frames(ctx, size, n, warmup)], []
        if not args.no_export:
            export_runs.append(hs_sway_export(ctx, size, n, tmp))
        df: dict = {}
        if "depthflow" in peers and setup.get("depthflow") is None:
            image, depth = sway_inputs(size, tmp)
            df = run_peer(venv, "_peer_depthflow.py", ["--image", str(image), "--depth", str(depth), *fw,
                                                       "--period", str(SWAY_PERIOD),
                                                       *(["--no-export"] if args.no_export else [])],
                          tmp, args.timeout)
            report["peers"]["depthflow"] = {k: df[k] for k in ("versions", "gl_renderer", "error") if k in df}
        frames_runs.append(hs_sway_frames(ctx, size, n, warmup))
        if not args.no_export:
            export_runs.append(hs_sway_export(ctx, size, n, tmp))
        sway = cases["parallax sway, frames to numpy"] = {"hybridscene": both(frames_runs)}
        if "depthflow" in peers:
            sway["depthflow"] = df.get("frames") or {"error": df.get("error") or setup.get("depthflow")}
            sway["ratio hybridscene / depthflow"] = ratio(sway["hybridscene"], sway["depthflow"])
        if not args.no_export:
            enc = cases["parallax sway, H.264 export"] = {"hybridscene": both(export_runs)}
            if "depthflow" in peers:
                enc["depthflow"] = df.get("export") or {"error": df.get("error") or setup.get("depthflow")}
                enc["ratio hybridscene / depthflow"] = ratio(enc["hybridscene"], enc["depthflow"])
        # 3. 100 lit spheres: hybridscene (pbr, blinn-phong), pyrender, hybridscene again.
        runs: dict[str, list[dict]] = {s: [hs_spheres(ctx, size, n, warmup, s)] for s in ("pbr", "blinn-phong")}
        pr: dict = {}
        if "pyrender" in peers and setup.get("pyrender") is None:
            pr = run_peer(venv, "_peer_pyrender.py", ["--scene", str(spheres_file(size, tmp)), *fw], tmp, args.timeout)
            report["peers"]["pyrender"] = {k: pr[k] for k in ("versions", "gl_renderer", "error") if k in pr}
        for shading, r in runs.items():
            r.append(hs_spheres(ctx, size, n, warmup, shading))
        spheres = cases["100 lit spheres, read back"] = {f"hybridscene {s}": both(r) for s, r in runs.items()}
        if "pyrender" in peers:
            spheres["pyrender"] = pr.get("frames") or {"error": pr.get("error") or setup.get("pyrender")}
            for s in runs:
                spheres[f"ratio hybridscene {s} / pyrender"] = ratio(spheres[f"hybridscene {s}"], spheres["pyrender"])
    ctx.release()
    report["cases"] = cases
    report["per_frame"] = PER_FRAME
    report["machine"] = machine(gl=True)
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
