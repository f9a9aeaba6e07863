"""Torch helpers the diffusers modules share (``diffusion.py``, ``upscale.py``): importing torch
with an install hint, dtypes by name, checking a device before loading, and quiet loading. Imports
torch only inside its functions."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError, PlateError

__all__ = ["torch_dtype"]

log = logging.getLogger("hybridscene.plate.diffusion")


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise PlateError("AI plates need torch and diffusers: pip install 'hybridscene[ai]'") from None
    return torch


def torch_dtype(name: str) -> Any:
    torch = _import_torch()
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def _check_device(device: str, dtype: str) -> None:
    torch = _import_torch()
    kind = device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
            "install a CUDA build of torch or use --device cpu"
        )
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' asked for, but MPS is not available; use --device cpu")
    if kind == "cpu" and dtype == "float16":
        log.warning("float16 on a CPU is slow and often produces NaNs; bfloat16 or float32 are better")
    if kind == "cpu" and dtype == "bfloat16":
        cap = str(getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")())
        if "AVX512" not in cap.upper() and "AMX" not in cap.upper() and "SVE" not in cap.upper():
            log.warning("this CPU (%s) has no native bfloat16; expect bfloat16 to be slower than float32", cap or "?")


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide diffusers' and transformers' per-component loading bars (our log line and step bar
    say what happens), restoring their previous state."""
    from diffusers.utils import logging as dlog

    try:
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover
        tlog = None
    states = [(m, m.is_progress_bar_enabled()) for m in (dlog, tlog) if m is not None]
    for m, _ in states:
        m.disable_progress_bar()
    # Passing a tiny autoencoder (PlateSpec.vae) is diffusers' documented way, yet its loader warns
    # "Expected types for vae: (AutoencoderKL,), got AutoencoderTiny"; _check_vae checks what matters.
    loader_log = logging.getLogger("diffusers.pipelines.pipeline_utils")
    quiet_vae = _DropMessages("Expected types for vae")
    loader_log.addFilter(quiet_vae)
    try:
        yield
    finally:
        loader_log.removeFilter(quiet_vae)
        for m, was in states:
            if was:
                m.enable_progress_bar()


class _DropMessages(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)
