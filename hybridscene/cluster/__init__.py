"""Rendering and datasets on a Ray cluster (``hybridscene[ray]``), with output identical to a
run in one process.

``hs.render(hs.SceneSource("film.py"), "film.mp4", frames=3000, ray=hs.RayExecutor())`` or
``hybridscene render film.py -o film.mp4 --ray [ADDRESS]``:

1. **Plates.** One plate worker builds the scene once and so paints each distinct AI plate once,
   into its plate cache. It asks Ray for a GPU (``num_gpus=1``) when the cluster has one, else a
   CPU, and is released before the frames start. The cache entries it used travel through Ray's
   object store into each render worker's cache (nothing is copied when the workers share the
   cache folder, e.g. ``HYBRIDSCENE_CACHE`` on a network file system).
2. **Frames.** Render workers (Ray actors, one CPU each) each create their own EGL context
   (a context is never shipped), build the scene from the scene file with the same arguments
   (a `SceneSource`; scene objects with callbacks are never shipped) and render chunks of
   frames. Frame ``i`` is at `frame_time` ``(i, fps, start)`` wherever it is drawn.
3. **Output.** A video is encoded by the driver (this process), once, in frame order, from the
   frames the workers send. The files of folder outputs (PNG sequences, layers, labels) are
   written by the workers straight into the output's temporary folder when every worker sees it
   (a shared file system; ``RayExecutor(write=)``), with the same code as a local render, and
   only small records (digests, labels) come back; otherwise the driver writes them from the
   frames and passes sent. The driver takes the chunks in frame order, keeps the manifest, and
   publishes every output at the end. At most ``workers * queue`` chunks are in flight, so the
   driver holds a few chunks at a time however long the film.
4. **Failures.** A worker that dies is restarted by Ray (``max_restarts``) and its unfinished
   chunks are run again (``max_task_retries``); frames depend only on their index, so the output
   is still complete and identical.

`make_dataset(..., ray=...)` sends whole items to the workers, which write them into the
dataset folder (shared by every node) as a local run does; the driver keeps the manifest.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from ..errors import ConfigError, HybridSceneError

__all__ = ["RayExecutor", "require_ray"]

log = logging.getLogger(__name__)

INSTALL = 'pip install "hybridscene[ray]"'


def require_ray() -> Any:
    """Import Ray, or raise a one-line `ConfigError` with the install command."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray (ray=) needs Ray, which is not installed; install it with: {INSTALL}") from None
    return ray


@dataclasses.dataclass(frozen=True)
class RayExecutor:
    """How a render or dataset runs on Ray; pass it as ``ray=`` to [`render`][hybridscene.render]
    or [`make_dataset`][hybridscene.make_dataset] (``ray=hs.RayExecutor()``: a local Ray, or the
    cluster in ``RAY_ADDRESS``; ``hs.RayExecutor(address="auto")``: the cluster this machine
    belongs to).

    ``hs.render(hs.SceneSource("film.py"), "film.mp4", ray=hs.RayExecutor(workers=8, chunk=16))``
    """

    address: str | None = None
    """The cluster (``"auto"``, ``"ray://head:10001"``, ``"10.0.0.5:6379"``); ``None``: the Ray
    session this process already started, else ``RAY_ADDRESS``, else a new local Ray with this
    machine's cores."""
    workers: int | None = None
    """Render workers (one CPU each); default: the cluster's CPUs."""
    chunk: int = 8
    """Frames per task. Larger chunks cost less per frame in Ray; smaller ones spread a short
    render over more workers and hold less in memory."""
    queue: int = 2
    """Chunks queued per worker (backpressure: at most ``workers * queue`` in flight)."""
    cpus_per_worker: float = 1.0
    """CPUs Ray reserves per render worker (a CPU rasteriser uses them; on a GPU node 1 is plenty)."""
    plate_gpus: float | None = None
    """GPUs the plate worker asks for; default 1 when the cluster has a GPU, else 0 (a CPU)."""
    write: str = "auto"
    """Who writes the files of folder outputs (PNG sequence, layers, labels): ``"workers"``, into
    the output's temporary folder, which they must see (a file system every node mounts), with
    only small records sent back; ``"driver"``, from the frames and passes the workers send;
    ``"auto"``: the workers when every one of them sees the folders, else the driver. A video is
    always encoded by the driver, once, in order."""
    retries: int = 3
    """Restarts of a dead worker, and re-runs of its unfinished chunks."""
    runtime_env: dict[str, Any] | None = None
    """Ray's ``runtime_env`` for the workers (e.g. ``{"working_dir": "."}`` to ship the scene
    file's folder to a cluster without a shared file system)."""

    def __post_init__(self) -> None:
        for name in ("workers", "chunk", "queue", "retries"):
            value = getattr(self, name)
            low = 0 if name == "retries" else 1
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise ConfigError(f"RayExecutor({name}={value!r}): give an integer >= {low}")
        if self.write not in ("auto", "workers", "driver"):
            raise ConfigError(f"RayExecutor(write={self.write!r}): give 'auto', 'workers' or 'driver'")
        if self.address is not None and not isinstance(self.address, str):
            raise ConfigError(f"RayExecutor(address={self.address!r}): give an address string such as 'auto'")

    def render(self, scene: Any, output: Any, **kwargs: Any) -> Any:
        """What ``hs.render(scene, output, ray=self, **kwargs)`` runs (see the module docstring)."""
        from .render import render_on_ray

        return render_on_ray(scene, output, executor=self, **kwargs)

    def make_items(self, manifest: dict[str, Any], items: range, item_params: Any, make: dict[str, Any], *,
                   progress: Any, t0: float) -> tuple[int, int]:
        """What ``hs.make_dataset(..., ray=self)`` runs: the items to make, on the workers."""
        from .dataset import make_items_on_ray

        return make_items_on_ray(self, manifest, items, item_params, make, progress=progress, t0=t0)

    def connect(self) -> Any:
        """The ``ray`` module, connected: the session already started in this process, else
        ``address`` (or ``RAY_ADDRESS``), else a new local Ray with this machine's cores."""
        ray = require_ray()
        if ray.is_initialized():
            return ray
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if address is not None:
            _check_reachable(address)
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False,
                                  "include_dashboard": False}
        if self.runtime_env is not None:
            kwargs["runtime_env"] = self.runtime_env
        quiet = _QuietTokenNotice()
        notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
        notice.addFilter(quiet)  # "token authentication is enabled": Ray's secure default, not news
        try:
            if address is None:
                ray.init(num_cpus=os.cpu_count() or 1, **kwargs)
            else:
                kwargs.pop("include_dashboard")
                ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local Ray"
            raise HybridSceneError(f"cannot start or reach Ray at {where}: {str(exc).splitlines()[0]}; check the "
                                   "address (ray status on the head node prints it)") from None
        finally:
            notice.removeFilter(quiet)
        return ray

    def worker_count(self, ray: Any) -> int:
        """``workers``, or as many as the cluster's CPUs allow."""
        if self.workers is not None:
            return self.workers
        cpus = float(ray.cluster_resources().get("CPU", 1))
        return max(1, int(cpus // self.cpus_per_worker))

    def gpus_for_plates(self, ray: Any) -> float:
        if self.plate_gpus is not None:
            return float(self.plate_gpus)
        return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error, at once, for a ``host:port`` (or ``ray://host:port``) nothing answers
    on; Ray itself would retry for minutes. ``"auto"`` and other forms are left to Ray."""
    import socket

    text = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise HybridSceneError(f"cannot reach Ray at {address} ({exc.strerror or exc}); check the address (ray status "
                               "on the head node prints it) and that the port is open") from None


class _QuietTokenNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Token authentication is enabled" not in record.getMessage()
