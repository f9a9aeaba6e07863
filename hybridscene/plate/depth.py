"""Depth for AI plates from a transformers depth-estimation model (Depth Anything, DPT, ...).

Relative models (most of them) predict inverse depth up to an unknown scale and shift. They are
turned into metres with one number, ``scale``: the median pixel is put at ``scale`` metres and
depth is ``scale * median / prediction``; pixels predicted at (near) zero inverse depth, the sky,
get ``inf``. Metric models (``config.depth_estimation_type == "metric"``) are used as they are.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PlateError

__all__ = ["DepthEstimator", "disparity_to_depth"]

log = logging.getLogger(__name__)


def disparity_to_depth(disparity: np.ndarray, scale: float) -> np.ndarray:
    """Relative inverse depth → ``(H, W) float32`` metres with the median at ``scale``; sky → inf."""
    d = np.asarray(disparity, np.float64)
    d = d - min(0.0, float(d.min()))  # some models have a small negative shift
    positive = d[d > 0]
    if positive.size == 0:
        return np.full(d.shape, np.inf, np.float32)
    median = float(np.median(positive))
    with np.errstate(divide="ignore"):
        depth = scale * median / d
    depth[d <= 0.02 * median] = np.inf  # 50x farther than the median: treat as infinitely far
    return depth.astype(np.float32)


class DepthEstimator:
    """Loads a depth model once and estimates depth for plates."""

    def __init__(self, model: str, *, device: str = "cpu") -> None:
        self.model_name = model
        self.device = device
        self._model: Any = None
        self._processor: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            from transformers import AutoImageProcessor, AutoModelForDepthEstimation
        except ImportError:
            raise PlateError("depth models need transformers: pip install 'hybridscene[ai]'") from None
        name = str(Path(self.model_name).expanduser()) if Path(self.model_name).expanduser().is_dir() else self.model_name
        t0 = time.perf_counter()
        try:
            self._processor = AutoImageProcessor.from_pretrained(name)
            self._model = AutoModelForDepthEstimation.from_pretrained(name).to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise PlateError(f"cannot load depth model {self.model_name!r}: {str(exc).splitlines()[0]}") from None
        log.info("loaded depth model %s in %.1f s", self.model_name, time.perf_counter() - t0)

    @property
    def metric(self) -> bool:
        self._load()
        return getattr(self._model.config, "depth_estimation_type", "relative") == "metric"

    def estimate(self, image: np.ndarray, *, scale: float = 10.0) -> np.ndarray:
        """``(H, W) float32`` metres for an ``(H, W, 3) uint8`` image."""
        import torch
        from PIL import Image

        self._load()
        h, w = image.shape[:2]
        inputs = self._processor(images=Image.fromarray(image), return_tensors="pt").to(self.device)
        with torch.inference_mode():
            outputs = self._model(**inputs)
        post = getattr(self._processor, "post_process_depth_estimation", None)
        if post is not None:
            pred = post(outputs, target_sizes=[(h, w)])[0]["predicted_depth"]
        else:
            pred = torch.nn.functional.interpolate(
                outputs.predicted_depth[:, None], size=(h, w), mode="bicubic", align_corners=False
            )[0, 0]
        pred = pred.float().cpu().numpy()
        if not np.isfinite(pred).all():
            raise PlateError(f"depth model {self.model_name!r} produced NaN or inf")
        if self.metric:
            return np.maximum(pred, 1e-3).astype(np.float32)
        return disparity_to_depth(pred, scale)
