"""When a relief's back layer can show: the least camera move before each of its triangles can be
seen past the near side of its depth edge (`back_reveal`, `BackReveal`), so a renderer draws only
the triangles the camera can uncover (`hybridscene.gpu.parallax.ParallaxRenderer`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .plate import Plate
from .projection import plate_from_direction

__all__ = ["REVEAL_MARGIN", "BackReveal", "back_reveal", "box_counts", "near_edges", "triangle_boxes"]


def triangle_boxes(plate: Plate, vertices: np.ndarray, indices: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each triangle's box of plate pixels (world ``vertices`` seen from the plate's camera),
    one pixel wider on each side: ``(lo, hi, inside)``, ``(M, 2) int64`` inclusive corners
    ``(x, y)`` (0 where not inside) and ``(M,) bool``, whether the box lies within the image."""
    assert plate.camera is not None
    pw, ph = plate.size
    q = (vertices.astype(np.float64) - (0.0, plate.camera.height, 0.0)) @ plate_from_direction(plate).T
    with np.errstate(divide="ignore", invalid="ignore"):
        px = q[:, :2] / q[:, 2:] * (pw, ph)
    corners = px[indices]  # (M, 3, 2)
    with np.errstate(invalid="ignore"):
        lo = np.floor(corners.min(axis=1)) - 1
        hi = np.floor(corners.max(axis=1)) + 1
        inside = np.isfinite(lo).all(-1) & (lo >= 0).all(-1) & (hi[:, 0] < pw) & (hi[:, 1] < ph)
    return (np.where(inside[:, None], lo, 0).astype(np.int64), np.where(inside[:, None], hi, 0).astype(np.int64),
            inside)


def box_counts(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """How many pixels of ``mask`` (``(H, W) bool``) lie in each box (``lo``, ``hi``: ``(M, 2)``
    inclusive ``(x, y)`` corners), from one summed-area table."""
    area = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int32)
    area[1:, 1:] = mask.cumsum(0, dtype=np.int32).cumsum(1, dtype=np.int32)
    return area[hi[:, 1] + 1, hi[:, 0] + 1] - area[lo[:, 1], hi[:, 0] + 1] - area[hi[:, 1] + 1, lo[:, 0]] \
        + area[lo[:, 1], lo[:, 0]]


def near_edges(disparity: np.ndarray, hdisc: np.ndarray, vdisc: np.ndarray) -> np.ndarray:
    """``(H, W) bool``: the nearer pixel (the larger ``disparity``, inverse depth) of each
    discontinuous pair of neighbours along rows (``hdisc``, ``(H, W - 1)``) and columns
    (``vdisc``, ``(H - 1, W)``), as `hybridscene.plate.relief.discontinuities` gives them."""
    edge = np.zeros(disparity.shape, bool)
    left_near = disparity[:, :-1] > disparity[:, 1:]
    edge[:, :-1] |= hdisc & left_near
    edge[:, 1:] |= hdisc & ~left_near
    top_near = disparity[:-1] > disparity[1:]
    edge[:-1] |= vdisc & top_near
    edge[1:] |= vdisc & ~top_near
    return edge


@dataclasses.dataclass(frozen=True)
class BackReveal:
    """How far the camera must move from the plate's camera before each back-layer triangle can
    be seen past the near side of its depth edge (see `back_reveal`); a renderer draws only the
    triangles that can, the rest being hidden behind the front layer.

    A camera moved by ``T`` (metres, in the plate camera's frame: x right, y up, z back) shifts
    a point at inverse depth ``1/z`` by at most ``(focal |T_xy| + diagonal |T_z|) / z`` pixels
    (the plate's, to first order; `reach` bounds the rest), so a near edge whose two sides differ
    by ``delta`` in inverse depth uncovers at most ``(focal |T_xy| + diagonal |T_z|) delta``
    pixels behind it."""

    keys: np.ndarray
    """``(L,) float32``, per back-layer triangle: the least `reach` (pixel metres) at which it
    can show; ascending within the land group and within the rest."""
    focal: float
    """The plate's focal length in pixels (the pixels the keys count)."""
    diagonal: float
    """The plate's diagonal in pixels (bounds a pixel's distance from the principal point)."""
    near: float
    """The least depth (metres) on the near side of any depth edge."""

    SAFETY = 1.5
    """A margin on the bound (drawing a few more triangles than needed costs little)."""

    def reach(self, offset: np.ndarray) -> float:
        """The reach (pixel metres) of a camera at ``offset`` from the plate's camera: the keys
        up to it may show. Infinite (draw all) once the camera has moved a quarter of the way
        to the nearest edge. Before that, the first-order bound is widened by ``(1 - t /
        near)^-2`` (the depths' change over the move, ``t = |T|``), by ``1 / (1 - t / (near -
        t))`` (a gap next to an edge itself grows or shrinks as the camera moves along its
        axis) and by `SAFETY`."""
        t = float(np.linalg.norm(offset))
        if t >= 0.25 * self.near:
            return math.inf
        lateral = math.hypot(float(offset[0]), float(offset[1]))
        first = self.focal * lateral + self.diagonal * abs(float(offset[2]))
        return self.SAFETY * first / (1.0 - t / self.near) ** 2 / (1.0 - t / (self.near - t))

    def counts(self, land: int, offset: np.ndarray) -> tuple[int, int]:
        """How many of the land group's and of the rest's first triangles to draw."""
        r = self.reach(offset)
        if math.isinf(r):
            return land, len(self.keys) - land
        return (int(np.searchsorted(self.keys[:land], r, side="right")),
                int(np.searchsorted(self.keys[land:], r, side="right")))


REVEAL_MARGIN = 2.0
"""Pixels of a near side next to its depth edge that count as uncovered at rest (the front
layer's quads across the edge are flattened onto its near side, and the edge's own pixels
blend both sides)."""


_REVEAL_REACH = 5
"""Pixels around a near edge searched for the far side's depth (`back_reveal`)."""


def back_reveal(plate: Plate, back_depth: np.ndarray, vertices: np.ndarray, indices: np.ndarray,
                edges: tuple[np.ndarray, float, tuple[np.ndarray, np.ndarray]]) -> BackReveal | None:
    """For each back-layer triangle (``vertices``, ``indices`` and ``back_depth`` from
    `hybridscene.plate.relief.back_layer`; ``edges``: the plate's depth as float64, its
    discontinuity threshold and its discontinuities, as the relief found them), the least
    camera reach (`BackReveal.reach`) at which it can show: ``(d - REVEAL_MARGIN) / delta``
    minimised over the pixels around the triangle and over the plate's
    edges, ``d`` a pixel's distance to an edge and ``delta`` how much farther the back layer
    lies than the near side there, in inverse depth (edges grouped by it, each group's largest
    counting). An edge is the near side of a depth discontinuity, or land against the sky (a
    near ridge moving down uncovers what the back layer holds above it). A back layer's band is
    a tenth of the plate wide, for cameras that move far; a camera that sways draws the few
    pixels next to each edge it can uncover. ``None`` for a non-perspective plate or one
    without edges (draw all)."""
    from scipy import ndimage

    assert plate.camera is not None
    if plate.camera.projection != "perspective" or len(indices) == 0:
        return None
    depth, threshold, (hdisc, vdisc) = edges
    finite = np.isfinite(depth)
    with np.errstate(divide="ignore"):
        disparity = np.where(finite, 1.0 / depth, 0.0)
        back = np.where(np.isfinite(back_depth), 1.0 / back_depth, np.inf)
    edge = near_edges(disparity, hdisc, vdisc) & finite  # and land by the sky:
    edge |= finite & ~ndimage.binary_erosion(finite, border_value=1)
    # Each edge pixel's jump: from the nearest land to the farthest back layer around it (the
    # back layer copies the far side from a few pixels past the edge, and the edge's own pixels
    # may blend both depths).
    window = 2 * _REVEAL_REACH + 1
    nearest = ndimage.maximum_filter(disparity, size=window)
    farthest = ndimage.minimum_filter(back, size=window)
    jump = np.where(edge, nearest - farthest, 0.0)
    strong = jump > threshold
    if not strong.any():
        return None
    key = np.full(depth.shape, np.inf)
    groups = np.floor(np.log2(jump[strong] / threshold)).astype(int)  # jumps within a factor of 2
    for g in np.unique(groups):
        members = np.zeros(depth.shape, bool)
        members[strong] = groups == g
        dist = ndimage.distance_transform_edt(~members)
        key = np.minimum(key, np.maximum(dist - REVEAL_MARGIN, 0.0) / jump[members].max())
    keys = _bbox_min(plate, key, vertices, indices)
    pw, ph = plate.size
    f = (ph / 2) / math.tan(math.radians(plate.camera.fov_y) / 2)
    return BackReveal(keys.astype(np.float32), focal=f, diagonal=math.hypot(pw, ph), near=float(depth[strong].min()))


def _bbox_min(plate: Plate, field: np.ndarray, vertices: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """A lower bound, per triangle, of ``field`` (``(H, W)``, >= 0) over the plate pixels
    around the triangle (its box and one pixel more; 0 for a triangle past the image's edges):
    exact to a factor of 1.25, from boxes of the field's levels on 4-pixel blocks."""
    pw, ph = plate.size
    lo, hi, inside = triangle_boxes(plate, vertices, indices)
    b = 4  # the field's minimum over 4x4 blocks: the boxes in blocks
    bh, bw = -(-ph // b), -(-pw // b)
    padded = np.full((bh * b, bw * b), np.inf)
    padded[:ph, :pw] = field
    blocks = padded.reshape(bh, b, bw, b).min(axis=(1, 3))
    lo, hi = lo // b, hi // b
    out = np.full(len(indices), np.inf)
    finite = blocks[np.isfinite(blocks)]
    top = float(finite.max()) if finite.size else 0.0
    levels = [0.0]
    while levels[-1] < top:
        levels.append(max(1e-3, levels[-1] * 1.25))
    below = 0.0  # a box with no value up to a level has its least value above it
    for level in levels:
        hit = box_counts(blocks <= level, lo, hi) > 0
        out = np.where(np.isinf(out) & hit, below, out)
        below = level
    return np.where(inside, out, 0.0)
