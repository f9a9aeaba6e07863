"""The adaptive relief: planar blocks of the grid merged, full resolution kept where the depth
bends or breaks, and the picture the same as the full grid's."""

from __future__ import annotations

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.plate.projection import plate_from_direction
from hybridscene.plate.relief import back_layer, relief_geometry, relief_mesh

W, H = 160, 96
FOV = 60.0
HEIGHT = 2.0
F = (H / 2) / np.tan(np.radians(FOV) / 2)  # focal length in pixels


def ground_depth() -> np.ndarray:
    """A flat ground (the camera ``HEIGHT`` m above it, looking level) below the horizon at row
    48, sky above: depth along the view axis ``f h / (y + 0.5 - 48)``."""
    rows = np.arange(H) + 0.5 - H / 2
    with np.errstate(divide="ignore"):
        depth = np.where(rows > 0, F * HEIGHT / rows, np.inf)
    return np.repeat(depth[:, None], W, axis=1).astype(np.float32)


def textured(depth: np.ndarray, seed: int = 0) -> hs.Plate:
    """``depth`` under a noisy texture (every shift of the surface shows in the pixels)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    image[np.isinf(depth)] = (150, 190, 240)
    return hs.Plate(image=image, depth=depth, camera=hs.PlateCamera(fov_y=FOV, height=HEIGHT, horizon=0.5))


def walled_hill() -> hs.Plate:
    """The ground, a sign 12 m out in rows 40..55 and columns 60..99 (in front of sky and far
    ground: a depth edge all round), and a round hill (curved: its inverse depth bends) on the
    right."""
    depth = ground_depth()
    depth[40:56, 60:100] = 12.0
    yy, xx = np.mgrid[0:H, 0:W]
    hill = np.clip(1.0 - ((xx - 135) / 22.0) ** 2 - ((yy - 70) / 20.0) ** 2, 0.0, None)
    land = np.isfinite(depth) & (xx >= 110)
    depth[land] = 1.0 / (1.0 / depth[land] + 0.04 * hill[land])
    return textured(depth, seed=1)


def plate_pixels(plate: hs.Plate, verts: np.ndarray) -> np.ndarray:
    """``(N, 2)`` where the plate's camera sees each vertex, in pixels (nan behind it)."""
    q = (verts.astype(np.float64) - (0.0, HEIGHT, 0.0)) @ plate_from_direction(plate).T
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q[:, 2:] > 0, q[:, :2] / q[:, 2:], np.nan) * (W, H)


def in_image(plate: hs.Plate, verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """The triangles inside the plate's image (not the skirt beyond its edges)."""
    px = plate_pixels(plate, verts)
    with np.errstate(invalid="ignore"):
        inside = (px[:, 0] > -1e-3) & (px[:, 0] < W + 1e-3) & (px[:, 1] > -1e-3) & (px[:, 1] < H + 1e-3)
    return tris[inside[tris].all(axis=1)]


def test_a_flat_ground_collapses_to_a_few_triangles():
    plate = textured(ground_depth())
    full_v, full_t = relief_mesh(plate, max_columns=80, tolerance=None)
    verts, tris = relief_mesh(plate, max_columns=80)
    full_in, merged_in = in_image(plate, full_v, full_t), in_image(plate, verts, tris)
    assert len(full_in) > 3000
    # Cells of 2 px: the row along the horizon stays (it touches the sky), and so do small
    # blocks along the image's edges (the grid stretches its last half pixel there); the rest merges.
    assert len(merged_in) < len(full_in) / 4, (len(merged_in), len(full_in))
    assert np.ptp(plate_pixels(plate, verts)[merged_in][..., 0], axis=1).max() >= 15  # blocks 16 px wide
    # Still the same surface: every vertex between the horizon's row of cells and the bottom
    # edge (where the grid stretches the last pixel's depth to the edge) sits on the ground
    # (y = 0), and the merged triangles cover the same part of the plate (the same area).
    rows = plate_pixels(plate, verts)[merged_in][..., 1]
    ground = merged_in[((rows > 50) & (rows < H - 1)).all(axis=1)]
    assert len(ground) > 0
    np.testing.assert_allclose(verts[np.unique(ground), 1], 0.0, atol=1e-4)

    def image_area(v, t):
        px = plate_pixels(plate, v)
        a, b, c = px[t[:, 0]], px[t[:, 1]], px[t[:, 2]]
        return np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]).sum() / 2

    assert image_area(verts, merged_in) == pytest.approx(image_area(full_v, full_in), rel=1e-6)


def test_depth_edges_and_curved_ground_keep_full_resolution():
    plate = walled_hill()
    _, full_t = relief_mesh(plate, max_columns=80, tolerance=None)
    verts, tris = relief_mesh(plate, max_columns=80)
    assert len(tris) < 0.6 * len(full_t)  # the flat ground merged ...
    q = (verts.astype(np.float64) - (0.0, HEIGHT, 0.0)) @ plate_from_direction(plate).T
    col, row = plate_pixels(plate, verts).T
    with np.errstate(invalid="ignore"):
        inside = (col > 0) & (col < W) & (row > 0) & (row < H)
    tri_in = inside[tris].all(axis=1)
    # ... the sign's silhouette still to the pixel, and no triangle spans it and the ground ...
    wall = np.isclose(q[:, 2], 12.0, rtol=1e-4)
    edges = col[tris[tri_in & wall[tris].all(axis=1) & (row[tris] > 48.5).all(axis=1)]]  # ground behind
    assert edges.min() >= 59.5 - 1e-3 and edges.max() <= 100.5 + 1e-3
    assert not np.any(tri_in & wall[tris].any(axis=1) & ~wall[tris].all(axis=1))
    # ... and the hill, whose inverse depth bends, kept at the grid's resolution (two pixels).
    on_hill = tri_in & (col[tris] > 120).all(axis=1) & (col[tris] < 150).all(axis=1) & \
        (row[tris] > 58).all(axis=1) & (row[tris] < 82).all(axis=1)
    spans = np.ptp(col[tris[on_hill]], axis=1)
    assert on_hill.sum() > 50 and spans.max() <= 2.0 + 1e-4


def test_back_layer_merges_too():
    plate = walled_hill()
    *_, full_t = back_layer(plate, max_columns=80, tolerance=None)
    *_, tris = back_layer(plate, max_columns=80)
    assert 0 < len(tris) < len(full_t)


@pytest.mark.gl
def test_merged_relief_draws_what_the_full_grid_draws(ctx):
    plate = walled_hill()
    scene = hs.Scene(plate, shadows=False, parallax=True)
    frames = {}
    with hs.FrameRenderer(ctx, (W, H), samples=1) as full, hs.FrameRenderer(ctx, (W, H), samples=1) as merged:
        full.parallax.tolerance = None
        for move in ((0.0, 0.0, 0.0), (0.6, 0.0, 0.0), (-0.4, 0.3, 0.0), (0.3, 0.2, -1.5)):
            pos = (move[0], HEIGHT + move[1], move[2])
            scene.camera.position = pos
            scene.camera.target = (pos[0], pos[1], pos[2] - 100.0)
            a, b = (r.render_layers(scene, 0.0) for r in (full, merged))
            frames[move] = a, b
        assert len(merged.parallax._meshes[plate][1][0].ibo.read()) < len(full.parallax._meshes[plate][1][0].ibo.read())
    for move, (a, b) in frames.items():
        diff = np.abs(a.composite.astype(int) - b.composite.astype(int)).max(axis=2)
        assert diff.max() <= 1, (move, diff.max(), np.argwhere(diff > 1)[:5])
        da, db = a.plate_depth, b.plate_depth
        np.testing.assert_array_equal(np.isinf(da), np.isinf(db))
        land = np.isfinite(da)
        np.testing.assert_allclose(db[land], da[land], rtol=2e-3)


def test_land_triangles_come_first_and_see_no_sky():
    plate = walled_hill()
    geo = relief_geometry(plate)
    assert 0 < geo.land < len(geo.indices)
    px = plate_pixels(plate, geo.vertices)
    sky = np.isinf(plate.depth)
    for i, tri in enumerate(geo.indices):
        lo = np.floor(px[tri].min(axis=0)).astype(int) - 1
        hi = np.floor(px[tri].max(axis=0)).astype(int) + 1
        inside = (lo >= 0).all() and hi[0] < W and hi[1] < H
        sees_sky = not inside or sky[lo[1]:hi[1] + 1, lo[0]:hi[0] + 1].any()
        assert sees_sky == (i >= geo.land), i


@pytest.mark.gl
def test_land_variant_draws_what_the_sky_tested_shader_draws(ctx):
    plate = walled_hill()
    scene = hs.Scene(plate, shadows=False, parallax=True)
    scene.camera.position = (0.5, HEIGHT + 0.2, -0.5)
    scene.camera.target = (0.5, HEIGHT + 0.2, -100.0)
    with hs.FrameRenderer(ctx, (W, H), samples=1) as split, hs.FrameRenderer(ctx, (W, H), samples=1) as tested:
        a = split.render_layers(scene, 0.0)
        for mesh in tested.parallax._entry(plate):
            mesh.land = 0  # every triangle through the shader with the sky test
        b = tested.render_layers(scene, 0.0)
    np.testing.assert_array_equal(a.composite, b.composite)
    np.testing.assert_array_equal(a.plate_depth, b.plate_depth)
