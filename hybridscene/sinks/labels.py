"""Ground-truth labels: COCO instance segmentation, cameras and object poses in one folder.

``DIR/`` is written under a temporary name and appears whole when the render finishes::

    DIR/images/00000.png   the frames, 8-bit sRGB (``images=False`` leaves them out)
    DIR/coco.json          COCO instance segmentation: one image per frame, one annotation per
                           instance visible in it (compressed RLE masks from the ``ids`` pass)
    DIR/cameras.json       per frame: intrinsics ``K``, the pose in OpenGL and OpenCV axes, the
                           OpenGL projection; the plate camera when known
    DIR/objects.json       per frame: every labelled instance's pose, boxes and pixel counts
                           (also those fully hidden in that frame)

Read ``coco.json`` with pycocotools (``COCO("DIR/coco.json")``); masks are byte-identical to
``pycocotools.mask.encode`` (see `rle_encode`, written here so that pycocotools is not a
dependency). Annotations carry, beyond COCO: ``track_id`` (the same instance has the same number in
every frame), ``visibility`` (visible / amodal pixels), ``hidden_by_plate`` and ``amodal_area``
(pixels). `merge_coco` joins the ``coco.json`` of several renders into one dataset file.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_path
from ..errors import ConfigError, SinkError
from .images import PngSequenceSink
from .manifest import frame_digest

if TYPE_CHECKING:
    from ..compose.passes import FramePasses, InstanceInfo

__all__ = ["LabelSink", "merge_coco", "rle_encode"]

CONVENTIONS = {
    "opengl": "world_from_camera_opengl: camera pose (camera-to-world, 4x4, column vectors), camera axes "
              "+x right, +y up, looking down -z; projection_opengl maps camera space to clip space "
              "(NDC depth -1..1).",
    "opencv": "world_from_camera_opencv: the same pose with OpenCV axes +x right, +y down, looking down +z "
              "(= world_from_camera_opengl @ diag(1, -1, -1, 1)); K is the 3x3 OpenCV intrinsic matrix in "
              "pixels, OpenCV's pixel coordinates: the centre of the top-left pixel is (0, 0), x right, y down "
              "(so a centred camera has cx = (width - 1) / 2).",
    "units": "metres; image size in pixels; time in seconds of scene time",
}


# -- COCO run-length encoding ------------------------------------------------------------------

def _rle_string(counts: np.ndarray | list[int]) -> str:
    """COCO's compressed string of run lengths (``rleToString`` in pycocotools' ``maskApi.c``):
    from the fourth count on each count is stored as the difference to the count two before; each
    value is written 5 bits at a time, least significant first, as characters ``48 + bits``
    (``+ 32`` when more follow), until the rest is all sign bits."""
    out: list[str] = []
    append = out.append
    counts = np.asarray(counts, np.int64).tolist()
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        while True:
            bits = x & 0x1F
            x >>= 5  # arithmetic shift, as C's on a signed long
            more = x != -1 if bits & 0x10 else x != 0
            if more:
                append(chr(bits + 0x20 + 48))
            else:
                append(chr(bits + 48))
                break
    return "".join(out)


def _runs(flat: np.ndarray) -> np.ndarray:
    """``int64`` run lengths of a flat boolean array, starting with a (possibly empty) run of 0s."""
    n = flat.size
    if n == 0:
        return np.zeros(1, np.int64)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], edges, [n]))
    counts = np.diff(bounds)
    if flat[0]:
        counts = np.concatenate(([0], counts))
    return counts


def rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a binary mask: ``{"size": [h, w], "counts": str}``.

    Byte-identical to ``pycocotools.mask.encode(np.asfortranarray(mask.astype(np.uint8)))`` with
    ``counts`` decoded to ``str`` (runs over the mask in column-major order, first run of 0s).

    Args:
        mask: ``(H, W)`` bool or 0/1 integer array, top row first; any non-zero value is inside.

    Raises:
        ConfigError: the mask is not two-dimensional.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ConfigError(f"rle_encode takes one (H, W) mask, got shape {mask.shape}")
    h, w = mask.shape
    flat = (mask != 0).ravel(order="F")
    return {"size": [int(h), int(w)], "counts": _rle_string(_runs(flat))}


def _segments(labels: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each label 1..n of an ``(H, W)`` label image, the column-major ``(starts, ends)`` of its
    runs (ends exclusive), in order: every instance's mask from one pass over the frame."""
    flat = labels.ravel(order="F")
    size = flat.size
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], edges)).astype(np.int64)
    ends = np.concatenate((edges, [size])).astype(np.int64)
    lab = flat[starts] if size else np.zeros(0, flat.dtype)
    keep = lab > 0
    starts, ends, lab = starts[keep], ends[keep], lab[keep]
    order = np.argsort(lab, kind="stable")  # stable: runs stay in pixel order within a label
    starts, ends, lab = starts[order], ends[order], lab[order]
    split = np.searchsorted(lab, np.arange(1, n + 2))
    return [(starts[split[k]:split[k + 1]], ends[split[k]:split[k + 1]]) for k in range(n)]


def _mask_rle(starts: np.ndarray, ends: np.ndarray, h: int, w: int) -> tuple[dict[str, Any], int, list[float]]:
    """``(rle, area, bbox)`` of a mask given as column-major runs, as pycocotools' ``encode``,
    ``area`` and ``toBbox`` give them (``bbox`` ``[x, y, w, h]``, the tight box of the pixels)."""
    size = h * w
    if starts.size == 0:
        return {"size": [h, w], "counts": _rle_string([size])}, 0, [0.0, 0.0, 0.0, 0.0]
    bounds = np.empty(2 * starts.size + 1, np.int64)
    bounds[0] = 0
    bounds[1::2] = starts
    bounds[2::2] = ends
    counts = np.diff(bounds)
    if ends[-1] < size:
        counts = np.concatenate((counts, [size - ends[-1]]))
    area = int((ends - starts).sum())
    last = ends - 1
    x0, x1 = int(starts[0] // h), int(last[-1] // h)  # column-major: the first and last columns
    wraps = (starts // h) != (last // h)  # a run crossing a column covers rows 0 and h - 1
    if wraps.any():
        y0, y1 = 0, h - 1
    else:
        y0, y1 = int((starts % h).min()), int((last % h).max())
    bbox = [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]
    return {"size": [h, w], "counts": _rle_string(counts)}, area, bbox


# -- JSON helpers ------------------------------------------------------------------------------

def _matrix(value: Any, what: str) -> list | None:
    """A numpy matrix as nested lists of finite floats (``None`` stays ``None``)."""
    if value is None:
        return None
    a = np.asarray(value, np.float64)
    if not np.isfinite(a).all():
        raise SinkError(f"{what} has a non-finite value ({a.tolist()}); labels hold finite numbers only")
    return a.tolist()


def _number(value: float, what: str) -> float:
    x = float(value)
    if not math.isfinite(x):
        raise SinkError(f"{what} is {x}; labels hold finite numbers only")
    return x


def _dump(obj: Any, path: Path) -> None:
    try:
        text = json.dumps(obj, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:  # a bug here: a numpy type or a non-finite number got through
        raise SinkError(f"cannot write {path.name}: {exc}") from exc
    path.write_text(text, encoding="utf-8")


def _info(description: str) -> dict[str, Any]:
    from .._version import __version__

    now = datetime.datetime.now(datetime.timezone.utc)
    return {"description": description, "version": __version__, "year": now.year,
            "contributor": "hybridscene", "url": "", "date_created": now.isoformat(timespec="seconds")}


# -- the sink ----------------------------------------------------------------------------------

class LabelSink(PngSequenceSink):
    """Writes [`FramePasses`][hybridscene.FramePasses] as ground-truth labels into a folder (see
    `hybridscene.sinks.labels` for the layout), atomically: the folder appears whole on `close`.

    Each frame needs the ``ids`` pass and ``instances``. A mask is the pixels of ``ids`` whose node
    id is one of the instance's ``node_ids``; an instance with no such pixel in a frame gets no
    COCO annotation there but stays in ``objects.json`` with ``visible_pixels`` 0.

    Args:
        path: the folder to write; an existing one is replaced if it holds only what this sink writes.
        size: ``(width, height)`` of the frames in pixels.
        fps: frames per second of the render (times come from each frame's ``time``).
        images: write ``images/{i:05d}.png``; when ``False`` the COCO ``file_name`` still names them.
        plate_camera: a JSON-ready description of the plate's camera, written into ``cameras.json``.
    """

    frame_file = re.compile(r"^(images|coco\.json|cameras\.json|objects\.json)$")
    image_file = re.compile(r"^\d{5,}\.png$")
    kind = "labels"

    def __init__(self, path: str | os.PathLike[str], *, size: tuple[int, int], fps: float, images: bool = True,
                 plate_camera: dict[str, Any] | None = None, compress_level: int = 3, first_frame: int = 0) -> None:
        if plate_camera is not None:
            try:
                json.dumps(plate_camera, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"plate_camera must be a JSON-ready dict of finite numbers: {exc}") from exc
        super().__init__(path, size=size, fps=fps, compress_level=compress_level, first_frame=first_frame)
        self.images = bool(images)
        self.plate_camera = plate_camera
        self._images: list[dict[str, Any]] = []
        self._annotations: list[dict[str, Any]] = []  # category by name until close
        self._cameras: list[dict[str, Any]] = []
        self._frames: list[dict[str, Any]] = []
        self._objects: dict[int, dict[str, str]] = {}
        if self.images:
            with self._os_errors():
                (self.tmp_path / "images").mkdir()

    def _check_target(self) -> None:
        super()._check_target()
        images = self.target / "images"
        if images.is_dir():
            with self._os_errors():
                others = sorted(p.name for p in images.iterdir() if not self.image_file.match(p.name))
            if others:
                raise SinkError(f"folder {str(images)!r} holds other files ({', '.join(others[:3])}); "
                                "choose an empty or new folder for the labels")

    def write(self, frame: np.ndarray) -> None:  # pragma: no cover - use write_passes
        raise TypeError("LabelSink takes whole frames' passes: use write_passes()")

    def write_passes(self, fp: FramePasses) -> None:
        """Add one frame: its image (when ``images``), masks, camera and objects."""
        with self._os_errors():
            record = self.files(self.index, fp)
        self.accept(record)

    def files(self, i: int, fp: Any) -> dict[str, Any]:
        """Write frame ``i``'s image and compute its labels (masks, camera, objects); return them
        as its record (see `PngSequenceSink.files`)."""
        self._check(fp.frame)
        ids = fp.passes.get("ids")
        if ids is None:
            raise SinkError("LabelSink needs the 'ids' pass; render with it (passes including 'ids')")
        w, h = self.size
        if ids.shape != (h, w):
            raise SinkError(f"LabelSink expects a ({h}, {w}) ids pass, got {ids.shape}")
        if fp.instances is None:
            raise SinkError("LabelSink needs the frame's instances; render with labels asked for")
        time = _number(fp.time, f"frame {i} time")
        file_name = f"images/{i:05d}.png"
        if self.images:
            from PIL import Image

            Image.fromarray(fp.frame, "RGB").save(self.tmp_path / file_name, format="PNG",
                                                  compress_level=self.compress_level)
        image = {"id": i + 1, "file_name": file_name, "width": w, "height": h, "frame_index": i, "time": time}
        cam = fp.camera
        cw, ch = cam.size
        camera = {
            "frame_index": i, "time": time, "K": _matrix(cam.K, f"frame {i} K"), "width": int(cw), "height": int(ch),
            "world_from_camera_opengl": _matrix(cam.world_from_camera_gl, f"frame {i} camera pose"),
            "world_from_camera_opencv": _matrix(cam.world_from_camera_cv, f"frame {i} camera pose"),
            "projection_opengl": _matrix(cam.projection, f"frame {i} projection"),
            "plate_camera": fp.plate_camera if fp.plate_camera is not None else self.plate_camera,
        }
        instances = fp.instances or ()
        masks = self._masks(ids, instances, i)
        objects, annotations, names = [], [], {}
        for inst, (rle, area, bbox) in zip(instances, masks):
            track = int(inst.track_id)
            names.setdefault(track, {"name": str(inst.name), "category": str(inst.category)})
            amodal = int(inst.amodal_pixels)
            visibility = _number(area / amodal if amodal else 0.0, f"frame {i} track {track} visibility")
            objects.append({
                "track_id": track, "world_from_object": _matrix(inst.world, f"frame {i} track {track} pose"),
                "bbox_local": _matrix(inst.bbox_local, f"frame {i} track {track} bbox_local"),
                "bbox_world": _matrix(inst.bbox_world, f"frame {i} track {track} bbox_world"),
                "visible_pixels": area, "amodal_pixels": amodal, "hidden_by_plate": int(inst.hidden_by_plate),
                "visibility": visibility,
            })
            if area > 0:
                annotations.append({
                    "image_id": i + 1, "category": str(inst.category), "segmentation": rle, "area": float(area),
                    "bbox": bbox, "iscrowd": 0, "track_id": track, "visibility": visibility,
                    "hidden_by_plate": int(inst.hidden_by_plate), "amodal_area": float(amodal),
                })
        return {"digest": frame_digest(fp.frame), "image": image, "camera": camera, "annotations": annotations,
                "frame": {"frame_index": i, "time": time, "objects": objects}, "objects": names}

    def frame_files(self, i: int) -> list[str]:
        return [f"images/{i:05d}.png"] if self.images else []

    def accept(self, record: dict[str, Any]) -> None:
        self._images.append(record["image"])
        self._cameras.append(record["camera"])
        self._annotations.extend(record["annotations"])
        self._frames.append(record["frame"])
        for track, info in record["objects"].items():
            self._objects.setdefault(int(track), info)
        super().accept(record)

    def _masks(self, ids: np.ndarray, instances: tuple[InstanceInfo, ...], i: int) -> list[tuple]:
        """``(rle, area, bbox)`` of each instance's mask (``ids`` in its ``node_ids``)."""
        h, w = ids.shape
        owner: dict[int, int] = {}
        for k, inst in enumerate(instances, 1):
            for node in inst.node_ids:
                node = int(node)
                if owner.setdefault(node, k) != k:
                    other = instances[owner[node] - 1]
                    raise SinkError(f"frame {i}: node id {node} belongs to two instances "
                                    f"({other.name!r} and {inst.name!r})")
        top = int(ids.max()) if ids.size else 0
        if top <= max(1 << 16, ids.size):  # node ids are small: a table indexed by id
            lookup = np.zeros(top + 1, np.int32)
            for node, k in owner.items():
                if node <= top:
                    lookup[node] = k
            labels = lookup[ids]
        else:  # sparse huge ids: look up only the values present
            values, inverse = np.unique(ids, return_inverse=True)
            lookup = np.array([owner.get(int(v), 0) for v in values], np.int32)
            labels = lookup[inverse.reshape(ids.shape)]
        return [_mask_rle(starts, ends, h, w) for starts, ends in _segments(labels, len(instances))]

    def _finish(self) -> None:
        names = sorted({a["category"] for a in self._annotations} | {o["category"] for o in self._objects.values()})
        category_id = {name: k for k, name in enumerate(names, 1)}
        annotations = []
        for k, a in enumerate(self._annotations, 1):
            a = dict(a)
            category = a.pop("category")
            annotations.append({"id": k, "image_id": a.pop("image_id"), "category_id": category_id[category], **a})
        coco = {
            "info": _info("hybridscene ground-truth labels"), "licenses": [], "images": self._images,
            "categories": [{"id": category_id[n], "name": n, "supercategory": "object"} for n in names],
            "annotations": annotations,
        }
        d = self.tmp_path
        _dump(coco, d / "coco.json")
        _dump({"convention": CONVENTIONS, "frames": self._cameras, "plate_camera": self.plate_camera},
              d / "cameras.json")
        _dump({"objects": {str(t): self._objects[t] for t in sorted(self._objects)}, "frames": self._frames},
              d / "objects.json")


# -- merging -----------------------------------------------------------------------------------

def merge_coco(parts: list[tuple[str | os.PathLike[str], str]], out: str | os.PathLike[str]) -> None:
    """Merge several ``coco.json`` files into one dataset file.

    Args:
        parts: ``(coco.json path, prefix)`` pairs; ``prefix`` (a ``/``-separated path relative to
            ``out``'s folder, e.g. ``"000001/labels"``) is put before each image's ``file_name``.
        out: the merged file, written atomically.

    Categories are unified by name (sorted, ids from 1); image and annotation ids are renumbered
    from 1. Images and annotations get ``item``, the index of their part in ``parts``, so that
    ``(item, track_id)`` names one track across the dataset.

    Raises:
        SinkError: a part cannot be read or is not a COCO file; ``out`` cannot be written.
    """
    loaded = []
    for path, prefix in parts:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            cats = {c["id"]: c["name"] for c in data["categories"]}
            if not isinstance(data["images"], list) or not isinstance(data["annotations"], list):
                raise TypeError("'images' and 'annotations' must be lists")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SinkError(f"cannot read the COCO file {str(path)!r}: {exc}") from exc
        loaded.append((data, cats, str(prefix)))
    names = sorted({name for _, cats, _ in loaded for name in cats.values()})
    category_id = {name: k for k, name in enumerate(names, 1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for item, (data, cats, prefix) in enumerate(loaded):
        image_id = {}
        for image in data["images"]:
            image_id[image["id"]] = len(images) + 1
            file_name = posixpath.join(prefix, image["file_name"]) if prefix else image["file_name"]
            images.append({**image, "id": len(images) + 1, "file_name": file_name, "item": item})
        for ann in data["annotations"]:
            try:
                new = {**ann, "id": len(annotations) + 1, "image_id": image_id[ann["image_id"]],
                       "category_id": category_id[cats[ann["category_id"]]], "item": item}
            except KeyError as exc:
                raise SinkError(f"{str(parts[item][0])!r}: annotation {ann.get('id')} names an unknown "
                                f"image or category ({exc})") from exc
            annotations.append(new)
    merged = {
        "info": _info(f"hybridscene ground-truth labels, merged from {len(parts)} parts"), "licenses": [],
        "images": images, "categories": [{"id": category_id[n], "name": n, "supercategory": "object"} for n in names],
        "annotations": annotations,
    }
    with atomic_path(out) as tmp:
        _dump(merged, tmp)
