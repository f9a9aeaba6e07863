"""Datasets: many seeded variations of one scene file, rendered as labelled items
([`make_dataset`][hybridscene.make_dataset]).

The on-disk layout::

    DIR/manifest.json        format version, the dataset's parameters, per item: seed, prompt,
                             parameters and a digest (rewritten atomically after every item)
    DIR/coco.json            every item's labels/coco.json merged (file_name prefixed with
                             ``{k:06d}/labels/``; images and annotations carry ``item``)
    DIR/000000/labels/       the label sink: coco.json, cameras.json, objects.json, images/*.png
                             (the frames themselves: no video is written)
    DIR/000000/passes/       the chosen render passes (PNG/.npy files, or one EXR per frame)
    DIR/000001/ ...
    DIR/.lock, DIR/.locks/   the manifest's lock and one lock per item being made (shards, Ray
                             workers and reruns may share DIR)

Item ``k`` is built from ``build_scene(seed=seed + k, prompt=prompts[k % len(prompts)],
model=model, size=size)`` (see `hybridscene.scenefile`). It is rendered into a hidden temporary
folder inside ``DIR`` (`hybridscene.atomic.temp_name`) and renamed to ``DIR/{k:06d}`` only when
complete, so a killed process leaves at most a temporary folder, which the next run removes.

A rerun resumes: an item whose folder exists, whose manifest entry has the same parameters and
whose files still match its digest is skipped; a missing, damaged or unrecorded one is rendered
again. The dataset's parameters (scene file contents, seed, prompts, model, plate options,
length, size, passes, format) are fixed when ``DIR`` is made; a rerun with other values is an
error, except ``count``, which may grow (new items are added).

Digests: sha256 over the sorted relative paths and contents of an item's files, except that the
wall-clock fields of a COCO file's ``info`` (``date_created``, ``year``) and the folders'
``manifest.json`` (which record the machine: GL renderer, versions) are left out; so the same
command in two folders, or on Ray's workers, gives items with equal digests.

Plates: a scene that paints its plate with ``hs.background_plate(size, model=model, ...)`` goes
through the plate cache, so each distinct plate spec (model, prompt, seed, size, settings) is
painted once and loaded from the cache for every later item that asks for it (the cache is
content-addressed and shared across runs and processes). A scene that passes the item's seed to
the plate gets a new plate per item, by design.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_path, remove, remove_stale, temp_name, translate_os_errors
from ..errors import Cancelled, ConfigError, SceneError, SinkError

if TYPE_CHECKING:
    import numpy as np

    from ..gpu.context import GLContext

__all__ = ["DatasetProgress", "DatasetResult", "make_dataset"]

log = logging.getLogger(__name__)

FORMAT = "hybridscene-dataset"
VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_DATASET_PASSES: tuple[str, ...] = ("depth", "ids", "normals", "flow")
_COCO_CLOCK_FIELDS = ("date_created", "year")


@dataclasses.dataclass(frozen=True)
class DatasetResult:
    """What [`make_dataset`][hybridscene.make_dataset] did."""

    out: Path
    """The dataset folder."""
    done: int
    """Items rendered in this run."""
    skipped: int
    """Items already complete and verified (not rendered again)."""
    seconds: float
    """Wall-clock seconds of the whole run."""

    @property
    def items(self) -> int:
        """Items in the dataset (``done + skipped``)."""
        return self.done + self.skipped


@dataclasses.dataclass(frozen=True)
class DatasetProgress:
    """What a progress callback receives after each item (rendered or skipped)."""

    item: int
    """Index of the item just finished (0-based)."""
    finished: int
    """Items finished so far in this run, rendered or skipped."""
    total: int
    """Items in the dataset."""
    skipped: bool
    """The item was already complete and was not rendered again."""
    elapsed: float
    """Wall-clock seconds since the run started."""


DatasetProgressCallback = Callable[[DatasetProgress], Any]
"""Called after every item; return ``False`` to stop (finished items stay)."""


class _Discard:
    """A sink that drops the frames: an item's frames are its labels' ``images/``."""

    def write(self, frame: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


# -- validation --------------------------------------------------------------------------------

def _check_count(count: Any) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"count must be a positive integer (items to make), got {count!r}; give e.g. --count 10")
    return count


def _read_prompts(prompts: Any) -> list[str] | None:
    """A list of prompts, or a text file with one prompt per non-empty line."""
    if prompts is None:
        return None
    if isinstance(prompts, (str, os.PathLike)):
        path = Path(prompts)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"prompts file {str(path)!r} does not exist; give a text file with one prompt "
                              "per line") from None
        except IsADirectoryError:
            raise ConfigError(f"prompts file {str(path)!r} is a folder; give a text file with one prompt "
                              "per line") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"prompts file {str(path)!r} is not UTF-8 text ({exc.reason} at byte "
                              f"{exc.start}); save it as UTF-8, one prompt per line") from None
        except OSError as exc:
            raise ConfigError(f"cannot read the prompts file {str(path)!r}: {exc.strerror or exc}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise ConfigError(f"prompts file {str(path)!r} has no prompt; write one prompt per line")
        return lines
    if not isinstance(prompts, Iterable):
        raise ConfigError(f"prompts must be a list of strings or a text file, got {type(prompts).__name__}")
    out = list(prompts)
    bad = [p for p in out if not isinstance(p, str) or not p.strip()]
    if bad or not out:
        raise ConfigError(f"prompts must be a non-empty list of non-empty strings, got {bad[0] if bad else out!r}")
    return [p.strip() for p in out]


def _jsonable(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))


def _scene_digest(path: Path) -> str:
    if not path.is_file():
        raise ConfigError(f"scene file {str(path)!r} does not exist; check the path")
    if path.suffix != ".py":
        raise ConfigError(f"scene file {str(path)!r} is not a .py file; give a Python file defining build_scene()")
    with translate_os_errors(path, ConfigError):
        return hashlib.sha256(path.read_bytes()).hexdigest()


# -- digests and the manifest ------------------------------------------------------------------

def _file_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name != "coco.json":
        return data
    try:  # the wall-clock date in a COCO file's info is not part of the item
        coco = json.loads(data)
        info = coco.get("info") if isinstance(coco, dict) else None
    except ValueError:
        return data
    if not isinstance(info, dict):
        return data
    for key in _COCO_CLOCK_FIELDS:
        info.pop(key, None)
    return json.dumps(coco, sort_keys=True, separators=(",", ":")).encode()


def item_digest(folder: str | os.PathLike[str]) -> tuple[str, int]:
    """``("sha256:<hex>", files)``: a digest of every file under ``folder`` (sorted relative
    paths and contents; COCO ``info`` dates and ``manifest.json`` files left out) and how many
    files there are."""
    root = Path(folder)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode("utf-8") + b"\0")
        h.update(hashlib.sha256(_file_bytes(root / rel)).digest())
    return "sha256:" + h.hexdigest(), len(files)


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    with atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n", encoding="utf-8")


_TEMP = re.compile(r"^(\.(\d{6}|manifest\.json|coco\.json)\.\d+@[A-Za-z0-9-]+\.[0-9a-f]{8}\.[a-z]+|\.lock|\.locks)$")
_ITEM = re.compile(r"^\d{6}$")


def _open_manifest(out: Path, params: dict[str, Any], count: int) -> dict[str, Any]:
    """The manifest of ``out`` (made, or read and checked against ``params`` and ``count``)."""
    with translate_os_errors(out, SinkError):
        path = out / MANIFEST
        if not path.exists():
            others = sorted(e.name for e in os.scandir(out) if not _TEMP.match(e.name))
            if others:
                raise ConfigError(f"folder {str(out)!r} is not empty and has no {MANIFEST} (it holds "
                                  f"{', '.join(others[:3])}); it is not a hybridscene dataset: use a new --out "
                                  "or an empty folder")
            manifest = {"format": FORMAT, "version": VERSION, "count": count, "parameters": params, "items": {}}
            _write_manifest(out, manifest)
            return manifest
        text = path.read_text(encoding="utf-8")
    try:
        manifest = json.loads(text)
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("items"), dict):
            raise ValueError("not a hybridscene dataset manifest")
    except (ValueError, AttributeError) as exc:
        raise ConfigError(f"{path} is damaged or not a dataset manifest ({exc}); delete the folder "
                          f"{str(out)!r} or use a new --out") from None
    if manifest.get("version") != VERSION:
        raise ConfigError(f"{path} has format version {manifest.get('version')!r}, this hybridscene writes "
                          f"{VERSION}; use a new --out or delete the folder")
    old = manifest.get("parameters", {})
    changed = [k for k in sorted(set(old) | set(params)) if old.get(k) != params.get(k)]
    if changed:
        what = ", ".join(f"{k} {old.get(k)!r} -> {params.get(k)!r}" for k in changed)
        raise ConfigError(f"dataset {str(out)!r} was made with other parameters ({what}); use a new --out "
                          "or delete the folder to start over")
    if count < int(manifest.get("count", 0)):
        raise ConfigError(f"dataset {str(out)!r} has {manifest['count']} items and count only grows; give "
                          f"--count {manifest['count']} or more, a new --out, or delete the folder")
    if manifest.get("count") != count:
        manifest["count"] = count
        _write_manifest(out, manifest)
    return manifest


# -- the dataset -------------------------------------------------------------------------------

def make_dataset(
    scene_file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    count: int,
    seed: int = 0,
    prompts: Iterable[str] | str | os.PathLike[str] | None = None,
    model: str | None = None,
    plate_options: Mapping[str, Any] | None = None,
    frames: int | None = None,
    seconds: float | None = None,
    fps: float | None = None,
    size: tuple[int, int] | str | None = None,
    passes: Any = DEFAULT_DATASET_PASSES,
    layer_format: str = "png",
    progress: bool | DatasetProgressCallback = False,
    shard: tuple[int, int] | str | None = None,
    ray: Any = None,
) -> DatasetResult:
    """Render ``count`` variations of a scene file into ``out`` as a labelled dataset (see the
    module docstring for the layout, resuming and digests).

    ``make_dataset("cars.py", "data/", count=100, prompts="prompts.txt", model="stabilityai/sd-turbo")``

    Args:
        scene_file: a ``.py`` file defining ``build_scene()`` (see `hybridscene.scenefile`).
        out: the dataset folder (made if missing); an existing dataset is resumed.
        count: number of items.
        seed: item ``k`` gets ``build_scene(seed=seed + k)``.
        prompts: a list, or a UTF-8 text file with one prompt per non-empty line; item ``k`` gets
            ``prompt=prompts[k % len(prompts)]``.
        model: passed to ``build_scene(model=...)`` (the AI plate's model).
        plate_options: settings of the AI plate (``steps``, ``guidance``, ...; see
            `load_scene_file`). ``acceleration`` changes speed, not the dataset, and is not
            recorded.
        frames: the length of every item in frames (or give ``seconds``; default: the scene
            file's ``DURATION``, else 4 s).
        seconds: the length of every item in seconds.
        fps: frames per second (default: the file's ``FPS``, else 30).
        size: ``(width, height)`` or ``"WxH"`` (default: the file's ``SIZE``, else 1280x720).
        passes: render passes per item (names, comma-separated or ``"all"``; see
            `hybridscene.compose.passes`).
        layer_format: ``"png"`` or ``"exr"`` for the passes.
        progress: ``True`` for a bar over items on stderr, or a callback receiving
            `DatasetProgress` after each item (return ``False`` to stop).
        shard: ``(k, n)`` or ``"k/n"``: make only shard ``k`` (from 0) of ``n`` contiguous,
            near-equal parts of the items, e.g. one task of a Slurm array. Shards may run at once
            on machines that share ``out``: each item, and the manifest, is locked while written;
            the run that finishes the last item writes ``coco.json``.
        ray: make the items on a Ray cluster (a [`RayExecutor`][hybridscene.RayExecutor]); the workers write the items into ``out``,
            which every node must see. The items and digests are those of a run here.

    Returns:
        A `DatasetResult`.

    Raises:
        ConfigError: a bad count, prompts, length, size or passes; a missing scene file; ``out``
            made with other parameters, or not a dataset.
        SceneError: the scene file fails to import or build (the message names the item and seed).
        Cancelled: the callback returned ``False``; finished items stay, the current one is not.
    """
    from .._validate import check_fps, check_size
    from ..compose.passes import check_passes
    from .driver import frame_count

    # 1. Validate everything before any work.
    t0 = time.perf_counter()
    count = _check_count(count)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    prompt_list = _read_prompts(prompts)
    if size is not None:
        size = check_size(size)
    if fps is not None:
        fps = check_fps(fps)
    frame_count(frames, seconds, 30.0 if fps is None else fps)
    chosen = check_passes(passes)
    if layer_format not in ("png", "exr"):
        raise ConfigError(f"layer_format must be 'png' or 'exr', got {layer_format!r}")
    if layer_format == "exr":
        from ..sinks.exr import require_openexr

        require_openexr()
    if progress is not False and progress is not True and not callable(progress):
        raise ConfigError(f"progress must be True, False or a callable, got {progress!r}")
    scene_path = Path(scene_file).resolve()
    options = dict(plate_options or {})
    params = _jsonable({
        "scene": scene_path.name, "scene_sha256": _scene_digest(scene_path), "seed": seed, "prompts": prompt_list,
        "model": model, "plate_options": {k: v for k, v in sorted(options.items()) if k != "acceleration"},
        "frames": frames, "seconds": seconds, "fps": fps, "size": list(size) if size else None,
        "passes": list(chosen), "layer_format": layer_format,
    })
    from .shards import parse_shard, shard_range

    shard = parse_shard(shard, "shard")
    items = shard_range(shard[0], shard[1], count) if shard is not None else range(count)
    if ray is not None:
        from .driver import _executor

        _executor(ray)
        if shard is not None:
            raise ConfigError("shard= makes one part of the items here; ray= makes all of them on the cluster: give one")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder for the dataset")
    with translate_os_errors(out, SinkError):
        out.mkdir(parents=True, exist_ok=True)


    # 2. Items are locked one by one (shards and Ray workers share the folder); the manifest is
    #    read and rewritten under the folder's lock.
    done, skipped = _run(scene_path, out, params, count, items, prompt_list, seed=seed, model=model,
                         plate_options=options, frames=frames, seconds=seconds, fps=fps, size=size,
                         passes=chosen, layer_format=layer_format, progress=progress, t0=t0, ray=ray)
    elapsed = time.perf_counter() - t0
    log.info("dataset %s: %d items rendered, %d skipped in %.2f s", out, done, skipped, elapsed)
    return DatasetResult(out=out, done=done, skipped=skipped, seconds=elapsed)


@contextlib.contextmanager
def _locked(out: Path, name: str | None = None) -> Iterator[None]:
    """The folder's manifest lock (``name=None``, waited for), or item ``name``'s (not waited
    for: another run making the same item is an error)."""
    from filelock import FileLock, Timeout

    if name is not None:
        with translate_os_errors(out, SinkError):
            (out / ".locks").mkdir(exist_ok=True)
    lock = FileLock(out / (".lock" if name is None else f".locks/{name}.lock"))
    try:
        lock.acquire(timeout=120 if name is None else 0)
    except Timeout:
        what = "its manifest" if name is None else f"item {name}"
        raise ConfigError(f"another run is writing the dataset {str(out)!r} ({what}); wait for it to finish or use a "
                          "new --out") from None
    try:
        yield
    finally:
        lock.release()


def _record(out: Path, name: str, entry: dict[str, Any] | None) -> dict[str, Any]:
    """Set (or, with ``None``, drop) item ``name`` in the manifest on disk, under the lock, and
    return the manifest: other shards and workers write theirs into the same file."""
    with _locked(out):
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        if entry is None:
            manifest["items"].pop(name, None)
        else:
            manifest["items"][name] = entry
        manifest["items"] = dict(sorted(manifest["items"].items()))
        _write_manifest(out, manifest)
    return manifest


def item_params_of(params: dict[str, Any], k: int, seed: int, prompt_list: list[str] | None) -> dict[str, Any]:
    """The recorded parameters of item ``k``."""
    item = {**params, "seed": seed + k, "prompt": prompt_list[k % len(prompt_list)] if prompt_list else None}
    item.pop("prompts")
    return item


def _run(scene_path: Path, out: Path, params: dict[str, Any], count: int, items: range,
         prompt_list: list[str] | None, *, seed: int, model: str | None, plate_options: dict[str, Any],
         frames: int | None, seconds: float | None, fps: float | None, size: tuple[int, int] | None,
         passes: tuple[str, ...], layer_format: str, progress: bool | DatasetProgressCallback, t0: float,
         ray: Any = None) -> tuple[int, int]:
    """Steps 3-6 of `make_dataset`; returns ``(done, skipped)``."""
    # 3. Open (or resume) the dataset: stale temporaries of killed runs go first.
    with _locked(out):
        manifest = _open_manifest(out, params, count)
    for name in [f"{k:06d}" for k in items] + [MANIFEST, "coco.json"]:
        for stale in remove_stale(out / name):
            log.info("removed %s, left by a killed run", stale)
    make = dict(scene_path=scene_path, out=out, model=model, plate_options=plate_options, frames=frames,
                seconds=seconds, fps=fps, size=size, passes=passes, layer_format=layer_format)
    if ray is not None:
        done, skipped = ray.make_items(manifest, items, lambda k: item_params_of(params, k, seed, prompt_list), make,
                                       progress=progress, t0=t0)
    else:
        done, skipped = _make_here(manifest, items, lambda k: item_params_of(params, k, seed, prompt_list), make,
                                   progress=progress, t0=t0)

    # 6. One COCO file for the whole dataset, by the run that finds every item done.
    from ..sinks.labels import merge_coco

    with _locked(out):
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        if all(f"{k:06d}" in manifest["items"] for k in range(count)):
            merge_coco([(out / f"{k:06d}" / "labels" / "coco.json", f"{k:06d}/labels") for k in range(count)],
                       out / "coco.json")
        else:
            log.info("dataset %s: %d of %d items done; coco.json is written by the run that makes the last one",
                     out, len(manifest["items"]), count)
    return done, skipped


def _make_here(manifest: dict[str, Any], items: range, item_params: Callable[[int], dict[str, Any]],
               make: dict[str, Any], *, progress: Any, t0: float) -> tuple[int, int]:
    """Steps 4-5 in this process, item after item."""
    out = make["out"]
    bar = None
    ctx: GLContext | None = None
    done = skipped = 0
    try:
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(items), unit="item", desc=out.name or "dataset")
        for n, k in enumerate(items, 1):
            name = f"{k:06d}"
            params = item_params(k)
            # 4. A finished item whose files still match its digest is kept.
            was_skipped = _is_complete(out / name, manifest["items"].get(name), params)
            if was_skipped:
                skipped += 1
                log.info("item %s: complete, skipped", name)
            else:
                with _locked(out, name):
                    _clear_item(out, name)
                    # 5. Render the item into a temporary folder, then rename it into place.
                    if ctx is None:
                        from ..gpu.context import create_context

                        ctx = create_context()
                    entry = _make_item(name=name, item_params=params, ctx=ctx, **make)
                    manifest = _record(out, name, entry)
                done += 1
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                info = DatasetProgress(item=k, finished=n, total=len(items), skipped=was_skipped,
                                       elapsed=time.perf_counter() - t0)
                if progress(info) is False:
                    raise Cancelled(f"dataset cancelled by the progress callback after {n} of {len(items)} items")
    finally:
        if bar is not None:
            bar.close()
        if ctx is not None:
            ctx.release()
    return done, skipped


def _clear_item(out: Path, name: str) -> None:
    """Remove a damaged or unrecorded item before it is made again."""
    if os.path.lexists(out / name):
        log.info("item %s: damaged or unrecorded, rendering it again", name)
        remove(out / name)
        _record(out, name, None)


def _is_complete(final: Path, entry: Any, item_params: dict[str, Any]) -> bool:
    if not isinstance(entry, dict) or not final.is_dir() or entry.get("parameters") != item_params:
        return False
    try:
        digest, _ = item_digest(final)
    except OSError:
        return False
    return digest == entry.get("digest")


def _make_item(*, scene_path: Path, out: Path, name: str, item_params: dict[str, Any], model: str | None,
               plate_options: dict[str, Any], frames: int | None, seconds: float | None, fps: float | None,
               size: tuple[int, int] | None, passes: tuple[str, ...], layer_format: str,
               ctx: GLContext) -> dict[str, Any]:
    """Build, render and publish one item; return its manifest entry."""
    from ..scenefile import load_scene_file
    from .driver import render

    seed, prompt = item_params["seed"], item_params["prompt"]
    t0 = time.perf_counter()
    tmp = temp_name(out / name)
    with translate_os_errors(tmp, SinkError):
        tmp.mkdir()
    try:
        try:
            loaded = load_scene_file(scene_path, plate_options=plate_options, size=size, seed=seed, model=model,
                                     prompt=prompt)
        except SceneError as exc:
            raise SceneError(f"item {name} (seed {seed}): {exc}") from exc
        item_size = size or loaded.size or (1280, 720)
        item_fps = fps if fps is not None else (loaded.fps or 30.0)
        if frames is None and seconds is None:
            seconds = loaded.duration or 4.0
        result = render(loaded.scene, _Discard(), frames=frames, seconds=seconds, fps=item_fps, size=item_size,
                        ctx=ctx, layers=tmp / "passes", passes=passes, layer_format=layer_format,
                        labels=tmp / "labels")
        digest, files = item_digest(tmp)
        with translate_os_errors(out / name, SinkError):
            os.replace(tmp, out / name)
    except BaseException:
        remove(tmp)
        raise
    log.info("item %s: seed %d, %d frames in %.2f s", name, seed, result.frames, time.perf_counter() - t0)
    return {"seed": seed, "prompt": prompt, "parameters": item_params,
            "render": {"size": list(result.size), "fps": result.fps, "frames": result.frames},
            "digest": digest, "files": files}
