"""Screen rectangles: where a frame's foreground, shadows and reflection can be, so that a CPU
rasteriser clears, resolves and composites only there (the rest of the frame is the plate,
already in the output).

A rectangle is ``(x, y, width, height)`` in pixels, GL's convention (``y`` from the bottom row),
the form moderngl takes for a scissor or a viewport. Every rectangle here is conservative: it
covers every pixel the thing can touch (its bounds projected, plus `MARGIN` pixels for MSAA
samples and rounding), so drawing scissored to it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["MARGIN", "Rect", "area", "bounding", "contains", "flip", "intersect", "merge", "project_points", "projected_radius", "scale",
           "screen_rects", "sphere_box", "world_corners"]

Rect = tuple[int, int, int, int]
"""``(x, y, width, height)`` in pixels, ``y`` from the bottom row (GL)."""

MARGIN = 2
"""Pixels added on every side of a projected rectangle."""


def project_points(clip_from_world: np.ndarray, points: np.ndarray, size: tuple[int, int], *,
                   margin: int = MARGIN) -> Rect | None:
    """The pixels ``points`` (``(N, 3)`` world) span on screen: the whole frame when any point is
    at or behind the camera's plane (its projection is unbounded), ``None`` when they are all
    off screen.

    ``points`` should bound what is drawn (a box's 8 corners, not a sample of its surface).
    """
    w, h = size
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    if len(pts) == 0:
        return None
    clip = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.asarray(clip_from_world, np.float64).T
    cw = clip[:, 3]
    if not np.all(cw > 1e-6):
        return (0, 0, w, h)
    ndc = clip[:, :3] / cw[:, None]
    if np.all(ndc[:, 2] > 1.0):
        return None  # wholly beyond the far plane
    x0 = (ndc[:, 0].min() + 1.0) * 0.5 * w - margin
    x1 = (ndc[:, 0].max() + 1.0) * 0.5 * w + margin
    y0 = (ndc[:, 1].min() + 1.0) * 0.5 * h - margin
    y1 = (ndc[:, 1].max() + 1.0) * 0.5 * h + margin
    return _clamp(x0, y0, x1, y1, size)


def projected_radius(clip_from_world: np.ndarray, points: np.ndarray, size: tuple[int, int]) -> float:
    """Half the larger side, in pixels, of what ``points`` span on screen, not clipped to the
    frame (``inf`` when any is at or behind the camera's plane)."""
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    clip = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.asarray(clip_from_world, np.float64).T
    if not np.all(clip[:, 3] > 1e-6):
        return float("inf")
    ndc = clip[:, :2] / clip[:, 3:4]
    extent = (ndc.max(axis=0) - ndc.min(axis=0)) * 0.5 * np.asarray(size, np.float64)
    return float(extent.max()) / 2.0


def world_corners(bounds: tuple[np.ndarray, np.ndarray], world: np.ndarray) -> np.ndarray:
    """``(8, 3) float64``: the corners of the local box ``bounds = (lo, hi)`` in world space."""
    lo, hi = (np.asarray(b, np.float64) for b in bounds)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    m = np.asarray(world, np.float64)
    return corners @ m[:3, :3].T + m[:3, 3]


def sphere_box(lo: np.ndarray, hi: np.ndarray, radius: float) -> np.ndarray:
    """``(8, 3)``: the corners of the box ``lo..hi`` grown by ``radius`` on every side (what a
    camera-facing quad of that half-diagonal around any point of the box can cover)."""
    lo = np.asarray(lo, np.float64) - radius
    hi = np.asarray(hi, np.float64) + radius
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def _clamp(x0: float, y0: float, x1: float, y1: float, size: tuple[int, int]) -> Rect | None:
    w, h = size
    ix0, iy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    ix1, iy1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    if ix1 <= ix0 or iy1 <= iy0:
        return None
    return (ix0, iy0, ix1 - ix0, iy1 - iy0)


def area(rects: Iterable[Rect]) -> int:
    """Pixels of the rectangles together (each counted once where they overlap)."""
    rects = list(rects)
    if not rects:
        return 0
    xs = sorted({r[0] for r in rects} | {r[0] + r[2] for r in rects})
    total = 0
    for xa, xb in zip(xs, xs[1:]):
        spans = sorted((r[1], r[1] + r[3]) for r in rects if r[0] <= xa and r[0] + r[2] >= xb)
        covered, end = 0, -1
        for ya, yb in spans:
            if yb <= end:
                continue
            covered += yb - max(ya, end)
            end = yb
        total += covered * (xb - xa)
    return total


def bounding(rects: Iterable[Rect]) -> Rect | None:
    """The smallest rectangle holding every one of ``rects`` (``None`` for none)."""
    rects = list(rects)
    if not rects:
        return None
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    x1, y1 = max(r[0] + r[2] for r in rects), max(r[1] + r[3] for r in rects)
    return (x0, y0, x1 - x0, y1 - y0)


def merge(rects: Iterable[Rect | None], *, limit: int = 8, slack: int = 4096) -> list[Rect]:
    """A few rectangles covering ``rects`` (``None`` entries are skipped): pairs whose bounding
    rectangle costs at most ``slack`` pixels more than the two together become one (overlapping
    ones always do), cheapest first, then the cheapest pairs merge until at most ``limit`` are
    left (every draw over them is repeated per rectangle). Many rectangles are first gathered
    into `TILE`-pixel tiles; if that still leaves many, their bounding rectangle is returned."""
    out = [r for r in rects if r is not None and r[2] > 0 and r[3] > 0]
    if len(out) > _MANY:
        out = _tiles(out)
        if len(out) > _MANY:
            one = bounding(out)
            return [one] if one is not None else []
    if len(out) < 2:
        return out
    # Greedy, cheapest pair first, with each rectangle's costs to the others kept up to date
    # (plain Python: a frame has a handful, and numpy's per-call overhead would dominate).
    boxes: list[list[int] | None] = [[x, y, x + w, y + h] for x, y, w, h in out]

    def cost(p: list[int], q: list[int]) -> int:
        """Pixels the bounding rectangle of ``p`` and ``q`` adds to the two together."""
        ix = max(0, min(p[2], q[2]) - max(p[0], q[0]))
        iy = max(0, min(p[3], q[3]) - max(p[1], q[1]))
        joined = (max(p[2], q[2]) - min(p[0], q[0])) * (max(p[3], q[3]) - min(p[1], q[1]))
        return joined - ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - ix * iy)

    pairs = {(i, j): cost(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes))}
    count = len(boxes)
    while count > 1:
        (i, j), best = min(pairs.items(), key=lambda kv: kv[1])
        if best > slack and count <= limit:
            break
        p, q = boxes[i], boxes[j]
        assert p is not None and q is not None
        boxes[i] = [min(p[0], q[0]), min(p[1], q[1]), max(p[2], q[2]), max(p[3], q[3])]
        boxes[j] = None
        count -= 1
        pairs = {k: v for k, v in pairs.items() if j not in k and i not in k}
        for k, other in enumerate(boxes):
            if other is not None and k != i:
                pairs[(min(i, k), max(i, k))] = cost(boxes[i], other)  # type: ignore[arg-type]
    return [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in boxes if b is not None]


TILE = 32
"""Pixels a side of the tiles many rectangles are gathered into (`merge`)."""

_MANY = 24


def _tiles(rects: list[Rect]) -> list[Rect]:
    """The tiles ``rects`` touch, as rectangles: runs of tiles along each row, runs with the same
    columns in consecutive rows joined."""
    a = np.asarray(rects, np.int64)
    gx0, gy0 = a[:, 0] // TILE, a[:, 1] // TILE
    gx1, gy1 = -(-(a[:, 0] + a[:, 2]) // TILE), -(-(a[:, 1] + a[:, 3]) // TILE)
    grid = np.zeros((int(gy1.max()), int(gx1.max())), bool)
    for x0, y0, x1, y1 in zip(gx0, gy0, gx1, gy1):
        grid[y0:y1, x0:x1] = True
    open_runs: dict[tuple[int, int], list[int]] = {}  # (first column, end column) -> [first row, end row]
    out: list[Rect] = []
    for row in range(grid.shape[0] + 1):
        runs = set()
        if row < grid.shape[0]:
            cells = np.flatnonzero(np.diff(np.concatenate([[0], grid[row].astype(np.int8), [0]])))
            runs = {(int(c0), int(c1)) for c0, c1 in zip(cells[::2], cells[1::2])}
        for key in list(open_runs):
            if key in runs:
                open_runs[key][1] = row + 1
                runs.discard(key)
            else:
                r0, r1 = open_runs.pop(key)
                out.append((key[0] * TILE, r0 * TILE, (key[1] - key[0]) * TILE, (r1 - r0) * TILE))
        for key in runs:
            open_runs[key] = [row, row + 1]
    box = bounding(rects)  # the tiles, cut to where the rectangles reach (the frame)
    assert box is not None
    cut = [intersect(r, box) for r in out]
    return [r for r in cut if r is not None]


def intersect(a: Rect, b: Rect) -> Rect | None:
    """The pixels ``a`` and ``b`` share (``None``: none)."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def contains(outer: Rect, inner: Rect) -> bool:
    """Whether ``inner`` lies wholly inside ``outer``."""
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])


def flip(rect: Rect, height: int) -> Rect:
    """``rect`` in a target stored top row first (the compositor's offscreen output)."""
    x, y, w, h = rect
    return (x, height - y - h, w, h)


def scale(rect: Rect, factor_x: float, factor_y: float, size: tuple[int, int], *, margin: int = MARGIN) -> Rect | None:
    """``rect`` of a target ``1 / factor`` the size (a reflection drawn at half size) in the
    pixels of a target of ``size``, grown by ``margin`` for the filtering between them."""
    x, y, w, h = rect
    return _clamp(x * factor_x - margin, y * factor_y - margin, (x + w) * factor_x + margin,
                  (y + h) * factor_y + margin, size)


def screen_rects(drawables: list[tuple[Any, np.ndarray]], billboards: list[tuple[Any, np.ndarray]],
                 particles: dict[int, Any], view_proj: np.ndarray, size: tuple[int, int]) -> dict[tuple[str, int], Rect | None]:
    """``(kind, id(node))`` -> the pixels it can cover (``None``: off screen), for
    `hybridscene.gpu.renderer.SceneRenderer.render`'s scissors: ``drawables`` are
    ``(node, world)`` of meshes, ``billboards`` of sprites and emitters, ``particles`` each
    emitter's ``instances(t)`` by ``id(node)``; kinds ``"mesh"``, ``"sprite"``, ``"particles"``.
    Every thing's bounding points (8 each) are projected in one product."""
    keys: list[tuple[str, int]] = []
    points: list[np.ndarray] = []
    out: dict[tuple[str, int], Rect | None] = {}
    for node, world in drawables:
        keys.append(("mesh", id(node)))
        points.append(world_corners(node.mesh.geometry.bounds, world))
    for node, world in billboards:
        sp = node.sprite
        if sp is not None:
            w, h = (float(v) for v in sp.size)
            keys.append(("sprite", id(node)))
            if sp.billboard:  # a camera-facing quad about the node's origin
                points.append(sphere_box(world[:3, 3], world[:3, 3], 0.5 * float(np.hypot(w, h))))
            else:
                points.append(world_corners(((-w / 2, -h / 2, 0.0), (w / 2, h / 2, 0.0)), world))
        if node.particles is not None:
            pos, psize = particles[id(node)][:2]
            if len(pos) == 0:
                out[("particles", id(node))] = None
                continue
            box = world_corners((pos.min(axis=0), pos.max(axis=0)), world)  # camera-facing quads about each
            half = 0.5 * float(np.hypot(psize[:, 0], psize[:, 1]).max())
            keys.append(("particles", id(node)))
            points.append(sphere_box(box.min(axis=0), box.max(axis=0), half))
    if not keys:
        return out
    w, h = size
    pts = np.concatenate(points)  # 8 per key
    clip = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.asarray(view_proj, np.float64).T
    clip = clip.reshape(len(keys), 8, 4)
    behind = ~np.all(clip[..., 3] > 1e-6, axis=1)
    ndc = clip[..., :3] / np.where(clip[..., 3:] > 1e-6, clip[..., 3:], 1.0)
    beyond = np.all(ndc[..., 2] > 1.0, axis=1)
    lo, hi = ndc[..., :2].min(axis=1), ndc[..., :2].max(axis=1)
    for k, key in enumerate(keys):
        if behind[k]:
            out[key] = (0, 0, w, h)
        elif beyond[k]:
            out[key] = None
        else:
            out[key] = _clamp((lo[k, 0] + 1.0) * 0.5 * w - MARGIN, (lo[k, 1] + 1.0) * 0.5 * h - MARGIN,
                              (hi[k, 0] + 1.0) * 0.5 * w + MARGIN, (hi[k, 1] + 1.0) * 0.5 * h + MARGIN, size)
    return out
