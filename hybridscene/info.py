"""What ``hybridscene info`` reports: versions, the GL driver, the torch device, the cache."""

from __future__ import annotations

import platform
from typing import Any

from ._version import __version__, package_version
from .config import get_settings

__all__ = ["collect_info", "guess_torch_device", "torch_device"]


def torch_device() -> str:
    """The device plate generation would use: ``cuda``, then ``mps``, then ``cpu``.

    Imports torch, so call it only when torch is installed and its answer is wanted.
    """
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def guess_torch_device() -> str | None:
    """The device `torch_device` would pick, found without importing torch (which takes
    seconds): from the build flags in ``torch/version.py`` and the presence of a GPU driver.
    ``None`` when torch is not installed."""
    import ast
    import importlib.util
    import os
    import sys

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    flags: dict[str, Any] = {}
    try:
        path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
            if isinstance(target, ast.Name) and isinstance(getattr(node, "value", None), ast.Constant):
                flags[target.id] = node.value.value  # type: ignore[union-attr]
    except (OSError, SyntaxError):
        return "unknown"
    if flags.get("cuda") and (os.path.exists("/proc/driver/nvidia/version") or sys.platform == "win32"):
        return "cuda"
    if flags.get("hip") and os.path.exists("/dev/kfd"):
        return "cuda"  # ROCm builds expose AMD GPUs as "cuda"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def collect_info(*, exact_torch: bool = False) -> dict[str, Any]:
    """A flat dict of facts; GL fields hold an error text when no context can be made.

    ``exact_torch=True`` imports torch to ask it for the device (slow); otherwise the device is
    inferred from torch's build flags and the installed GPU driver (instant)."""
    from .errors import GPUError
    from .gpu.context import create_context, gl_info, nvidia_driver

    data: dict[str, Any] = {
        "hybridscene": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "moderngl": package_version("moderngl"),
    }
    try:
        ctx = create_context()
    except GPUError as exc:
        data["gl"] = f"unavailable: {exc}"
    else:
        try:
            gl = gl_info(ctx)
        finally:
            ctx.release()
        data.update(
            gl_vendor=gl["vendor"],
            gl_renderer=gl["renderer"],
            gl_version=gl["version"],
            gl_max_samples=gl["max_samples"],
            gl_hardware="no: a CPU rasteriser (frames are slow)" if gl["software"] else "yes",
        )
    nvidia = nvidia_driver()
    if nvidia:
        data["nvidia_driver"] = nvidia
    torch_version = package_version("torch")
    if torch_version is None:
        data["torch"] = "not installed (pip install 'hybridscene[ai]' for AI plates)"
    else:
        data["torch"] = torch_version
        data["torch_device"] = torch_device() if exact_torch else guess_torch_device()
    data["diffusers"] = package_version("diffusers") or "not installed"
    data["plate_cache"] = str(get_settings().cache_dir)
    return data
