"""The driver side of ``render(..., ray=...)`` (see `hybridscene.cluster`)."""

from __future__ import annotations

import collections
import logging
import time
from typing import Any

from ..errors import ConfigError, HybridSceneError, SceneError
from ..export.driver import Outputs, RenderResult, plan_render
from .workers import RenderWorker, cause, painted_like, prepare

log = logging.getLogger(__name__)


def render_on_ray(scene: Any, output: Any, *, executor: Any, frames: Any = None, seconds: float | None = None,
                  fps: float = 30.0, size: Any = None, start: float = 0.0, shard: Any = None,
                  progress: Any = False, samples: int | None = None, layers: Any = None, passes: Any = None,
                  layer_format: str = "png", labels: Any = None, manifest: dict[str, Any] | None = None,
                  **sink_options: Any) -> RenderResult:
    from ..scenefile import SceneSource

    # 1. Validate here, before Ray starts (the size is checked again once the plate is known).
    if not isinstance(scene, SceneSource):
        raise SceneError(f"ray= renders a scene file on every worker: give hs.SceneSource(path, options=...), not "
                         f"a {type(scene).__name__} (scene objects hold callbacks, which cannot be shipped)")
    if shard is not None:
        raise ConfigError("shard= renders one part in this process; ray= renders every part on the cluster: give one")
    if progress is not False and progress is not True and not callable(progress):
        raise ConfigError(f"progress must be True, False or a callable, got {progress!r}")
    checks = dict(frames=frames, seconds=seconds, fps=fps, size=size, start=start, samples=samples, layers=layers,
                  passes=passes, layer_format=layer_format, labels=labels)
    plan_render(None, output, default_size=(1280, 720), **checks)
    if layer_format == "exr":
        from ..sinks.exr import require_openexr

        require_openexr()
    ray = executor.connect()
    t0 = time.perf_counter()

    # 2. Plates: one worker builds the scene (on a GPU when the cluster has one) and ships the
    #    cache entries of the plates it painted or loaded.
    gpus = executor.gpus_for_plates(ray)
    remote_prepare = ray.remote(prepare).options(num_gpus=gpus, num_cpus=0 if gpus else 1,
                                                 max_retries=executor.retries, runtime_env=executor.runtime_env)
    sha256 = scene.sha256()  # the driver's file: every worker must build from the same one
    try:
        prepared = ray.get(remote_prepare.remote(scene, sha256, labels is not None))
    except Exception as exc:
        raise cause(exc) from None
    scene = painted_like(scene, prepared)
    default = prepared["plate_size"] or (1280, 720)  # as a local render: the plate's size
    plan, cls = plan_render(None, output, default_size=tuple(default), **checks)
    plates_ref = ray.put(prepared["plates"])
    log.info("plates ready in %.2f s (%d cache entries)", time.perf_counter() - t0, len(prepared["plates"]))

    # 3. The outputs (temporary until the end), the render workers, 4. the chunks in order.
    count = min(executor.worker_count(ray), max(1, -(-len(plan.indices) // executor.chunk)))
    actor = ray.remote(RenderWorker).options(num_cpus=executor.cpus_per_worker, max_restarts=executor.retries,
                                             max_task_retries=executor.retries, runtime_env=executor.runtime_env)
    with Outputs(plan, output, cls, sink_options, plate_camera=prepared["plate_camera"], manifest={},
                 progress=progress) as outputs:
        writers = outputs.folder_sinks() if executor.write != "driver" else {}
        workers = [actor.remote(scene, sha256, plan, writers) for _ in range(count)]
        try:
            try:  # every worker sets up: its GL renderer, and whether it sees the output folders
                infos = ray.get([w.info.remote([plates_ref]) for w in workers])
            except Exception as exc:
                raise cause(exc) from None
            renderers = sorted({info["gl"]["renderer"] for info in infos})
            if len(renderers) > 1:
                log.warning("the Ray workers draw with different GL renderers (%s): frames may differ from a render "
                            "on one of them", ", ".join(renderers))
            write = bool(writers) and all(info["shared"] for info in infos)
            if executor.write == "workers" and writers and not write:
                raise ConfigError("RayExecutor(write='workers'): some workers do not see the output folders; put "
                                  "them on a file system every node mounts, or use write='auto'")
            extra = {"gl": infos[0]["gl"], "ray": {"workers": count, "chunk": executor.chunk,
                                                   "gl_renderers": renderers, "written_by": "workers" if write
                                                   else "driver"},
                     "scene": scene.describe(), **(manifest or {})}
            if prepared["painted_for"]:
                extra["ray"]["plates_painted_for"] = prepared["painted_for"]
            for sink, _ in outputs.folder_sinks().values():
                sink.manifest.update(extra)
            _run(ray, workers, plan, executor, outputs, [plates_ref], write)
            if write:  # the driver checks what the workers reported before anything is published
                for sink, _ in outputs.folder_sinks().values():
                    sink.check_files()
        finally:
            for w in workers:
                ray.kill(w)
    result = outputs.result()
    log.info("rendered %d frames on %d Ray workers in %.2f s", result.frames, count, result.seconds)
    return result


def _run(ray: Any, workers: list[Any], plan: Any, executor: Any, outputs: Outputs, plates: Any,
         write: bool = False) -> None:
    """Submit chunks round-robin, at most ``workers * queue`` in flight; write them (or, when
    the workers wrote the files, accept their records) in order."""
    indices = plan.indices
    chunks = [indices[i:i + executor.chunk] for i in range(0, len(indices), executor.chunk)]
    pending: collections.deque[tuple[range, Any]] = collections.deque()
    limit = len(workers) * executor.queue
    submitted = 0

    def submit() -> None:
        nonlocal submitted
        chunk = chunks[submitted]
        worker = workers[submitted % len(workers)]
        pending.append((chunk, worker.render.remote(chunk.start, chunk.stop, plates, write)))
        submitted += 1

    try:
        while submitted < len(chunks) and len(pending) < limit:
            submit()
        while pending:
            chunk, ref = pending.popleft()
            try:
                items = ray.get(ref)
            except Exception as exc:
                raise cause(exc) from None
            if submitted < len(chunks):
                submit()  # keep the workers busy while this chunk is written
            for i, item in zip(chunk, items):
                if write:
                    outputs.accept(i, *item)
                else:
                    outputs.write(i, item)
            del items
    except BaseException:
        for _, ref in pending:
            try:
                ray.cancel(ref)
            except Exception:  # already finished, or the worker is gone
                continue
        raise
    if outputs.done != len(indices):  # pragma: no cover - a bug, not a user error
        raise HybridSceneError(f"Ray returned {outputs.done} of {len(indices)} frames")
