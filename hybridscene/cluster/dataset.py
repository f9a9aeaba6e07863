"""The driver side of ``make_dataset(..., ray=...)`` (see `hybridscene.cluster`): whole items
go to Ray workers, which write them into the dataset folder exactly as a local run does; the
driver locks the items it hands out, records each finished one in the manifest, and reports
progress as items finish."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import remove
from ..errors import Cancelled
from .workers import DatasetWorker, cause, prepare

log = logging.getLogger(__name__)


def remove_temporaries(out: Path, name: str) -> None:
    """Remove item ``name``'s temporary folders, whichever process or host made them: the caller
    holds the item's lock, so none of them is in use (a worker that died on another node leaves
    one that `remove_stale` would not touch, since it cannot tell whether that process lives)."""
    prefix = f".{name}."
    try:
        entries = [e for e in os.scandir(out) if e.name.startswith(prefix) and "@" in e.name]
    except OSError:
        return
    for entry in entries:
        remove(Path(entry.path))


def make_items_on_ray(executor: Any, manifest: dict[str, Any], items: range,
                      item_params: Callable[[int], dict[str, Any]], make: dict[str, Any], *, progress: Any,
                      t0: float) -> tuple[int, int]:
    """Steps 4-5 of `make_dataset` on Ray; returns ``(done, skipped)``."""
    from ..export.dataset import DatasetProgress, _clear_item, _is_complete, _locked, _record
    from ..scenefile import SceneSource

    out = make["out"]
    todo, skipped = [], 0
    for k in items:
        name = f"{k:06d}"
        if _is_complete(out / name, manifest["items"].get(name), item_params(k)):
            skipped += 1
        else:
            todo.append(k)
    if not todo:
        return 0, skipped
    ray = executor.connect()
    gpus = executor.gpus_for_plates(ray)
    count = min(executor.worker_count(ray), len(todo))
    actor = ray.remote(DatasetWorker).options(num_cpus=executor.cpus_per_worker, max_restarts=executor.retries,
                                              max_task_retries=executor.retries, runtime_env=executor.runtime_env)
    remote_prepare = ray.remote(prepare).options(num_gpus=gpus, num_cpus=0, max_retries=executor.retries,
                                                 runtime_env=executor.runtime_env) if gpus else None
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), initial=skipped, unit="item", desc=out.name or "dataset")
    done = 0
    locks: dict[int, contextlib.ExitStack] = {}  # an item is this run's from its hand-out to its record
    workers = [actor.remote() for _ in range(count)]
    pending: dict[Any, int] = {}
    queue = list(todo)
    try:
        def submit(n: int) -> None:
            k = queue.pop(0)
            name = f"{k:06d}"
            locks[k] = contextlib.ExitStack()
            locks[k].enter_context(_locked(out, name))
            _clear_item(out, name)
            params = item_params(k)
            prepared: Any = None
            if remote_prepare is not None:  # the plate on a GPU worker first; its cache entry follows the item
                source = SceneSource(make["scene_path"], options={"size": make["size"], "seed": params["seed"],
                                                                  "model": make["model"], "prompt": params["prompt"]},
                                     plate_options=make["plate_options"])
                prepared = remote_prepare.remote(source, params["scene_sha256"], False)
            ref = workers[n % count].make_item.remote(prepared, {**make, "name": name, "item_params": params})
            pending[ref] = k

        submitted = 0
        while queue and len(pending) < count * executor.queue:
            submit(submitted)
            submitted += 1
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            k = pending.pop(ready[0])
            try:
                entry = ray.get(ready[0])
            except Exception as exc:
                raise cause(exc) from None
            _record(out, f"{k:06d}", entry)
            remove_temporaries(out, f"{k:06d}")
            locks.pop(k).close()
            done += 1
            if queue:
                submit(submitted)
                submitted += 1
            if bar is not None:
                bar.update(1)
            elif callable(progress):
                finished = skipped + done
                info = DatasetProgress(item=k, finished=finished, total=len(items), skipped=False,
                                       elapsed=time.perf_counter() - t0)
                if progress(info) is False:
                    raise Cancelled(f"dataset cancelled by the progress callback after {finished} of "
                                    f"{len(items)} items")
    finally:
        for w in workers:
            ray.kill(w)
        if bar is not None:
            bar.close()
        for k, lock in locks.items():  # items handed out and not recorded: their temporaries go
            remove_temporaries(out, f"{k:06d}")
            lock.close()
    log.info("dataset %s: %d items made on %d Ray workers", out, done, count)
    return done, skipped
