"""Tests for the procedural mountains-and-river plate (hybridscene.plate._landscape)."""

from __future__ import annotations

import importlib.util
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

try:
    from hybridscene.plate import _landscape as land
except Exception:  # the package may not import (yet) in a bare environment: load by file
    _path = Path(__file__).resolve().parents[1] / "hybridscene" / "plate" / "_landscape.py"
    _spec = importlib.util.spec_from_file_location("_landscape", _path)
    land = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(land)

paint_mountains = land.paint_mountains


def _cam(width: int, height: int, info: dict) -> tuple[float, float, float, float]:
    f = (height / 2) / math.tan(math.radians(info["fov_y"]) / 2)
    return f, width / 2, info["horizon"] * height, info["camera_height"]


def _ground_depth(rows: np.ndarray, f: float, cy: float, h: float) -> np.ndarray:
    return f * h / ((rows + 0.5) - cy)


@pytest.fixture(scope="module")
def plate():
    return paint_mountains(160, 90, 1)


def test_shapes_dtypes_and_info(plate):
    image, depth, info = plate
    assert image.shape == (90, 160, 3) and image.dtype == np.uint8
    assert depth.shape == (90, 160) and depth.dtype == np.float32
    assert info["variant"] in land.VARIANTS
    assert (info["fov_y"], info["camera_height"], info["horizon"]) == (50.0, 4.0, 0.45)
    sun = np.array(info["sun_direction"])
    assert sun.shape == (3,) and abs(np.linalg.norm(sun) - 1) < 1e-5
    assert len(info["sun_color"]) == 3 and len(info["sky_color"]) == 3
    assert min(info["sun_color"]) >= 0 and min(info["sky_color"]) > 0
    json.loads(json.dumps(info))  # plain JSON-able values


@pytest.mark.parametrize("seed", [2, 6, 10])  # golden hour: a low sun in front of the camera
def test_sun_direction_is_the_way_the_light_travels(seed):
    """The painted sun glows where -sun_direction (toward the sun) projects into the image."""
    image, depth, info = paint_mountains(320, 180, seed)
    light = np.array(info["sun_direction"])
    assert light[1] < 0 and light[2] > 0  # down, and toward the camera: the sun is ahead, above the horizon
    toward = -light
    column = 320 / 2 + info["focal_px"] * toward[0] / -toward[2]
    lum = np.where(np.isinf(depth), image.astype(float).sum(axis=2), np.nan)[:60]
    brightest = int(np.nanargmax(np.nanmean(lum, axis=0)))
    assert abs(brightest - column) < 320 / 16, (brightest, column)


def test_same_seed_is_byte_identical():
    a = paint_mountains(120, 70, 7)
    b = paint_mountains(120, 70, 7)
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_different_seeds_differ_and_cycle_variants():
    results = [paint_mountains(96, 54, s) for s in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            diff = np.abs(results[i][0].astype(int) - results[j][0].astype(int)).mean()
            assert diff > 5, (i, j, diff)
    assert len({r[2]["variant"] for r in results}) >= 3


@pytest.mark.parametrize("seed", range(4))
def test_sky_at_top_is_inf_and_brighter_bluer_than_ground(seed):
    image, depth, _ = paint_mountains(128, 72, seed)
    assert np.isinf(depth[:3]).all()
    sky = image[:3].reshape(-1, 3).astype(float).mean(0)
    ground = image[-3:].reshape(-1, 3).astype(float).mean(0)
    assert sky.sum() > ground.sum()
    assert sky[2] / sky.sum() > ground[2] / ground.sum()


@pytest.mark.parametrize(
    "kw", [{}, {"camera_height": 1.6, "horizon": 0.3}, {"fov_y": 80.0, "horizon": 0.6},
           {"fov_y": 20.0, "camera_height": 12.0}])
def test_ground_below_nearest_ridge_matches_plane_formula(kw):
    width, height = 120, 80
    _, depth, info = paint_mountains(width, height, 3, **kw)
    f, _, cy, h = _cam(width, height, info)
    rows = np.arange(height)
    base = cy + f * h / info["ridge_depths"][0][0]  # foot of the nearest ridge card
    ground = rows + 0.5 > base + 1e-9
    assert ground[-1]
    expect = _ground_depth(rows[ground], f, cy, h).astype(np.float32)
    expect = np.broadcast_to(expect[:, None], (int(ground.sum()), width))
    np.testing.assert_allclose(depth[ground], expect, rtol=1e-6)


def test_depth_finite_below_horizon_and_ridges_occlude(plate):
    _, depth, info = plate
    width, height = 160, 90
    f, _, cy, h = _cam(width, height, info)
    rows = np.arange(height)
    below = rows + 0.5 > cy
    assert np.isfinite(depth[below]).all() and (depth[below] > 0).all()
    assert not np.isnan(depth).any()
    # Nothing is behind the ground plane: each pixel below the horizon is at most ground depth.
    zg = _ground_depth(rows[below], f, cy, h).astype(np.float32)
    assert (depth[below] <= zg[:, None] * (1 + 1e-6)).all()
    # Every ridge pixel lies on one of the cards, within that card's depth range.
    cards = info["ridge_depths"]
    far = max(c[1] for c in cards)
    ridge = np.isfinite(depth) & ~below[:, None]
    assert ridge.any()
    assert (depth[ridge] <= far * (1 + 1e-6)).all()
    assert (depth[ridge] >= cards[0][0] * (1 - 1e-6)).all()
    # Each ridge pixel back-projects onto a card: depth == z_i + lean * Y with Y >= 0.
    r, c = np.nonzero(ridge)
    d = depth[r, c].astype(np.float64)
    y = h + (cy - (r + 0.5)) * d / f
    assert (y > -1e-3 * d).all()
    z_base = d - land._LEAN * y
    err = np.min(np.abs(z_base[:, None] - np.array([c0 for c0, _ in cards])[None, :]), axis=1)
    assert (err <= 1e-5 * d + 1e-3).all()


def test_projected_ground_point_lands_on_matching_pixel():
    width, height = 200, 120
    _, depth, info = paint_mountains(width, height, 0)
    f, cx, cy, h = _cam(width, height, info)
    for x_w, z in ((1.5, 12.0), (-2.0, 20.0), (0.3, 9.5)):
        px, py = cx + f * x_w / z, cy - f * (0.0 - h) / z  # ground point (X, 0, -z)
        r, c = int(py), int(px)
        assert 0 <= r < height and 0 <= c < width
        assert depth[r, c] == pytest.approx(f * h / (r + 0.5 - cy), rel=1e-6)
        # the pixel covers the point: its depth is within one row's span of z
        lo, hi = f * h / (r + 1 - cy), f * h / max(r - cy, 1e-9)
        assert lo <= z <= hi and lo <= depth[r, c] <= hi


def test_nearest_ridge_opens_a_valley_for_the_river():
    width, height = 320, 180
    _, depth, info = paint_mountains(width, height, 2)
    f, _, cy, h = _cam(width, height, info)
    col = int(info["river_gap"]["column"])
    assert 0 <= col < width
    z0 = info["ridge_depths"][0][0]
    base = cy + f * h / z0
    rows = [r for r in range(height) if cy < r + 0.5 < base]
    assert rows, "no row between the horizon and the nearest card's foot"
    assert (depth[rows, col] > z0).all()  # we see past the nearest ridge at the gap


def test_same_composition_at_two_resolutions():
    small = paint_mountains(160, 90, 5)[0].astype(float)
    big = paint_mountains(320, 180, 5)[0].astype(float)
    down = big.reshape(90, 2, 160, 2, 3).mean(axis=(1, 3))
    other = paint_mountains(160, 90, 9)[0].astype(float)  # same variant, other seed
    same_err = np.abs(down - small).mean()
    assert same_err < 12
    assert same_err < 0.5 * np.abs(other - small).mean()


@pytest.mark.parametrize("size", [(16, 16), (17, 9), (9, 17), (1, 1)])
def test_small_sizes(size):
    w, h = size
    image, depth, _ = paint_mountains(w, h, 3)
    assert image.shape == (h, w, 3) and depth.shape == (h, w)
    assert not np.isnan(depth).any()


@pytest.mark.parametrize(
    "kw, value",
    [({"width": 0}, 0), ({"width": -3}, -3), ({"width": 12.0}, 12.0), ({"width": True}, True),
     ({"height": 0}, 0), ({"height": "64"}, "64"), ({"seed": -1}, -1),
     ({"horizon": 0.0}, 0.0), ({"horizon": 1.0}, 1.0), ({"horizon": float("nan")}, float("nan")),
     ({"fov_y": 1.0}, 1.0), ({"fov_y": 179.0}, 179.0), ({"fov_y": 0.0}, 0.0),
     ({"camera_height": 0.0}, 0.0), ({"camera_height": -2.0}, -2.0),
     ({"camera_height": float("inf")}, float("inf"))])
def test_invalid_inputs_raise_value_error_naming_the_value(kw, value):
    args = {"width": 32, "height": 24, "seed": 0, **kw}
    width, height, seed = args.pop("width"), args.pop("height"), args.pop("seed")
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        paint_mountains(width, height, seed, **args)
