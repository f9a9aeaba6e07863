"""Machine facts every benchmark prints beside its figures."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine(*, gl: bool = False, torch: bool = False) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "versions": {p: _version(p) for p in ("hybridscene", "numpy", "moderngl", "av", "torch", "diffusers", "transformers")},
    }
    if gl:
        import hybridscene as hs
        from hybridscene.gpu.context import gl_info

        ctx = hs.create_context()
        g = gl_info(ctx)
        ctx.release()
        info.update(gl_renderer=g["renderer"], gl_version=g["version"])
    if torch:
        import torch as t

        info.update(torch_threads=t.get_num_threads(), torch_cpu_capability=t.backends.cpu.get_cpu_capability())
    return info
