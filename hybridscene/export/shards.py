"""Frame ranges and shards: render part of a film anywhere, join the parts later.

Frame ``i`` of a render always has the time `frame_time` ``(i, fps, start)``, computed from the
integer index, so frames ``a..b`` rendered alone are byte-identical to the same frames of a whole
render. `frame_range` turns ``--frames A:B`` or ``--shard K/N`` into the indices to render;
every folder a render writes carries a ``manifest.json`` (`hybridscene.sinks.manifest`), which
[`assemble`][hybridscene.assemble] reads to check that shards cover the film exactly once before
it joins them::

    hybridscene render film.py -o parts/0/ --shard 0/4     # on four machines, or a Slurm array
    ...
    hybridscene render film.py -o parts/3/ --shard 3/4
    hybridscene assemble parts/* -o film.mp4               # encoded once, in order
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import MAX_FRAMES
from ..errors import ConfigError, SinkError
from ..sinks.manifest import MANIFEST, frame_digest, read_manifest

__all__ = ["AssembleResult", "assemble", "frame_range", "parse_frames", "parse_shard", "shard_range"]

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_frames(value: str | int | range | None, what: str = "--frames") -> int | range | None:
    """``"300"`` -> ``300`` (a count), ``"100:200"`` -> ``range(100, 200)`` (half-open: frames
    100 to 199); an int or a range is checked and returned.

    Raises:
        ConfigError: anything else, in one line naming ``what``.
    """
    if value is None or isinstance(value, range):
        if isinstance(value, range) and (value.step != 1 or value.start < 0 or value.stop <= value.start):
            raise ConfigError(f"{what} range({value.start}, {value.stop}, {value.step}) must be an increasing "
                              "range of frame indices >= 0 with step 1, e.g. range(100, 200)")
        return value
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a count or a range A:B, got {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    m = _RANGE.match(text)
    if m is None:
        raise ConfigError(f"{what} {value!r} is neither a frame count (300) nor a half-open range A:B (100:200)")
    start, stop = int(m.group(1)), int(m.group(2))
    if stop <= start:
        raise ConfigError(f"{what} {value!r} is empty: a range A:B holds frames A to B-1, so B must be more than A")
    return range(start, stop)


def parse_shard(value: str | tuple[int, int] | None, what: str = "--shard") -> tuple[int, int] | None:
    """``"3/8"`` -> ``(3, 8)``: shard 3 of 8, counting from 0.

    Raises:
        ConfigError: not ``K/N`` with ``0 <= K < N``.
    """
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        k, n = value
    else:
        m = re.match(r"^\s*(\d+)\s*/\s*(\d+)\s*$", str(value)) if isinstance(value, str) else None
        if m is None:
            raise ConfigError(f"{what} {value!r} is not K/N (shard K of N, K from 0), e.g. 0/4")
        k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= k < n:
        raise ConfigError(f"{what} {k}/{n}: K counts from 0 and must be less than N (the last of 4 shards is 3/4)")
    return k, n


def shard_range(k: int, n: int, total: int) -> range:
    """Shard ``k`` of ``n`` of ``total`` items: contiguous, near-equal ranges (sizes differ by at
    most one) that cover ``range(total)`` exactly once, in order.

    Raises:
        ConfigError: more shards than items (a shard would be empty).
    """
    if n > total:
        raise ConfigError(f"{n} shards of {total} frames or items would leave shards empty; use at most {total} shards")
    return range(k * total // n, (k + 1) * total // n)


def frame_range(frames: int | range | None, shard: tuple[int, int] | None, count: int) -> tuple[range, int | None]:
    """The frame indices a render draws and the length of the whole render (``None`` when only
    a range was given): ``count`` frames from 0, an explicit ``range``, or shard ``(k, n)`` of
    ``count``."""
    if isinstance(frames, range):
        if shard is not None:
            raise ConfigError("give either a frame range (frames A:B) or a shard (K/N), not both")
        if frames.stop > MAX_FRAMES:
            raise ConfigError(f"frames {frames.start}:{frames.stop} go past the limit of {MAX_FRAMES:,} frames")
        return frames, None
    if shard is not None:
        return shard_range(shard[0], shard[1], count), count
    return range(count), count


def check_part_target(folder: Any, indices: range) -> None:
    """Refuse to write part of a render (a range or a shard) into a folder that holds frames
    outside it: replacing the folder would delete them. A rerun of the same part is fine.

    Raises:
        ConfigError: the folder holds other frames, in one line naming them.
    """
    path = Path(folder)
    if not path.is_dir():
        return
    held: set[int] = set()
    manifest = path / MANIFEST
    try:
        if manifest.is_file():
            m = json.loads(manifest.read_text(encoding="utf-8"))
            held.update(range(int(m["frames"]["start"]), int(m["frames"]["stop"])))
        for sub in (path, path / "images"):
            if sub.is_dir():
                held.update(int(m.group(1)) for e in os.scandir(sub) if (m := _INDEXED.match(e.name)))
    except (OSError, ValueError, KeyError, TypeError):
        return  # not a folder this library wrote: the sink's own check refuses it
    outside = sorted(held - set(indices))
    if outside:
        raise ConfigError(f"{str(folder)!r} holds frames {outside[0]}..{outside[-1]} of an earlier render; writing "
                          f"frames {indices.start}:{indices.stop} there would delete them: give each part its own "
                          "folder (and join them with hybridscene assemble)")


_INDEXED = re.compile(r"^(\d{5,})\.")


# -- assembling --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AssembleResult:
    """What [`assemble`][hybridscene.assemble] wrote."""

    path: str
    """The output."""
    frames: int
    """Frames written."""
    parts: int
    """Folders joined."""
    fps: float
    size: tuple[int, int]
    seconds: float
    """Wall-clock seconds."""


def _check_cover(parts: list[tuple[Path, dict[str, Any]]]) -> range:
    """The frames the parts hold together, checked: same kind, size, fps and film; no frame
    missing or held twice."""
    parts.sort(key=lambda p: (p[1]["frames"]["start"], p[1]["frames"]["stop"]))
    first = parts[0][1]
    for path, m in parts[1:]:
        for key, what in (("kind", "kind"), ("size", "size"), ("fps", "fps"), ("start_time", "start time"),
                          ("total", "length of the whole render")):
            if m.get(key) != first.get(key):
                raise SinkError(f"{path} differs from {parts[0][0]} in {what} ({m.get(key)!r} vs {first.get(key)!r}); "
                                "give the parts of one render")
        scene_a, scene_b = first.get("scene") or {}, m.get("scene") or {}
        for key, what in (("sha256", "scene file"), ("options", "build_scene arguments (--seed, --model...)"),
                          ("plate_options", "plate options")):
            if key in scene_a and key in scene_b and scene_a[key] != scene_b[key]:
                raise SinkError(f"{path} was rendered with other {what} than {parts[0][0]}; give the parts of one "
                                "render")
    renderers = sorted({str((m.get("gl") or {}).get("renderer")) for _, m in parts if m.get("gl")})
    if len(renderers) > 1:
        log.warning("the parts were drawn with different GL renderers (%s): their frames may differ from a render on "
                    "one of them", ", ".join(renderers))
    expect = 0 if first.get("total") is not None else first["frames"]["start"]
    for prev_path, (path, m) in zip([None, *(p for p, _ in parts[:-1])], parts):
        start, stop = m["frames"]["start"], m["frames"]["stop"]
        if start > expect:
            raise SinkError(f"frames {expect}:{start} are missing: no part holds them (next is {path}); "
                            "render them (--frames A:B) or add the missing shard")
        if start < expect:
            raise SinkError(f"frames {start}:{min(expect, stop)} are in two parts, {prev_path} and {path}; "
                            "give each frame once")
        expect = stop
    total = first.get("total")
    if total is not None and expect != total:
        raise SinkError(f"frames {expect}:{total} are missing: the whole render has {total} frames and the last "
                        f"part ({parts[-1][0]}) ends at {expect}; add the missing shard")
    return range(parts[0][1]["frames"]["start"], expect)


def assemble(
    parts: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    verify: bool = True,
    progress: Callable[[int, int], Any] | None = None,
    **sink_options: Any,
) -> AssembleResult:
    """Join the PNG-sequence folders of a render's shards (or ``--frames A:B`` parts) into one
    output, in frame order: a video, a GIF or a PNG sequence (``DIR/``). ``--labels`` and
    ``--layers`` folders are joined into one folder (labels: one ``coco.json``, ``cameras.json``
    and ``objects.json`` as a whole render writes them).

    Args:
        parts: the folders, in any order; each has the ``manifest.json`` its render wrote.
        output: ``.mp4``/``.mov``/``.mkv``, ``.gif`` or ``DIR/`` (frames); a folder (layers, labels).
        verify: check each frame read back against its manifest digest (a damaged or changed
            file is an error naming it).
        progress: ``progress(done, total)`` after each frame.
        sink_options: passed to the video sink (``crf=``, ``preset=``...).

    Raises:
        SinkError: a folder without a manifest, parts of different renders, a frame missing or
            held twice, a frame that does not match its digest. Nothing is left under ``output``.
    """
    t0 = time.perf_counter()
    if not parts:
        raise ConfigError("assemble needs at least one folder")
    loaded = [(Path(p), read_manifest(p)) for p in parts]
    kind = loaded[0][1]["kind"]
    cover = _check_cover(loaded)
    size, fps = loaded[0][1]["size"], loaded[0][1]["fps"]
    if kind == "frames":
        count = _assemble_frames(loaded, output, size, fps, verify, progress, sink_options)
    elif kind in ("layers", "exr", "labels"):
        if sink_options:
            raise ConfigError(f"{', '.join(sink_options)}: options of a video; --{kind} folders are joined as files")
        if verify:
            _verify_folders(loaded, kind, progress)
        count = _assemble_folders(loaded, Path(output), kind, cover)
    else:
        raise SinkError(f"{loaded[0][0]} holds {kind!r}, which assemble does not join")
    return AssembleResult(path=os.fspath(output), frames=count, parts=len(loaded), fps=fps, size=size,
                          seconds=time.perf_counter() - t0)


def _assemble_frames(loaded: list[tuple[Path, dict[str, Any]]], output: Any, size: tuple[int, int], fps: float,
                     verify: bool, progress: Callable[[int, int], Any] | None, sink_options: dict[str, Any]) -> int:
    from PIL import Image

    from ..sinks import PngSequenceSink, VideoSink, sink_class

    cls = sink_class(output)
    if cls is VideoSink and VideoSink.fit_size(size) != size:
        raise SinkError(f"the parts are {size[0]}x{size[1]}, which a video cannot hold (odd size); "
                        "assemble into a PNG sequence (-o DIR/) or a GIF")
    total = sum(len(m["digests"]) for _, m in loaded)
    sink = cls(output, size=size, fps=fps, **sink_options)
    done = 0
    try:
        if isinstance(sink, PngSequenceSink):
            sink.first_frame = loaded[0][1]["frames"]["start"]
            sink.manifest = {k: loaded[0][1].get(k) for k in ("total", "start_time", "gl", "versions", "scene")}
        for folder, m in loaded:
            for j, digest in enumerate(m["digests"]):
                i = m["frames"]["start"] + j
                path = folder / f"{i:05d}.png"
                try:
                    with Image.open(path) as im:
                        frame = np.asarray(im.convert("RGB"))
                except (OSError, ValueError) as exc:
                    raise SinkError(f"cannot read frame {i} ({path}): {exc}") from None
                if frame.shape != (size[1], size[0], 3):
                    raise SinkError(f"frame {i} ({path}) is {frame.shape[1]}x{frame.shape[0]}, not {size[0]}x{size[1]}")
                if verify and frame_digest(frame) != digest:
                    raise SinkError(f"frame {i} ({path}) does not match the digest in {folder / MANIFEST}: the file "
                                    "changed or is damaged; render that part again")
                sink.write(frame)
                done += 1
                if progress is not None:
                    progress(done, total)
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return done


def _assemble_folders(loaded: list[tuple[Path, dict[str, Any]]], output: Path, kind: str, cover: range) -> int:
    """Layers, EXR or labels folders: files copied into one folder, their JSON files joined."""
    from ..atomic import atomic_dir

    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise SinkError(f"{str(output)!r} exists and is not an empty folder; choose a new folder for the joined {kind}")
    if not output.parent.exists():
        raise SinkError(f"output folder {str(output.parent)!r} does not exist; create it first")
    joined_json = {"ids.json", "coco.json", "cameras.json", "objects.json", MANIFEST}
    with atomic_dir(output, error=SinkError) as tmp:
        for folder, _ in loaded:
            for src in sorted(folder.rglob("*")):
                rel = src.relative_to(folder)
                if src.is_dir() or rel.as_posix() in joined_json:
                    continue
                dst = tmp / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.exists():
                    raise SinkError(f"{rel} is in two parts; give each frame once")
                shutil.copy2(src, dst)
        ids: dict[str, str] = {}
        for folder, _ in loaded:
            if (folder / "ids.json").is_file():
                for key, name in _read_json(folder / "ids.json").items():
                    if ids.setdefault(key, name) != name:
                        raise SinkError(f"node id {key} is {ids[key]!r} in one part and {name!r} in {folder}: the parts "
                                        "number their objects differently (a scene that adds nodes while it plays); "
                                        "render it whole, or without shards")
        if ids:
            (tmp / "ids.json").write_text(json.dumps(dict(sorted(ids.items(), key=lambda kv: int(kv[0]))), indent=1))
        if kind == "labels":
            _join_labels([folder for folder, _ in loaded], tmp)
        first = loaded[0][1]
        manifest = {**first, "frames": {"start": cover.start, "stop": cover.stop}, "shard": None,
                    "digests": [d for _, m in loaded for d in m["digests"]]}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return len(cover)


def _verify_folders(loaded: list[tuple[Path, dict[str, Any]]], kind: str,
                    progress: Callable[[int, int], Any] | None) -> None:
    """Check each frame's displayed image against its digest where the folder holds it
    (``composite.png`` of layers, ``images/`` of labels; an EXR holds linear light, not the
    8-bit frame, and is not checked)."""
    from PIL import Image

    total = sum(len(m["digests"]) for _, m in loaded)
    done = 0
    for folder, m in loaded:
        for j, digest in enumerate(m["digests"]):
            i = m["frames"]["start"] + j
            path = folder / (f"images/{i:05d}.png" if kind == "labels" else f"{i:05d}.composite.png")
            done += 1
            if kind == "exr" or not path.is_file():
                continue
            try:
                with Image.open(path) as im:
                    frame = np.asarray(im.convert("RGB"))
            except (OSError, ValueError) as exc:
                raise SinkError(f"cannot read frame {i} ({path}): {exc}") from None
            if frame_digest(frame) != digest:
                raise SinkError(f"frame {i} ({path}) does not match the digest in {folder / MANIFEST}: the file "
                                "changed or is damaged; render that part again")
            if progress is not None:
                progress(done, total)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SinkError(f"cannot read {str(path)!r}: {exc}") from None


def _join_labels(folders: list[Path], out: Path) -> None:
    """One ``coco.json``, ``cameras.json`` and ``objects.json`` for the joined frames, as a whole
    render writes them: images keep their ids (frame index + 1), annotations are numbered in frame
    order, categories by sorted name."""
    from ..sinks.labels import _dump

    cocos = [_read_json(f / "coco.json") for f in folders]
    names = sorted({c["name"] for coco in cocos for c in coco["categories"]})
    category_id = {name: k for k, name in enumerate(names, 1)}
    annotations = []
    for coco in cocos:
        by_id = {c["id"]: c["name"] for c in coco["categories"]}
        for a in coco["annotations"]:
            annotations.append({**a, "id": len(annotations) + 1, "category_id": category_id[by_id[a["category_id"]]]})
    coco = {**cocos[0], "images": [im for c in cocos for im in c["images"]],
            "categories": [{"id": category_id[n], "name": n, "supercategory": "object"} for n in names],
            "annotations": annotations}
    _dump(coco, out / "coco.json")
    cameras = [_read_json(f / "cameras.json") for f in folders]
    _dump({**cameras[0], "frames": [fr for c in cameras for fr in c["frames"]]}, out / "cameras.json")
    objects = [_read_json(f / "objects.json") for f in folders]
    merged: dict[str, Any] = {}
    for o in objects:
        for track, info in o["objects"].items():
            merged.setdefault(track, info)
    _dump({"objects": {t: merged[t] for t in sorted(merged, key=int)}, "frames": [fr for o in objects for fr in o["frames"]]},
          out / "objects.json")
