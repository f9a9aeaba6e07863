"""Plate generation in a separate process, so GL and windows stay responsive on the main thread.

A [`PlateWorker`][hybridscene.PlateWorker] owns one spawned process that keeps its pipelines loaded between
requests. Requests run one at a time in order; each returns a [`PlateFuture`][hybridscene.PlateFuture]. The worker
writes the plate into the cache and the future reads it back (milliseconds), so no image crosses
the process boundary through a pipe.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import itertools
import logging
import queue
import threading
from typing import Any

from ..config import Acceleration, check_acceleration
from ..errors import PlateError
from .cache import PlateCache
from .generate import PlateResult
from .spec import PlateSpec

__all__ = ["PlateFuture", "PlateWorker", "generate_plate_async"]

log = logging.getLogger(__name__)


def _worker_main(requests: Any, results: Any, cancel_id: Any, cache_root: str, threads: int | None,
                 acceleration: Any = None) -> None:
    """The child process: generate each request into the cache and report the key."""
    import time

    from . import generate as gen_mod
    from .. import errors

    cache = PlateCache(cache_root)
    while True:
        item = requests.get()
        if item is None:
            return
        req_id, spec_fields = item
        t0 = time.perf_counter()
        try:
            spec = PlateSpec(**spec_fields)
            result = gen_mod.generate_plate(
                spec, cache=cache, threads=threads, acceleration=acceleration,
                callback=lambda step, total, rid=req_id: cancel_id.value != rid,
            )
            uncached = result.plate if result.entry is None else None  # the cache could not be written
            results.put((req_id, "ok", result.key, result.cache_hit, time.perf_counter() - t0, uncached))
        except errors.HybridSceneError as exc:
            results.put((req_id, "error", type(exc).__name__, str(exc)))
        except Exception as exc:  # surfaced in the parent as a PlateError
            results.put((req_id, "error", "PlateError", f"{type(exc).__name__}: {exc}"))


class PlateFuture:
    """A plate being generated elsewhere. ``done()`` never blocks; ``result()`` waits."""

    def __init__(self, worker: PlateWorker, req_id: int, spec: PlateSpec) -> None:
        self.spec = spec
        self._worker = worker
        self._id = req_id
        self._future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._result: PlateResult | None = None

    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> bool:
        """Stop the generation (between denoising steps) or drop it from the queue."""
        return self._worker._cancel(self)

    def cancelled(self) -> bool:
        return self._future.cancelled()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return self._future.exception(timeout)

    def result(self, timeout: float | None = None) -> PlateResult:
        """The [`PlateResult`][hybridscene.PlateResult] (the plate read from the cache); raises what generation raised."""
        if self._result is None:
            key, hit, seconds, uncached = self._future.result(timeout)
            if uncached is not None:  # the worker could not write the cache: the plate came back itself
                self._result = PlateResult(uncached, key, hit, None, seconds)
                return self._result
            cache = PlateCache(self._worker.cache.root)
            plate = cache.get(key)
            if plate is None:
                raise PlateError(f"plate {key} was generated but is no longer in the cache {cache.root}")
            self._result = PlateResult(plate, key, hit, cache.entry_path(key), seconds)
        return self._result

    def add_done_callback(self, fn: Any) -> None:
        """Call ``fn(self)`` when done, on the worker's dispatcher thread (no GL calls there)."""
        self._future.add_done_callback(lambda _f: fn(self))


class PlateWorker:
    """A process that paints plates in the background.

    Args:
        threads: torch CPU threads in the worker; limit it so a preview on the same CPU stays
            smooth (default: half the cores, at least 1).
        cache: the cache the worker writes to (default: the configured one).
        acceleration: how the worker runs models (default: the settings', read in the worker).
    """

    def __init__(self, *, threads: int | None = None, cache: PlateCache | None = None,
                 acceleration: Acceleration | None = None) -> None:
        import os

        self.threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self.cache = cache or PlateCache()
        self.acceleration = check_acceleration(acceleration)
        self._ids = itertools.count(1)
        self._pending: queue.Queue[PlateFuture | None] = queue.Queue()
        self._lock = threading.Lock()
        self._proc: Any = None
        self._thread: threading.Thread | None = None
        self._current: PlateFuture | None = None
        self._closed = False

    def submit(self, spec: PlateSpec | None = None, **spec_kwargs: Any) -> PlateFuture:
        """Queue a plate; validates the spec here, so bad input raises at once."""
        if self._closed:
            raise PlateError("this PlateWorker is closed; make a new one")
        if spec is None:
            spec = PlateSpec(**spec_kwargs)
        elif spec_kwargs:
            spec = dataclasses.replace(spec, **spec_kwargs)
        from .spec import resolve_spec

        resolve_spec(spec, cache_dir=self.cache.root)  # a missing model or bad size fails here, now
        fut = PlateFuture(self, next(self._ids), spec)
        self._start()
        self._pending.put(fut)
        return fut

    def _start(self) -> None:
        with self._lock:
            if self._proc is not None:
                return
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            self._requests, self._results = ctx.Queue(), ctx.Queue()
            self._cancel_id = ctx.Value("q", 0)
            self._proc = ctx.Process(
                target=_worker_main,
                args=(self._requests, self._results, self._cancel_id, str(self.cache.root), self.threads,
                      self.acceleration),
                name="hybridscene-plate-worker",
                daemon=True,
            )
            self._proc.start()
            self._thread = threading.Thread(target=self._dispatch, name="hybridscene-plate-dispatch", daemon=True)
            self._thread.start()

    def _dispatch(self) -> None:
        while True:
            fut = self._pending.get()
            if fut is None:
                return
            if not fut._future.set_running_or_notify_cancel():
                continue
            self._current = fut
            # The fields as they are (asdict would turn a Layout, itself a dataclass, into a dict).
            fields = {f.name: getattr(fut.spec, f.name) for f in dataclasses.fields(fut.spec)}
            self._requests.put((fut._id, fields))
            while True:
                try:
                    msg = self._results.get(timeout=0.5)
                    break
                except queue.Empty:
                    if not self._proc.is_alive():
                        msg = (fut._id, "error", "PlateError", f"the plate worker process died (exit code {self._proc.exitcode})")
                        break
            self._current = None
            if msg[1] == "ok":
                fut._future.set_result(msg[2:])
            else:
                from .. import errors

                cls = getattr(errors, msg[2], PlateError)
                fut._future.set_exception(cls(msg[3]))
            if msg[0] != fut._id:  # pragma: no cover - protocol guard
                log.error("plate worker answered request %s while %s was running", msg[0], fut._id)

    def _cancel(self, fut: PlateFuture) -> bool:
        if fut._future.cancel():  # still queued
            return True
        if self._current is fut and not fut.done():
            self._cancel_id.value = fut._id
            return True
        return False

    def close(self, *, cancel: bool = True, timeout: float = 10.0) -> None:
        """Stop the worker; with ``cancel``, the running generation is cancelled first."""
        if self._closed:
            return
        self._closed = True
        if self._proc is None:
            return
        if cancel and self._current is not None:
            self._cancel_id.value = self._current._id
        while True:  # drop what is still queued
            try:
                queued = self._pending.get_nowait()
            except queue.Empty:
                break
            if queued is not None:
                queued._future.cancel()
        self._pending.put(None)
        self._requests.put(None)
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> PlateWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DEFAULT: PlateWorker | None = None


def generate_plate_async(spec: PlateSpec | None = None, **spec_kwargs: Any) -> PlateFuture:
    """Queue a plate on a shared background [`PlateWorker`][hybridscene.PlateWorker] (closed at exit)."""
    global _DEFAULT
    if _DEFAULT is None or _DEFAULT._closed:
        _DEFAULT = PlateWorker()
        atexit.register(_DEFAULT.close)
    return _DEFAULT.submit(spec, **spec_kwargs)


