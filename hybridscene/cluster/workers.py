"""What runs inside Ray's worker processes: plain classes and functions, made remote by the
driver (`hybridscene.cluster.render`), so importing this module never imports Ray.

Everything GL is created here, in the worker, on the thread that uses it; nothing GL and no
`Scene` crosses a process boundary: workers receive a `SceneSource`, a `RenderPlan` and plate
cache entries, and send back frames (``uint8`` arrays) or `FramePasses`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..errors import HybridSceneError, SceneError

log = logging.getLogger(__name__)


def install_plates(entries: dict[str, dict[str, bytes] | None]) -> int:
    """Put the plate cache entries a plate worker shipped into this node's cache (skipped when
    the cache already has them, e.g. a shared cache folder). Returns how many were installed."""
    from ..plate.cache import PlateCache

    cache = PlateCache()
    return sum(1 for key, files in entries.items() if files is not None and cache.install_entry(key, files))


def check_source(source: Any, sha256: str) -> None:
    """Refuse to render from a scene file that differs from the driver's."""
    if source.sha256() != sha256:
        raise SceneError(f"the scene file {source.path} on this Ray node differs from the driver's; give every node "
                         "the same file (a shared folder, or RayExecutor(runtime_env={'working_dir': ...}))")


def prepare(source: Any, sha256: str, with_labels: bool) -> dict[str, Any]:
    """Build the scene once (painting its AI plates into the cache, on this worker's GPU when Ray
    gave it one) and return what the driver and the render workers need: the plate's size and
    camera, the cache entries of the plates used, and the device and dtype they were painted
    for (part of their cache keys: a render worker without a GPU must ask for the same ones to
    find them, never paint them again)."""
    from ..export.driver import _plate_camera
    from ..plate.generate import record_plates

    check_source(source, sha256)
    with record_plates() as used:
        loaded = source.load()
    scene = loaded.scene
    scene.wait_for_plates()
    entries = {key: cache.export_entry(key) for cache, key, _, _ in used}
    plate = scene.plate
    painted = {"device": used[0][2], "dtype": used[0][3]} if used else {}
    return {"plate_size": plate.size if plate is not None else None,
            "plate_camera": _plate_camera(scene) if with_labels and plate is not None else None,
            "plates": entries, "painted_for": painted, "node": os.uname().nodename}


def painted_like(source: Any, prepared: dict[str, Any] | None) -> Any:
    """``source`` asking its AI plates for the device and dtype the plate worker painted them
    for (unless it names them itself), so that a worker computes the same cache keys."""
    import dataclasses

    if not prepared or not prepared.get("painted_for"):
        return source
    options = {**prepared["painted_for"], **source.plate_options}
    return dataclasses.replace(source, plate_options=options)


class RenderWorker:
    """A Ray actor: one EGL context, the scene built from its file, and a `FrameDrawer`;
    `render` draws a chunk of frames. It is set up on its first call, which carries a reference
    to the plate cache entries (so a worker Ray restarts after a crash sets itself up again from
    the call it retries, and nothing large sits in its constructor's arguments or travels with
    every chunk)."""

    def __init__(self, source: Any, sha256: str, plan: Any, writers: dict[str, Any]) -> None:
        """``writers``: copies of the driver's folder sinks (`Outputs.folder_sinks`), whose files
        this worker writes into their temporary folders when it sees them (a shared folder)."""
        self.source, self.sha256, self.plan, self.writers = source, sha256, plan, writers
        self.scene: Any = None
        self.chunks = 0

    def _setup(self, plates: list[Any]) -> None:
        import ray

        from ..compose.frame import FrameRenderer
        from ..export.driver import FrameDrawer, _samples
        from ..gpu.context import create_context
        from ..gpu.targets import check_frame_size

        install_plates(ray.get(plates[0]))  # a reference in a list: fetched only here, not with every chunk
        check_source(self.source, self.sha256)
        from ..scene.overscan import cover_camera_path, render_times

        scene = self.source.load().scene
        scene.wait_for_plates()
        path = cover_camera_path(scene, self.plan.size, render_times(self.plan))  # as the driver's own render would
        self.gl = create_context()
        self.gl.make_current()
        plan = self.plan
        check_frame_size(self.gl, plan.size, samples=_samples(plan.samples), layers=plan.wants_passes)
        self.renderer = FrameRenderer(self.gl, plan.size, samples=plan.samples, relief_ahead=path.relief)
        self.draw = FrameDrawer(self.renderer, plan)
        self.scene = scene

    def render(self, start: int, stop: int, plates: list[Any], write: bool = False) -> list[Any]:
        """Frames ``start`` to ``stop - 1``: arrays, or `FramePasses` when the plan asks for
        passes; with ``write``, ``(frame or None, records)`` per frame after writing the frame's
        files for every folder sink (the frame itself only when the output is not a folder)."""
        if self.scene is None:
            self._setup(plates)
        self.gl.make_current()
        out = []
        for i in range(start, stop):
            item = self.draw(self.scene, i)
            out.append(self._write(i, item) if write else item)
        self.chunks += 1
        return out

    def _write(self, i: int, item: Any) -> tuple[Any, dict[str, Any]]:
        import dataclasses

        import numpy as np

        frame = item if isinstance(item, np.ndarray) else item.frame
        records = {}
        for slot, (sink, own) in self.writers.items():
            part = frame if own is None else dataclasses.replace(
                item, passes={k: v for k, v in item.passes.items() if k in own})
            with sink._os_errors():
                records[slot] = sink.files(i, part)
        return (None if "output" in self.writers else frame), records

    def info(self, plates: list[Any]) -> dict[str, Any]:
        """Set up; return the GL renderer (for the manifest) and whether this worker sees the
        temporary folders of the driver's folder outputs (``shared``)."""
        from ..gpu.context import gl_info

        if self.scene is None:
            self._setup(plates)
        gl = {k: str(v) for k, v in gl_info(self.gl.mgl).items() if k in ("vendor", "renderer", "version")}
        shared = bool(self.writers) and all(sink.tmp_path.is_dir() for sink, _ in self.writers.values())
        return {"gl": gl, "shared": shared}

    def pid(self) -> int:
        return os.getpid()


class DatasetWorker:
    """A Ray actor for `make_dataset`: one EGL context; `make_item` builds, renders and
    publishes one item into the dataset folder (which every node must see)."""

    def __init__(self) -> None:
        from ..gpu.context import create_context

        self.gl = create_context()

    def make_item(self, prepared: dict[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Make one item; ``prepared`` is what `prepare` returned on a plate worker (its plate
        cache entries are installed here first, and asked for with the same device and dtype),
        or ``None`` to paint the plate here."""
        import hashlib

        from ..export.dataset import _make_item

        path = kwargs["scene_path"]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise SceneError(f"cannot read the scene file {str(path)!r} on this Ray node ({exc.strerror or exc}); give "
                             "every node the file at that path") from None
        if digest != kwargs["item_params"]["scene_sha256"]:
            raise SceneError(f"the scene file {path} on this Ray node differs from the driver's; give every node the "
                             "same file")
        if prepared is not None:
            install_plates(prepared["plates"])
            if prepared.get("painted_for"):
                kwargs = {**kwargs, "plate_options": {**prepared["painted_for"], **kwargs["plate_options"]}}
        self.gl.make_current()
        return _make_item(ctx=self.gl, **kwargs)

    def pid(self) -> int:
        return os.getpid()


def cause(exc: BaseException) -> BaseException:
    """The library error inside a Ray error (so the command line prints its one line), or a
    `HybridSceneError` that says what happened on the cluster."""
    inner = getattr(exc, "cause", None)
    if isinstance(inner, HybridSceneError):
        return inner
    name = type(exc).__name__
    first = (str(inner) if inner is not None else str(exc)).strip().splitlines()
    text = first[-1] if first else name
    if "ActorDied" in name or "ActorError" in name or "WorkerCrashed" in name:
        return HybridSceneError(f"a Ray worker died and its retries ran out ({text[:200]}); see the worker logs "
                                "(ray logs) and raise RayExecutor(retries=...)")
    return HybridSceneError(f"a Ray worker failed: {text[:300]}")
