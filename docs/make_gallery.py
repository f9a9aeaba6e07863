"""Render the gallery: every example as a short MP4 and a poster PNG, and the gallery page.

    python docs/make_gallery.py                 # all examples into docs/gallery/, writes docs/gallery.md
    python docs/make_gallery.py --only birds    # one example
    python docs/make_gallery.py --out /tmp/g --size 320x180 --fps 8   # somewhere else, smaller

Scene files (those defining ``build_scene``) go through ``hybridscene render`` over their whole
``DURATION``; scripts are run with ``-o --frames --size``. The poster is the video's middle
frame. Everything is written under a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
STILLS = {"numpy_frames"}  # scripts whose output is one picture (a contact sheet), not a film


def describe(path: Path) -> tuple[str, str]:
    """(title, first paragraph) from the example's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or path.stem
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    return path.stem.replace("_", " ").capitalize(), first


def is_scene_file(path: Path) -> bool:
    return "def build_scene" in path.read_text()


def render_example(path: Path, out_dir: Path, size: str, fps: int, frames: int) -> tuple[Path | None, Path]:
    """Render one example; returns ``(video or None, poster)``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / f"{path.stem}.mp4"
    tmp_video = out_dir / f".{path.stem}.tmp.mp4"
    if is_scene_file(path):  # in a subprocess like the others, with a smaller CRF than the CLI's
        code = ("import sys, hybridscene as hs\n"
                "f = hs.load_scene_file(sys.argv[1], size=tuple(map(int, sys.argv[3].split('x'))))\n"
                "hs.render(f.scene, sys.argv[2], seconds=f.duration or 4.0, fps=float(sys.argv[4]),\n"
                "          size=tuple(map(int, sys.argv[3].split('x'))), crf=30, preset='slow')\n")
        cmd = [sys.executable, "-c", code, str(path), str(tmp_video), size, str(fps)]
    elif path.stem in STILLS:
        cmd = [sys.executable, str(path), "-o", "still.png"]
    else:
        cmd = [sys.executable, str(path), "-o", str(tmp_video), "--frames", str(frames), "--size", size]
    tmp_dir = out_dir / f".{path.stem}.work"
    tmp_dir.mkdir(exist_ok=True)
    r = subprocess.run(cmd, cwd=tmp_dir, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{path.name} failed:\n{r.stderr}")
    poster = out_dir / f"{path.stem}.png"
    if tmp_video.exists():
        with av.open(str(tmp_video)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        middle = decoded[len(decoded) // 2]
        os.replace(tmp_video, video)
    else:  # a script that writes a still of its own (numpy_frames.py's contact sheet)
        stills = sorted(tmp_dir.glob("*.png"))
        if not stills:
            raise SystemExit(f"{path.name} wrote neither {tmp_video.name} nor a PNG")
        middle = np.asarray(Image.open(stills[0]).convert("RGB"))
        video = None
    tmp_poster = out_dir / f".{path.stem}.tmp.png"
    Image.fromarray(middle).save(tmp_poster, optimize=True)
    os.replace(tmp_poster, poster)
    for leftover in tmp_dir.iterdir():
        leftover.unlink()
    tmp_dir.rmdir()
    return video, poster


def gallery_page(entries: list[tuple[Path, Path | None, Path]], page: Path) -> None:
    """The gallery page: each example's film (or still), its description and its code."""
    lines = [
        "# Gallery",
        "",
        "Every example, rendered on the procedural plate by `python docs/make_gallery.py` (which",
        "also rewrites this page). Each runs headless; pass `--model` to a scene file for an AI",
        "plate.",
        "",
    ]
    for script, video, poster in entries:
        title, text = describe(script)
        rel_poster = poster.relative_to(page.parent).as_posix()
        lines += [f"## {title}", "", text, ""]
        if video is not None:
            rel_video = video.relative_to(page.parent).as_posix()
            lines += [f'<video src="{rel_video}" poster="{rel_poster}" controls loop muted playsinline width="480">',
                      "</video>", ""]
        else:
            lines += [f"![{title}]({rel_poster})", ""]
        command = (f"hybridscene render examples/{script.name} -o {script.stem}.mp4" if is_scene_file(script)
                   else f"python examples/{script.name}")
        lines += ["```", command, "```", "", f"`examples/{script.name}`:", "", "```python",
                  script.read_text().rstrip(), "```", ""]
    tmp = page.with_name(page.name + ".part")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, page)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "gallery"), help="folder for the videos and posters")
    parser.add_argument("--page", default=str(ROOT / "docs" / "gallery.md"), help="the gallery page to write")
    parser.add_argument("--only", action="append", help="example name(s) without .py (default: all)")
    parser.add_argument("--size", default="480x270")
    parser.add_argument("--fps", type=int, default=15, help="frame rate of the gallery films")
    parser.add_argument("--frames", type=int, default=60, help="length of the script examples, in frames")
    args = parser.parse_args(argv)
    scripts = sorted(EXAMPLES.glob("*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem in args.only]
        missing = set(args.only) - {s.stem for s in scripts}
        if missing:
            raise SystemExit(f"no example called {sorted(missing)}; have {[s.stem for s in sorted(EXAMPLES.glob('*.py'))]}")
    out = Path(args.out)
    entries = []
    for script in scripts:
        t0 = time.perf_counter()
        video, poster = render_example(script, out, args.size, args.fps, args.frames)
        size_kb = sum(p.stat().st_size for p in (video, poster) if p is not None) / 1024
        print(f"{script.name}: {time.perf_counter() - t0:.1f} s, {size_kb:.0f} KiB", file=sys.stderr)
        entries.append((script, video, poster))
    if not args.only:
        gallery_page(entries, Path(args.page))


if __name__ == "__main__":
    main()
