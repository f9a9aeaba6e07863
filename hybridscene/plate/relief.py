"""Parallax geometry: a plate as a relief, its pixels pushed out along their view rays to their
depth, as triangle meshes in numpy (no GL; `ParallaxRenderer`
draws them).

A plate is a picture taken from one point: its camera ([`PlateCamera`][hybridscene.PlateCamera]).
While the scene's camera stands there, turning and zooming are exact with a homography of the
image (`hybridscene.scene.view.plate_mapping`). Once the camera *moves*, near things
must slide across far ones. With a depth map the plate becomes a 2.5D relief:

- the front mesh (`relief_mesh`): every pixel at its depth, exact to the pixel at depth
  discontinuities (a near ridge over a far one);
- a back layer (`back_layer`): what lies behind each near ridge, guessed from the far side,
  which a moving camera looks into;
- a backdrop (`sky_filled`): the plate with its sky continued down behind the land, so a
  ridge that sinks as the camera climbs uncovers sky, not its own ghost.

Disoccluded land (what the plate never saw, behind a near ridge) is stretched from its
neighbours, the classic "rubber sheet"; keep moves modest relative to the distances in the
plate (metres for a valley hundreds of metres deep), or paint a larger plate.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import PlateError
from .plate import Plate
from .projection import unproject
from .reveal import BackReveal, back_reveal, box_counts, near_edges, triangle_boxes

__all__ = ["PLANAR_TOLERANCE", "RELATIVE_TOLERANCE", "ReliefGeometry", "back_layer", "coarse_plate", "discontinuities",
           "land_first", "relief_geometry", "relief_mesh", "sky_filled"]

PLANAR_TOLERANCE = 0.01
"""How far a merged block of the relief may leave the grid it replaces: in pixels of the plate,
for a camera that has moved by the plate camera's height (``0.01``: a hundredth of a pixel
there, proportionally less for smaller moves). Applied to inverse depth, where a plane is
affine across the image, as ``tolerance / (f h)`` (``f`` the focal length in pixels, ``h`` the
height; the discontinuity threshold is ``3 / (f h)``), and never more than
`RELATIVE_TOLERANCE` of the inverse depth itself, so the relief's depth (which the
foreground's occlusion test reads) stays within 0.1 % of the grid's."""

RELATIVE_TOLERANCE = 1e-3
"""The most a merged block's inverse depth may differ from the grid's, relative (0.1 %)."""


@dataclasses.dataclass(frozen=True)
class ReliefGeometry:
    """A plate's relief, computed once per plate (see `relief_geometry`)."""

    vertices: np.ndarray
    """``(N, 3) float32`` world positions (metres) of the front mesh."""
    indices: np.ndarray
    """``(M, 3) uint32`` triangles of the front mesh."""
    back_image: np.ndarray
    """``(H, W, 3) uint8`` sRGB colour of the back layer."""
    back_depth: np.ndarray
    """``(H, W) float32`` metres, the back layer's depth (the plate's outside its bands)."""
    back_vertices: np.ndarray
    """``(K, 3) float32`` world positions of the back layer's mesh (empty without discontinuities)."""
    back_indices: np.ndarray
    """``(L, 3) uint32`` triangles of the back layer's mesh."""
    backdrop: np.ndarray
    """``(H, W, 3) uint8`` sRGB, the plate with its sky continued behind the land."""
    land: int = 0
    """The first ``land`` triangles of ``indices`` see no sky texel (drawn without the
    per-pixel sky test, see `land_first`)."""
    back_land: int = 0
    """The same for ``back_indices``."""
    back_reveal: BackReveal | None = None
    """When each back-layer triangle can show (`back_reveal`); its land and sky-tested groups are
    each sorted by it. ``None``: always draw them all."""


def relief_mesh(plate: Plate, *, max_columns: int = 320,
                tolerance: float | None = PLANAR_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """The plate's displaced surface (the front layer) as triangles.

    A grid of vertices every ``ceil(width / max_columns)`` pixels (edges included), each pushed
    out along the plate camera's ray to the depth under it. Grid cells with a depth
    discontinuity inside (a near ridge over a far one, see `discontinuities`) are
    replaced by one quad per pixel, and a quad across the discontinuity is flattened onto its
    nearer side: the silhouette stays exact to the pixel and nothing is stretched across the
    gap when the camera moves (the back layer, `back_layer`, fills it). Sky vertices next
    to land take the land's depth (the fragment shader trims the silhouette); triangles with a
    sky vertex left are dropped.

    Where the ground is planar (the inverse depth affine across the image within ``tolerance``,
    see `PLANAR_TOLERANCE`) whole blocks of grid cells are merged into one polygon (a quadtree,
    `_planar_blocks`), so full resolution is spent only where the depth bends or breaks: a CPU
    rasteriser pays per triangle far more than per pixel. ``tolerance=None`` keeps every cell.

    Returns:
        ``(vertices, indices)``: ``(N, 3) float32`` world positions in metres and
        ``(M, 3) uint32`` triangles.
    """
    depth, threshold, (hdisc, vdisc) = _edges(plate, "relief_mesh")
    touched = np.zeros(depth.shape, bool)
    touched[:, :-1] |= hdisc
    touched[:, 1:] |= hdisc
    touched[:-1] |= vdisc
    touched[1:] |= vdisc
    lat_x, lat_y = _lattice(plate.size, max_columns)
    broken = _cells_touching(touched, lat_x, lat_y)
    merge = _merge_tolerance(plate, tolerance)
    verts, tris = _grid(plate, depth, lat_x, lat_y, ~broken, threshold, merge=merge)
    verts, tris = _merge([(verts, tris), _fine_quads(plate, depth, lat_x, lat_y, broken, threshold, merge),
                          _border_skirt(plate, depth, lat_x, lat_y)])
    return verts.astype(np.float32), np.ascontiguousarray(tris, dtype=np.uint32)


def _merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ``(vertices, triangles)`` meshes, offsetting each one's indices (int64)."""
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    return (np.concatenate([v for v, _ in parts]),
            np.concatenate([t.astype(np.int64) + o for (_, t), o in zip(parts, offsets)]))


def back_layer(plate: Plate, *, max_columns: int = 320, tolerance: float | None = PLANAR_TOLERANCE
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What lies behind the near side of each depth discontinuity, guessed: a band of pixels
    (a tenth of the plate's width) on the near side takes the colour and depth of the nearest
    pixel of the far side, just clear of the edge (the far side continued under the near one). A moving camera
    looks into that band where a near ridge uncovers what was behind it.

    Returns:
        ``(image, depth, vertices, indices)``: the back layer's ``(H, W, 3) uint8`` colour and
        ``(H, W) float32`` depth (the plate's outside the band), and its mesh (only around the
        bands; empty when the plate has no discontinuity). Planar blocks are merged as in
        `relief_mesh`.
    """
    from scipy import ndimage

    depth, threshold, (hdisc, vdisc) = _edges(plate, "back_layer")
    finite = np.isfinite(depth)
    with np.errstate(divide="ignore"):
        disparity = np.where(finite, 1.0 / depth, 0.0)
    near_edge = near_edges(disparity, hdisc, vdisc)  # the nearer pixel of each discontinuous pair
    empty = (np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint32))
    if not near_edge.any():
        return plate.image, plate.depth, *empty
    width = max(16, plate.size[0] // 10)
    dist = ndimage.distance_transform_edt(~near_edge)
    # Sources: far-side pixels two or three pixels from a near edge (clear of the edge's
    # anti-aliased blend); each band pixel copies the nearest one.
    near_by = ndimage.maximum_filter(np.where(near_edge, disparity, 0.0), size=7)
    source = finite & (dist >= 2) & (dist <= 3) & (disparity < near_by - threshold)
    if not source.any():
        return plate.image, plate.depth, *empty
    rows, cols = ndimage.distance_transform_edt(~source, return_distances=False, return_indices=True)
    band = (dist <= width) & finite & (disparity > disparity[rows, cols] + threshold)
    rows = np.where(band, rows, np.arange(depth.shape[0])[:, None])
    cols = np.where(band, cols, np.arange(depth.shape[1]))
    image = plate.image[rows, cols]
    back_depth = plate.depth[rows, cols]
    lat_x, lat_y = _lattice(plate.size, max_columns)
    near_band = _cells_touching(band, lat_x, lat_y)
    near_band = ndimage.binary_dilation(near_band, iterations=1)
    verts, tris = _grid(plate, back_depth.astype(np.float64), lat_x, lat_y, near_band, threshold, smooth=True,
                        merge=_merge_tolerance(plate, tolerance))
    return image, back_depth, verts.astype(np.float32), np.ascontiguousarray(tris, dtype=np.uint32)


def _edges(plate: Plate, what: str) -> tuple[np.ndarray, float, tuple[np.ndarray, np.ndarray]]:
    """The plate's depth (float64), its discontinuity threshold and its discontinuities; a
    `PlateError` naming ``what`` when the plate has no depth or no camera."""
    if plate.depth is None or plate.camera is None:
        raise PlateError(f"{what} needs a plate with depth and a camera (PlateCamera); this plate has "
                         f"{'no depth' if plate.depth is None else 'no camera'}")
    depth = plate.depth.astype(np.float64)
    threshold = _threshold(plate)
    return depth, threshold, discontinuities(depth, threshold)


def discontinuities(depth: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Neighbouring land pixels whose inverse depths differ by more than ``threshold``
    (1 / metres): ``(H, W - 1)`` pairs along rows and ``(H - 1, W)`` pairs along columns.

    On a plane inverse depth changes linearly across the image, so a jump several times the
    ground's per-pixel change is an edge (a ridge in front of another), not a slope. Edges
    against the sky are not counted (the sky is handled per pixel).
    """
    finite = np.isfinite(depth)
    with np.errstate(divide="ignore"):
        disparity = np.where(finite, 1.0 / depth, 0.0)
    h = (np.abs(np.diff(disparity, axis=1)) > threshold) & finite[:, :-1] & finite[:, 1:]
    v = (np.abs(np.diff(disparity, axis=0)) > threshold) & finite[:-1] & finite[1:]
    return h, v


def _threshold(plate: Plate) -> float:
    """Three times the ground plane's inverse-depth change per pixel row: ``3 / (f h)``."""
    assert plate.camera is not None
    f = (plate.size[1] / 2) / math.tan(math.radians(plate.camera.fov_y) / 2)
    return 3.0 / (f * max(plate.camera.height, 1e-3))


def _lattice(size: tuple[int, int], max_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel indices of the coarse grid's vertices (every ``step`` pixels, last pixel included)."""
    pw, ph = size
    step = max(1, math.ceil(max(pw, ph) / max_columns))
    return (np.unique(np.append(np.arange(0, pw, step), pw - 1)),
            np.unique(np.append(np.arange(0, ph, step), ph - 1)))


def _cells_touching(mask: np.ndarray, lat_x: np.ndarray, lat_y: np.ndarray) -> np.ndarray:
    """``(len(lat_y) - 1, len(lat_x) - 1)``: cells whose pixels (edges included) touch ``mask``."""
    area = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    area[1:, 1:] = mask.cumsum(0).cumsum(1)
    y0, y1 = lat_y[:-1, None], lat_y[1:, None] + 1
    x0, x1 = lat_x[None, :-1], lat_x[None, 1:] + 1
    return (area[y1, x1] - area[y0, x1] - area[y1, x0] + area[y0, x0]) > 0


def _coordinates(index: np.ndarray, n: int) -> np.ndarray:
    """Pixel index -> image coordinate of its centre; the first and last pixels reach the image
    edge, so the surface covers the whole plate."""
    x = index + 0.5
    return np.where(index == 0, 0.0, np.where(index == n - 1, float(n), x))


def _grid(plate: Plate, depth: np.ndarray, lat_x: np.ndarray, lat_y: np.ndarray, cells: np.ndarray,
          threshold: float, *, smooth: bool = False, merge: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The coarse grid's vertices and the triangles of ``cells``; ``smooth=True`` also drops
    cells whose corners jump in depth (the back layer's edges); ``merge`` (inverse depth, 1 / m)
    merges planar blocks of whole-land cells (`_planar_blocks`).

    Cells with land and sky corners get their own vertices, the sky ones at the depth of the
    cell's nearest land corner (the fragment shader trims the sky off to the pixel).
    """
    pw, ph = plate.size
    d = depth[np.ix_(lat_y, lat_x)]
    xs, ys = np.meshgrid(_coordinates(lat_x, pw), _coordinates(lat_y, ph))
    corner = (slice(None, -1), slice(None, -1)), (slice(None, -1), slice(1, None)), \
        (slice(1, None), slice(None, -1)), (slice(1, None), slice(1, None))
    cd = np.stack([d[c] for c in corner], -1)  # (cells y, cells x, 4): a b c e
    finite = np.isfinite(cd)
    with np.errstate(divide="ignore"):
        disp = np.where(finite, 1.0 / cd, 0.0)
    keep = cells & finite.any(-1)
    if smooth:
        spread = disp.max(-1) - np.where(finite, disp, np.inf).min(-1)
        keep &= spread <= threshold * (lat_x[1] - lat_x[0] + 2)
    # Every kept cell's corners, with sky corners on the cell's nearest land.
    nearest = disp.max(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        cd = np.where(finite, cd, 1.0 / nearest)
    disp = np.where(finite, disp, nearest)
    shared = keep & finite.all(-1)
    own = keep & ~finite.all(-1)
    # Shared lattice vertices for whole-land cells, own vertices for cells touching the sky.
    verts = unproject(plate, xs, ys, np.where(np.isfinite(d), d, 0.0)).reshape(-1, 3)
    idx = np.arange(d.size, dtype=np.uint32).reshape(d.shape)
    fans = np.zeros((0, 3), np.uint32)
    if merge is not None:
        blocks, covered = _planar_blocks(np.where(np.isfinite(d), 1.0 / d, 0.0), xs[0], ys[:, 0], shared, merge)
        fans = _block_fans(blocks, covered, idx)
        shared = shared & ~covered
    quads = np.stack([idx[c] for c in corner], -1)[shared]
    oy, ox = np.nonzero(own)
    own_verts = unproject(plate, np.stack([xs[c][own] for c in corner], -1),
                           np.stack([ys[c][own] for c in corner], -1), cd[own]).reshape(-1, 3)
    own_quads = (len(verts) + np.arange(len(oy) * 4, dtype=np.uint32)).reshape(-1, 4)
    quads = np.concatenate([quads, own_quads])
    qd = np.concatenate([disp[shared], disp[own]])
    # Split each cell along the diagonal whose ends are nearer in inverse depth.
    split_bc = (np.abs(qd[:, 1] - qd[:, 2]) <= np.abs(qd[:, 0] - qd[:, 3]))[:, None]
    a, b, c, e = quads[:, 0], quads[:, 1], quads[:, 2], quads[:, 3]
    first = np.where(split_bc, np.stack([a, c, b], -1), np.stack([a, e, b], -1))
    second = np.where(split_bc, np.stack([b, c, e], -1), np.stack([a, c, e], -1))
    return np.concatenate([verts, own_verts]), np.concatenate([first, second, fans]).astype(np.uint32)


def _merge_tolerance(plate: Plate, tolerance: float | None) -> float | None:
    """`PLANAR_TOLERANCE`'s pixels -> inverse depth (1 / m); None (no merging) for a
    non-perspective plate, whose planes are not affine in inverse depth across the image."""
    assert plate.camera is not None
    if tolerance is None or plate.camera.projection != "perspective":
        return None
    return tolerance * _threshold(plate) / 3.0


def _planar_blocks(disp: np.ndarray, xs: np.ndarray, ys: np.ndarray, cells: np.ndarray,
                   tolerance: float) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """A quadtree over the grid's ``cells`` (``(ny, nx)`` bool, the mergeable ones): the largest
    aligned square blocks (2, 4, ... cells a side) whose cells are all mergeable and whose grid
    vertices' inverse depths ``disp`` (``(ny + 1, nx + 1)``, at image coordinates ``xs``, ``ys``)
    lie within ``tolerance`` of the bilinear blend of the block's corners, with the corners
    themselves within ``tolerance`` of a plane: such a block is planar, so one polygon through
    its edge vertices (`_block_fans`) draws what its cells did.

    Returns:
        ``([(row, column, size), ...], covered)``: blocks in cells, and the ``(ny, nx)`` cells
        they cover.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    ny, nx = cells.shape
    covered = np.zeros_like(cells)
    blocks: list[tuple[int, int, int]] = []
    size = 1
    while size * 2 <= min(ny, nx):
        size *= 2
    while size >= 2:
        by, bx = ny // size, nx // size
        ok = cells[:by * size, :bx * size].reshape(by, size, bx, size).all(axis=(1, 3))
        ok &= ~covered[:by * size, :bx * size].reshape(by, size, bx, size).any(axis=(1, 3))
        if ok.any():
            v = sliding_window_view(disp[:by * size + 1, :bx * size + 1], (size + 1, size + 1))[::size, ::size]
            xw = sliding_window_view(xs[:bx * size + 1], size + 1)[::size]
            yw = sliding_window_view(ys[:by * size + 1], size + 1)[::size]
            u = ((xw - xw[:, :1]) / (xw[:, -1:] - xw[:, :1]))[None, :, None, :]
            w = ((yw - yw[:, :1]) / (yw[:, -1:] - yw[:, :1]))[:, None, :, None]
            a, b, c, e = (v[..., 0, 0, None, None], v[..., 0, -1, None, None],
                          v[..., -1, 0, None, None], v[..., -1, -1, None, None])
            blend = (a * (1 - u) + b * u) * (1 - w) + (c * (1 - u) + e * u) * w
            ok &= (np.abs(v - blend) <= np.minimum(tolerance, RELATIVE_TOLERANCE * v)).all(axis=(2, 3))
            ok &= np.abs(a + e - b - c)[..., 0, 0] <= np.minimum(tolerance, RELATIVE_TOLERANCE * a[..., 0, 0])
            for row, col in zip(*np.nonzero(ok)):
                blocks.append((int(row) * size, int(col) * size, size))
                covered[row * size:(row + 1) * size, col * size:(col + 1) * size] = True
        size //= 2
    return blocks, covered


def _block_fans(blocks: list[tuple[int, int, int]], covered: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Triangles of the merged blocks: a fan from each block's centre vertex around its edge,
    through every grid vertex on the edge that a neighbour uses (the corners of cells left
    single and of other blocks), so the grid stays watertight (no T-junction cracks) with the
    same vertices (``idx``: ``(ny + 1, nx + 1)`` indices) as before. From the centre, not from
    a corner: a corner's fan would hold zero-area triangles along the corner's own edges, which
    a rasteriser still draws at float rounding, with wild depths and texture coordinates."""
    ny, nx = covered.shape
    used = np.zeros((ny + 1, nx + 1), bool)
    single = ~covered
    used[:-1, :-1] |= single
    used[:-1, 1:] |= single
    used[1:, :-1] |= single
    used[1:, 1:] |= single
    used[[0, -1], :] = True  # the skirt's vertices
    used[:, [0, -1]] = True
    table = np.array(blocks, np.int64).reshape(-1, 3)
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):  # every block's corners
        used[table[:, 0] + dr * table[:, 2], table[:, 1] + dc * table[:, 2]] = True
    fans = [np.zeros((0, 3), np.uint32)]
    for size in np.unique(table[:, 2]):
        r, c = (table[table[:, 2] == size, i][:, None] for i in (0, 1))
        k = np.arange(size)
        # The edge clockwise from the top-left corner: top, right, bottom, left, each corner once.
        rows = np.concatenate([r + 0 * k, r + k, r + size + 0 * k, r + size - k], axis=1)
        cols = np.concatenate([c + k, c + size + 0 * k, c + size - k, c + 0 * k], axis=1)
        keep = used[rows, cols]
        ring = idx[rows, cols][keep]  # block after block, in order
        block = np.nonzero(keep)[0]
        first = np.flatnonzero(np.diff(block, prepend=-1))  # where each block's ring starts
        nxt = np.arange(1, len(ring) + 1)
        nxt[np.append(first[1:], len(ring)) - 1] = first  # each ring closes on its first vertex
        centre = idx[r[:, 0] + size // 2, c[:, 0] + size // 2][block]
        fans.append(np.stack([centre, ring, ring[nxt]], -1))
    return np.concatenate(fans).astype(np.uint32)


def _border_skirt(plate: Plate, depth: np.ndarray, lat_x: np.ndarray, lat_y: np.ndarray, *,
                  extend: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A strip beyond each image edge, ``extend`` of the image wide, so a camera that moves
    forward or looks past the plate still sees land (the edge texels stretched) rather than
    the backdrop. Its depth continues the edge's inverse-depth slope (exact for the ground and
    for walls facing the camera), within a factor of 4 of the edge's depth. A scene keeps its
    camera's path off this strip before it renders (a larger plate or a zoom:
    `hybridscene.scene.overscan`); with ``overscan="off"`` it shows."""
    pw, ph = plate.size
    pieces = []
    # (lattice pixels along the edge, edge pixel, inward pixel, axis): 0 = columns vary.
    for along, edge, inner, horizontal in (
        (lat_x, ph - 1, lat_y[-2], True), (lat_x, 0, lat_y[1], True),
        (lat_y, 0, lat_x[1], False), (lat_y, pw - 1, lat_x[-2], False),
    ):
        if horizontal:
            d0, d1 = depth[edge, along], depth[inner, along]
            n = ph
        else:
            d0, d1 = depth[along, edge], depth[along, inner]
            n = pw
        ok = np.isfinite(d0) & np.isfinite(d1)
        with np.errstate(divide="ignore", invalid="ignore"):
            disp0, disp1 = 1.0 / d0, 1.0 / d1
            slope = (disp0 - disp1) / abs(edge - inner)
            reach = extend * n
            ext = np.clip(disp0 + slope * reach, disp0 / 4.0, disp0 * 4.0)
            d_ext = 1.0 / ext
        outward = reach if edge > 0 else -reach
        e0 = float(n if edge > 0 else 0)
        a = _coordinates(along, pw if horizontal else ph)
        if horizontal:
            inner_pts = unproject(plate, a, np.full_like(a, e0), d0)
            outer_pts = unproject(plate, a, np.full_like(a, e0 + outward), d_ext)
        else:
            inner_pts = unproject(plate, np.full_like(a, e0), a, d0)
            outer_pts = unproject(plate, np.full_like(a, e0 + outward), a, d_ext)
        m = len(along)
        i = np.arange(m - 1)
        good = ok[:-1] & ok[1:]
        quads = np.stack([i, i + 1, m + i, m + i + 1], -1)[good]
        tris = np.concatenate([quads[:, [0, 2, 1]], quads[:, [1, 2, 3]]])
        pieces.append((np.concatenate([inner_pts, outer_pts]), tris))
    return _merge(pieces)


def _fine_quads(plate: Plate, depth: np.ndarray, lat_x: np.ndarray, lat_y: np.ndarray, broken: np.ndarray,
                threshold: float, merge: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One quad per pixel inside the broken cells, each with its own four vertices; corners on
    the far side of a discontinuity (or sky) are pulled onto the nearest corner's depth.

    With ``merge`` (inverse depth, 1 / m), runs of whole-land quads along a row whose top and
    bottom edges are straight in inverse depth within ``merge`` become one quad each; their
    edges then pass within ``merge`` of the vertices of the rows above and below (a T-junction,
    as between the coarse grid and these quads)."""
    pw, ph = plate.size
    cell_x = np.searchsorted(lat_x, np.arange(pw - 1), side="right") - 1
    cell_y = np.searchsorted(lat_y, np.arange(ph - 1), side="right") - 1
    ys, xs = np.nonzero(broken[np.ix_(cell_y, cell_x)])  # top-left pixel of each quad, row by row
    if len(xs) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.uint32)
    cx = np.stack([xs, xs + 1, xs, xs + 1], -1)
    cy = np.stack([ys, ys, ys + 1, ys + 1], -1)
    d = depth[cy, cx]
    with np.errstate(divide="ignore"):
        disp = np.where(np.isfinite(d), 1.0 / d, 0.0)
    nearest = disp.max(-1, keepdims=True)
    land = nearest[:, 0] > 0
    far = (disp < nearest - threshold) | (disp == 0)
    if merge is not None:
        cx, cy, d, land, far = _row_runs(depth, xs, ys, cx, cy, d, land, far, merge)
    with np.errstate(divide="ignore"):
        d = np.where(far, 1.0 / _nearest(d), d)
    verts = unproject(plate, _coordinates(cx, pw), _coordinates(cy, ph), d).reshape(-1, 3)
    base = (np.arange(len(cx), dtype=np.uint32) * 4)[:, None]
    tris = np.concatenate([base + np.array([0, 2, 1], np.uint32), base + np.array([1, 2, 3], np.uint32)], 1)
    return verts, tris[land].reshape(-1, 3)


def _nearest(d: np.ndarray) -> np.ndarray:
    """``(N, 4)`` corner depths -> ``(N, 1)`` inverse depth of each quad's nearest corner."""
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(d), 1.0 / d, 0.0).max(-1, keepdims=True)


def _row_runs(depth: np.ndarray, xs: np.ndarray, ys: np.ndarray, cx: np.ndarray, cy: np.ndarray, d: np.ndarray,
              land: np.ndarray, far: np.ndarray, tolerance: float) -> tuple[np.ndarray, ...]:
    """`_fine_quads`' quads with each straight run of clean (whole-land, nothing flattened)
    quads along a row replaced by one quad from the run's first pixel to its last."""
    with np.errstate(divide="ignore"):
        disp = np.where(np.isfinite(depth), 1.0 / depth, 0.0)
    clean = ~far.any(-1)
    n = len(xs)
    # Neighbours in a row join when both are clean and the inverse depth does not bend at the
    # vertex they share (top and bottom edges).
    nxt = np.minimum(xs[:-1] + 2, depth.shape[1] - 1)
    join = (ys[1:] == ys[:-1]) & (xs[1:] == xs[:-1] + 1) & clean[1:] & clean[:-1]
    for row in (ys[:-1], ys[:-1] + 1):
        bend = disp[row, xs[:-1]] - 2 * disp[row, xs[:-1] + 1] + disp[row, nxt]
        join &= np.abs(bend) <= np.minimum(tolerance, RELATIVE_TOLERANCE * disp[row, xs[:-1] + 1])
    run = np.concatenate([[0], np.cumsum(~join)])  # run index of each quad
    starts = np.flatnonzero(np.concatenate([[True], ~join]))
    ends = np.append(starts[1:], n) - 1
    x0, x1 = xs[starts], xs[ends] + 1
    # Each run's edges must stay within the tolerance of every vertex they pass.
    off = np.zeros(n, bool)
    for row in (ys, ys + 1):
        t = (xs + 1 - x0[run]) / (x1[run] - x0[run])
        chord = disp[row, x0[run]] * (1 - t) + disp[row, x1[run]] * t
        vertex = disp[row, xs + 1]
        off |= np.abs(vertex - chord) > np.minimum(tolerance, RELATIVE_TOLERANCE * vertex)
    good = ~np.logical_or.reduceat(off, starts) & (ends > starts)
    single = ~good[run]
    keep = single | np.isin(np.arange(n), starts[good])
    rx = np.stack([x0, x1, x0, x1], -1)[run]
    cx = np.where(single[:, None], cx, rx)[keep]
    cy, land, far = cy[keep], land[keep], far[keep]
    d = depth[cy, cx].astype(np.float64)
    return cx, cy, d, land, far


def sky_filled(plate: Plate, *, margin: int = 2) -> np.ndarray:
    """The plate with its sky continued straight down behind the land: ``(H, W, 3) uint8``.

    Each land pixel takes the colour of the lowest sky pixel above it in its column (``margin``
    pixels clear of the silhouette's anti-aliased edge). Columns without sky keep their pixels.
    This is the backdrop behind the displaced surface: what a moving camera uncovers above a
    sinking ridge is sky.
    """
    image = plate.image
    if plate.depth is None:
        return image
    sky = np.isinf(plate.depth)
    for _ in range(margin):  # step away from the silhouette, whose pixels blend land in
        sky[1:] &= sky[:-1]
    h = sky.shape[0]
    rows = np.where(sky, np.arange(h)[:, None], -1)
    above = np.maximum.accumulate(rows, axis=0)  # lowest sky row at or above each pixel
    cols = np.broadcast_to(np.arange(sky.shape[1]), sky.shape)
    filled = image[np.maximum(above, 0), cols]
    return np.where((above >= 0)[..., None], filled, image)


def relief_geometry(plate: Plate, *, max_columns: int = 320,
                    tolerance: float | None = PLANAR_TOLERANCE, lod: int = 1) -> ReliefGeometry:
    """Everything a relief needs computed on the CPU for a plate (no GL, so a worker thread can
    run it): its back layer, front mesh and sky-filled backdrop.

    ``lod`` (level of detail, 1 or more): the meshes are built from the plate reduced ``lod``
    times on each side (`coarse_plate`), for frames drawn at ``1 / lod`` of the plate's scale
    or less (the preview's dynamic resolution), where a plate pixel is smaller than a frame
    pixel: the grid keeps its cells' size on screen, the depth edges are followed to ``lod``
    plate pixels, and about a quarter of the triangles are left (a CPU rasteriser pays per
    triangle). Which front triangles need the per-pixel sky test is still decided on the full
    plate, and the backdrop is the full plate's. A plate whose sides ``lod`` does not divide
    keeps full detail."""
    if lod < 1:
        raise PlateError(f"relief lod must be 1 or more, got {lod!r}")
    coarse = plate if lod == 1 else coarse_plate(plate, lod)
    columns = max(2, max_columns * coarse.size[0] // plate.size[0])
    image, depth, back_vertices, back_indices = back_layer(coarse, max_columns=columns, tolerance=tolerance)
    vertices, indices = relief_mesh(coarse, max_columns=columns, tolerance=tolerance)
    assert plate.depth is not None
    indices, land = land_first(plate, plate.depth, vertices, indices)
    back_indices, back_land = land_first(coarse, depth, back_vertices, back_indices)
    reveal = back_reveal(coarse, depth, back_vertices, back_indices, _edges(coarse, "back_reveal"))
    if reveal is not None:  # each group by when it can show, so a frame draws a prefix of each
        order = np.concatenate([np.argsort(reveal.keys[:back_land], kind="stable"),
                                back_land + np.argsort(reveal.keys[back_land:], kind="stable")])
        back_indices = np.ascontiguousarray(back_indices[order])
        reveal = dataclasses.replace(reveal, keys=np.ascontiguousarray(reveal.keys[order]))
    return ReliefGeometry(vertices, indices, image, depth, back_vertices, back_indices, sky_filled(plate),
                          land, back_land, reveal)


def coarse_plate(plate: Plate, factor: int) -> Plate:
    """``plate`` reduced ``factor`` times on each side (the same camera, so the same world):
    the image averaged over each ``factor`` x ``factor`` block, the depth the block's nearest
    (land wins over sky, a thin ridge is kept). ``plate`` itself when ``factor`` is 1 or does
    not divide both sides."""
    w, h = plate.size
    if factor == 1 or w % factor or h % factor or plate.depth is None:
        return plate
    blocks = (h // factor, factor, w // factor, factor)
    image = plate.image.reshape(*blocks[:2], *blocks[2:], 3).mean(axis=(1, 3))
    depth = plate.depth.reshape(blocks).min(axis=(1, 3))
    return Plate(np.round(image).astype(np.uint8), depth, source=plate.source, camera=plate.camera)


def land_first(plate: Plate, depth: np.ndarray, vertices: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, int]:
    """``indices`` reordered so the triangles whose texels (in ``depth``, ``(H, W)`` metres, a
    pixel's margin around each triangle's box in the plate's image) are all land come first,
    and how many they are: those need no per-pixel sky test (`ParallaxRenderer` draws them with
    a cheaper shader; on a CPU rasteriser a fragment that may be discarded also writes its
    depth late). Triangles reaching past the image's edges count as sky; so does every
    triangle of a non-perspective plate."""
    assert plate.camera is not None
    if len(indices) == 0 or plate.camera.projection != "perspective":
        return indices, 0
    lo, hi, inside = triangle_boxes(plate, vertices, indices)
    sky = box_counts(np.isinf(depth), lo, hi)
    land = inside & (sky == 0)
    return np.ascontiguousarray(np.concatenate([indices[land], indices[~land]])), int(land.sum())
