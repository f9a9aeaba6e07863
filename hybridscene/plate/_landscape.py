"""Procedural "mountains and a river" plate: the offline, 'traditional method' background.

`paint_mountains` paints a sky, several layers of fractal ridges with aerial perspective, a
meadow and a river that winds from the bottom of the frame into a valley between the ridges. It is
pure numpy, deterministic by seed, and returns an *exact* depth map for this camera (and the
river's coverage of each pixel, `paint_mountains_and_water`):

* World: metres, right-handed, +Y up; the camera sits at ``(0, camera_height, 0)`` looking down -Z,
  level (no pitch). The ground / water level is ``y = 0``.
* ``f = (height / 2) / tan(radians(fov_y) / 2)`` pixels; principal point ``cx = width / 2``,
  ``cy = horizon * height`` (lens shift puts the horizon at row fraction ``horizon``). Pixel row
  ``r`` spans ``[r, r + 1)``; pixel ``(r, c)`` has its centre at ``(c + 0.5, r + 0.5)``.
* A point ``(X, Y, Z)`` with view depth ``z = -Z > 0`` lands on ``px = cx + f * X / z``,
  ``py = cy - f * (Y - camera_height) / z``. Depth maps hold ``z`` (not the ray length), ``inf``
  for sky.
* Ground (and river) pixel below the horizon: ``z = f * camera_height / ((r + 0.5) - cy)``.
* Ridges are vertical-ish "cards" standing on the ground at base distances ``z_i`` (~170 m to
  ~15 km). Each leans back by ``_LEAN``: a card point at height ``Y`` has depth
  ``z_i + _LEAN * Y``; a card pixel's depth is the depth of the card point its centre sees. Cards
  are drawn far to near, so nearer ones hide farther ones (painter's order == z-buffer, because all
  cards lean by the same amount and so are parallel planes).

Everything is shaded in linear light and encoded to sRGB once, with an ordered dither.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["VARIANTS", "paint_mountains", "paint_mountains_and_water"]

_H_REF = 4.0  # eye height (m) the ridge profiles are designed for (independent of camera_height)
_LEAN = 0.3  # card depth grows by _LEAN metres per metre of height (cards lean back)


def _bayer(levels: int = 3) -> np.ndarray:
    """Ordered-dither threshold matrix (2**levels square), values in [-0.5, 0.5)."""
    m = np.zeros((1, 1))
    for _ in range(levels):
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return ((m + 0.5) / m.size - 0.5).astype(np.float32)


_BAYER = _bayer()


def _lin(hex_colour: str) -> np.ndarray:
    """sRGB ``#rrggbb`` -> linear RGB float32."""
    c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


# Palettes ("variants"). sun_el / sun_az: degree ranges (azimuth from -Z toward +X, sign random);
# sun: colour and intensity; haze: fog per km; mist: extra valley mist per km at ground level;
# fill: extra sky light on surfaces in low light.
VARIANTS: dict[str, dict[str, Any]] = {
    "morning": dict(sun_el=(9, 18), sun_az=(100, 140), sun=("#ffe6cc", 2.4), zenith="#4f86d0",
                    horizon="#e6ddd3", haze=0.075, mist=0.4, grass=("#3f621a", "#74803a"),
                    forest="#24401d", rock="#7a7268", water="#16343a", clouds=(0.0, 0.55)),
    "midday": dict(sun_el=(48, 62), sun_az=(100, 160), sun=("#fff7ea", 2.4), zenith="#2f6ccc",
                   horizon="#c7dcef", haze=0.07, mist=0.12, grass=("#365a17", "#647a2e"),
                   forest="#1f4219", rock="#827a70", water="#123a44", clouds=(0.15, 0.6)),
    "golden hour": dict(sun_el=(3, 7), sun_az=(14, 30), sun=("#ffb466", 2.6), zenith="#4e6fae",
                        horizon="#ffc690", haze=0.08, mist=0.35, fill=1.2,
                        grass=("#4f6020", "#8a7e38"), forest="#2c3f1a", rock="#8a6f5c",
                        water="#1c2c36", clouds=(0.1, 0.5)),
    "dusk": dict(sun_el=(-1.5, 1.0), sun_az=(8, 26), sun=("#ff8a4a", 1.6), zenith="#262f63",
                 horizon="#f2956a", haze=0.085, mist=0.3, fill=1.6, grass=("#34461c", "#56602c"),
                 forest="#1b2617", rock="#5d5058", water="#141c2c", clouds=(0.2, 0.6)),
}


class _Noise:
    """Seeded value noise: 1-D Catmull-Rom (ridge lines) and 2-D smoothstep (textures)."""

    def __init__(self, rng: np.random.Generator) -> None:
        g = rng.random((257, 257), dtype=np.float32) * 2.0 - 1.0
        g[256, :] = g[0, :]
        g[:, 256] = g[:, 0]  # seamless wrap every 256 units
        self.g2 = g.ravel()
        self.g1 = rng.random(1024) * 2.0 - 1.0
        self.ang = rng.uniform(0.0, 2.0 * math.pi, 16).tolist()  # per-octave rotation ...
        self.off = rng.uniform(0.0, 256.0, (16, 2)).tolist()  # ... and offset (python floats)

    def n1(self, x: np.ndarray) -> np.ndarray:
        i0 = np.floor(x)
        t = x - i0
        i = i0.astype(np.int64)
        p0, p1, p2, p3 = (self.g1[(i + k) % 1024] for k in (-1, 0, 1, 2))
        return 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t
                      + (3 * (p1 - p2) + p3 - p0) * t * t * t)

    def n2(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        xf, yf = np.floor(x), np.floor(y)
        tx, ty = x - xf, y - yf
        tx = tx * tx * (3.0 - 2.0 * tx)
        ty = ty * ty * (3.0 - 2.0 * ty)
        idx = (yf.astype(np.int64) & 255) * 257 + (xf.astype(np.int64) & 255)  # wraps every 256
        g = self.g2
        a = g[idx]
        a += (g[idx + 1] - a) * tx
        b = g[idx + 257]
        b += (g[idx + 258] - b) * tx
        return a + (b - a) * ty

    def fbm2(self, x: np.ndarray, y: np.ndarray, octaves: int, gain: float = 0.5,
             fp: np.ndarray | None = None, first: int = 0) -> np.ndarray:
        """Fractal sum, normalised to about [-1, 1]. ``fp``: pixel footprint in the same units as
        x / y; octaves finer than ~2 footprints fade out (anti-aliasing) and are skipped where
        no pixel needs them (at most ``octaves``)."""
        out = np.zeros(np.shape(x), np.float32)
        amp, freq, norm = 1.0, 1.0, (1.0 - gain ** octaves) / (1.0 - gain)
        if fp is not None and np.size(fp):
            need = math.ceil(math.log2(0.8 / max(float(np.min(fp)), 1e-9)))
            octaves = int(np.clip(need, 1, octaves))
        for k in range(first, first + octaves):
            c, s = math.cos(self.ang[k]), math.sin(self.ang[k])
            ox, oy = self.off[k]
            v = self.n2(freq * (c * x - s * y) + ox, freq * (s * x + c * y) + oy)
            if fp is not None:
                v *= np.clip(0.8 / (freq * fp) - 1.0, 0.0, 1.0)  # 0 at 1.25 px per lattice cell
            out += amp * v
            amp *= gain
            freq *= 2.0
        return out / norm


def _smooth(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _check(name: str, value: Any, lo: float, hi: float) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not (lo < float(value) < hi):
        raise ValueError(f"{name} must be a number in ({lo:g}, {hi:g}), got {value!r}")
    return float(value)


def _sky(pal: dict[str, Any], sun: tuple[float, ...], sun_rgb: np.ndarray, u: np.ndarray,
         t: np.ndarray, noise: _Noise | None = None, cover: float = 0.0,
         disc: bool = True) -> np.ndarray:
    """Sky radiance (N, 3) for view directions ``(u, t, -1)`` (a cylindrical plate's,
    ``pal["cyl"]``: ``(sin u, t, -cos u)``, ``u`` the azimuth); clouds when ``noise`` is given;
    ``disc=False`` leaves out the sun's disc and halo (for the haze colour)."""
    cyl = pal.get("cyl", False)
    if cyl:
        n = np.sqrt(t * t + 1.0)
        mu = (np.sin(u) * sun[0] + t * sun[1] - np.cos(u) * sun[2]) / n
    else:
        n = np.sqrt(u * u + t * t + 1.0)
        mu = (u * sun[0] + t * sun[1] - sun[2]) / n  # cosine of the angle to the sun
    dy = np.clip(t / n, 0.0, 1.0)
    g = (dy ** 0.5)[:, None]
    col = pal["horizon_lin"] * (1.0 - g) + pal["zenith_lin"] * g
    col *= (1.0 + 0.35 * np.exp(-dy * 12.0))[:, None]  # brighter band just above the horizon
    glow = 0.16 * np.exp((mu - 1.0) * 2.5) * np.exp(-dy * 3.0)  # broad forward scatter
    if disc:
        glow = glow + 0.35 * np.exp((mu - 1.0) * 40.0) + 8.0 * np.exp((mu - 1.0) * 4000.0)
    col += glow[:, None] * sun_rgb
    if noise is None or cover <= 0.0:
        return col
    hc = 1500.0  # cloud deck altitude (m); clouds are a noise field on that plane
    ts = np.maximum(t, 1e-3)
    cz = hc / ts
    x, y = (np.sin(u) * cz / 2500.0, np.cos(u) * cz / 2500.0) if cyl else (u * cz / 2500.0, cz / 2500.0)
    fp = cz * cz / (hc * pal["f"] * 2500.0)  # deck footprint of one pixel (noise units)
    d = noise.fbm2(x, y * 1.5, 6, 0.55, fp, first=8)
    cov = _smooth(0.35 - 0.9 * cover, 0.75 - 0.9 * cover, d) * _smooth(0.004, 0.06, dy)
    dense = _smooth(0.0, 0.6, d - (0.35 - 0.9 * cover))
    lit = sun_rgb * (0.22 + 0.5 * np.exp((mu - 1.0) * 6.0))[:, None] * (1.0 - 0.6 * dense)[:, None]
    cloud = pal["horizon_lin"] * 0.55 + pal["zenith_lin"] * 0.25 + lit
    return col + (cloud - col) * (cov * 0.95)[:, None]


def _ridges(rng: np.random.Generator, noise: _Noise, u: np.ndarray, u_half: float, f: float,
            gap: float, turn: int = 0) -> list[dict[str, Any]]:
    """Ridge cards, nearest first. Each profile is an elevation angle A(u) above a 4 m eye
    (``H = _H_REF + z * A``), built from fBm / ridged noise, with a valley cut at the river gap.
    ``turn``: a full turn of ``turn`` columns (``u`` the azimuth, painted a little further,
    `_wrap`): the profiles are made periodic."""
    # z range (m), kind, base freq (per unit u), low, high, valley floor angle, valley width, gain
    table = [((170, 250), "forest", 1.1, 0.004, 0.075, None, 0.30, 0.45),
             ((520, 800), "forest", 1.5, 0.012, 0.105, None, 0.20, 0.48),
             ((1500, 2300), "mixed", 1.9, 0.025, 0.15, 0.004, 0.15, 0.5),
             ((4200, 6200), "rock", 2.4, 0.035, 0.19, 0.02, 0.11, 0.52),
             ((11000, 15000), "snow", 2.6, 0.05, 0.26, 0.045, 0.09, 0.55)]
    tall = float(rng.uniform(0.85, 1.3))  # how mountainous this seed is
    du = float(u[1] - u[0]) if len(u) > 1 else 1.0 / f
    layers, g = [], gap
    for i, ((z_lo, z_hi), kind, f0, lo, hi, floor, width, gain) in enumerate(table):
        z = float(rng.uniform(z_lo, z_hi))
        hi = hi * tall if i >= 2 else hi
        if i:
            g += float(rng.normal(0.0, 0.04)) * u_half
        ph = rng.uniform(0, 1024, 12)
        n_oct = int(np.clip(math.ceil(math.log2(max(f / (f0 * 1.5), 2.0))), 2, 12))
        fl = -(_H_REF + 1.0) / z if floor is None else floor  # None: cut down to the ground
        off = np.mod(u - g + math.pi, 2.0 * math.pi) - math.pi if turn else u - g  # azimuths wrap
        w = np.exp(-((off / (width * max(u_half, 0.3))) ** 2))
        s, amp, norm, levels = np.zeros_like(u), 1.0, 0.0, []
        for k in range(n_oct):
            x = u * f0 * 2.0 ** k + ph[k]
            o = noise.n1(x)
            if kind in ("rock", "snow", "mixed") and k > 0:
                o = 1.0 - 2.0 * np.abs(o)  # ridged octaves give sharp crests
            s = s + amp * o
            norm += amp
            amp *= gain
            prof = lo + (hi - lo) * np.clip(0.5 + 0.6 * s / (0.8 * norm if k else 1.0), 0.0, 1.2)
            prof = prof + 0.25 * (hi - lo) * np.minimum(np.abs(off) / max(u_half, 0.3), 1.5) * (i < 2)
            levels.append(prof * (1.0 - w) + fl * w)
        if kind == "forest":  # tree crowns along the silhouette (world metres on the card)
            top = np.zeros_like(u)
            for cw, sh in ((7.0 if i == 0 else 5.0, 0.0), (10.0 if i == 0 else 7.0, 0.37)):
                xc = u * z / cw + sh
                cell = np.floor(xc)
                fr = 2.0 * (xc - cell) - 1.0
                ht = 0.5 + 0.5 * noise.g1[(cell.astype(np.int64) * 7 + i) % 1024]
                shape = (np.sqrt(np.clip(1.0 - fr * fr, 0.0, 1.0)) if i == 0
                         else np.clip(1.0 - np.abs(fr), 0.0, 1.0) ** 1.2)  # round / conifer
                top = np.maximum(top, ht * shape * cw * (0.6 if i == 0 else 1.3))
            crown = top * np.clip((_H_REF + z * levels[-1]) / 8.0, 0.0, 1.0)  # none on the floor
            levels.append(levels[-1] + crown / z)
        a = np.stack(levels)
        if turn:  # periodic: the seam blended away, the gradient taken round the turn
            a = _wrap(a, turn)
            base = a[:, :turn]
            grads = _wrap_extend((np.roll(base, -1, 1) - np.roll(base, 1, 1)) / (2.0 * du), a.shape[1])
        else:
            grads = np.gradient(a, du, axis=1) if len(u) > 1 else np.zeros_like(a)
        height = np.maximum(_H_REF + z * a[-1], 0.0)
        layers.append(dict(z=z, kind=kind, gap=g, H=height, G=grads.astype(np.float32),
                           lam0=1.0 / f0, n_lv=len(levels) - 1))
    return layers


def _wrap(a: np.ndarray, turn: int) -> np.ndarray:
    """Columns ``turn..`` of ``a`` (``(..., W)``) continue past a full turn of ``turn`` columns;
    the first ``W - turn`` columns are faded from those continuations into themselves (so the
    turn's last column meets its first seamlessly), and the continuation then repeats them."""
    a = np.array(a, dtype=np.float64 if a.dtype == np.float64 else np.float32)
    extra = a.shape[-1] - turn
    s = _smooth(0.0, 1.0, (np.arange(extra) + 0.5) / extra).astype(a.dtype)
    a[..., :extra] = a[..., turn:] + (a[..., :extra] - a[..., turn:]) * s
    a[..., turn:] = a[..., :extra]
    return a


def _wrap_extend(a: np.ndarray, width: int) -> np.ndarray:
    """``a`` (``(..., turn)``, periodic) repeated to ``width`` columns."""
    return np.concatenate([a, a[..., :width - a.shape[-1]]], axis=-1)


def _shade_card(L: dict[str, Any], rr: np.ndarray, cc: np.ndarray, cam: dict[str, float],
                pal: dict[str, Any], sun: tuple[float, ...], sun_rgb: np.ndarray, amb: np.ndarray,
                haze: np.ndarray, noise: _Noise, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Colour (N, 3) and exact view depth (N,) of card ``L`` at pixels (rr, cc)."""
    f, cy, h = cam["f"], cam["cy"], cam["h"]
    z = L["z"]
    t = (cy - (rr.astype(np.float32) + 0.5)) / f
    y = (h + t * z) / (1.0 - t * _LEAN)  # card point seen by the pixel centre
    zp = z + _LEAN * y
    x = u[cc] * z
    crest = L["H"][cc].astype(np.float32)
    below = np.maximum(crest - y, 0.0)
    # Pseudo-normal: the slope of the ridge line, smoothed more the farther below the crest.
    lv = np.clip(np.log2(L["lam0"] / (4.0 * below / z + 1e-4)), 0.0, L["n_lv"] - 1e-3)
    k0 = lv.astype(np.int64)
    fr = lv - k0
    gx = np.clip(L["G"][k0, cc] * (1.0 - fr) + L["G"][k0 + 1, cc] * fr, -1.5, 1.5)
    kind = L["kind"]
    fp = z / f
    if kind == "forest":  # canopy: a bumpy height field of tree crowns, lit through its slope
        sc, ny = 6.0, 1.3
        xw, yw = x / sc, y / sc * 1.4
        rv = noise.fbm2(xw, yw, 3, 0.5, fp / sc, first=2)
        drv = (noise.fbm2(xw + 0.2, yw, 3, 0.5, fp / sc, first=2) - rv) * 5.0
        dry = (noise.fbm2(xw, yw + 0.2, 3, 0.5, fp / sc, first=2) - rv) * 5.0
        nx, ny = -(gx + 0.5 * drv), ny - 0.5 * dry
    else:  # ravines follow the fall line: noise stretched downhill and sheared along the slope
        sc, ny = 0.012 * z, 0.8
        xw, yw = (x + 1.2 * gx * below) / sc, y / (3.0 * sc)
        rv = noise.fbm2(xw, yw, 4, 0.55, fp / sc, first=2)
        drv = (noise.fbm2(xw + 0.25, yw, 4, 0.55, fp / sc, first=2) - rv) * 4.0
        nx = -(gx + 1.0 * drv)
    inv = 1.0 / np.sqrt(nx * nx + ny * ny + 1.0)
    lam = np.clip((nx * sun[0] + ny * sun[1] + sun[2]) * inv, 0.0, 1.0)
    rel = y / np.maximum(crest, 1e-3)  # 0 at the foot, 1 at the crest
    tex = noise.fbm2(x / (0.004 * z), y / (0.004 * z), 3, 0.6, fp / (0.004 * z), first=6)
    if kind == "forest":
        alb = pal["forest_lin"] * (0.85 + 0.4 * tex + 0.6 * rv)[:, None]
    else:
        rock = pal["rock_lin"] * (0.75 + 0.5 * tex + 0.3 * rv)[:, None]
        green = pal["forest_lin"] * (0.9 + 0.4 * tex)[:, None]
        tree = _smooth(0.05, -0.1, rel - (0.55 if kind == "mixed" else 0.25) - 0.2 * rv)
        alb = rock + (green - rock) * tree[:, None]
        if kind == "snow":
            line = 0.6 * float(L["H"].max())
            snow = _smooth(-0.1, 0.1, (y - line) / line + 0.35 * rv + 0.3 * tex)
            snow *= _smooth(1.4, 0.5, np.abs(nx))  # steep faces stay bare
            alb = alb + (pal["snow_lin"] - alb) * snow[:, None]
    ao = 0.65 + 0.35 * np.clip(0.5 + rv, 0.0, 1.0)
    col = alb * (sun_rgb * (lam * ao)[:, None] + amb * (ao * (0.45 + 0.3 * ny * inv))[:, None])
    tau = zp * (pal["haze"] + pal["mist"] * np.exp(-y / 150.0)) / 1000.0
    tr = np.exp(-tau)[:, None]
    return col * tr + haze[cc] * (1.0 - tr), zp


def _river(rng: np.random.Generator, cam: dict[str, float], H: int, u_half: float,
           layers: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """River course per frame row: centre (as X / z) and half width (X / z), plus width in m.

    It meanders (in log-distance) from the bottom of the frame into the gap of the nearest card,
    then heads through the gaps of the farther cards."""
    f, cy, h = cam["f"], cam["cy"], cam["h"]
    z0, gap = layers[0]["z"], layers[0]["gap"]
    zb = min(h * f / max(cam["H"] - cy, 1e-6), z0 / 4.0)  # depth at the bottom edge of the frame
    u_start = float(np.clip(gap + rng.uniform(-0.7, 0.7) * u_half, -0.55 * u_half, 0.55 * u_half))
    amp = float(rng.uniform(0.12, 0.3)) * u_half * (1 if rng.random() < 0.5 else -1)
    bends, phase = float(rng.uniform(1.0, 2.2)), float(rng.uniform(0, math.pi))
    wb = float(rng.uniform(0.3, 0.55)) * 2.0 * u_half * zb  # width (m) at the bottom edge
    v = np.arange(H, dtype=np.float64) + 0.5
    with np.errstate(divide="ignore"):
        z = np.where(v > cy, f * h / np.maximum(v - cy, 1e-9), np.inf)
    z = np.minimum(z, 1e7)
    s = np.clip(np.log(np.maximum(z, zb) / zb) / math.log(z0 / zb), 0.0, 1.0)
    centre = (gap + (u_start - gap) * (1.0 - s) ** 1.3
              + amp * np.sin(math.pi * bends * s + phase) * 4.0 * s * (1.0 - s)
              - amp * math.sin(phase) * (1.0 - s) ** 2)
    far = np.interp(np.log(z), [math.log(L["z"]) for L in layers], [L["gap"] for L in layers])
    centre = np.where(z > z0, far, centre)
    width = np.minimum(wb * (np.maximum(z, zb) / zb) ** 0.55, 150.0)
    return dict(centre=centre.astype(np.float32), half=(0.5 * width / z).astype(np.float32),
                width=width.astype(np.float32))


def _shade_ground(rr: np.ndarray, cc: np.ndarray, cam: dict[str, float], pal: dict[str, Any],
                  sun: tuple[float, ...], sun_rgb: np.ndarray, amb: np.ndarray, noise: _Noise,
                  u: np.ndarray, river: dict[str, np.ndarray], layers: list[dict[str, Any]],
                  canvas: np.ndarray, off: int) -> tuple[np.ndarray, np.ndarray]:
    """Colour (N, 3) of the ground plane at pixels (rr, cc): meadow, shore and river; and how
    much of each pixel is water (N,), 0..1."""
    f, cy, h = cam["f"], cam["cy"], cam["h"]
    v = rr.astype(np.float32) + 0.5
    z = (f * h / (v - cy)).astype(np.float32)
    uu = u[cc]
    x = uu * z
    fpx = z / f  # metres per pixel across ...
    fpz = z * z / (f * h)  # ... and along the view (foreshortened)
    # Meadow: patches of two grass tones and mottling (flat, world space), then clumps and blades.
    # Grass stands upright: across it use X/z scaled at the frame's bottom edge (screen-vertical),
    # along it log z (a blade of height b rooted at depth z covers depths [z, z h / (h - b)]).
    big = noise.fbm2(x / 40.0, z / 40.0, 4, 0.5, fpz / 40.0)
    mid = noise.fbm2(x / 3.0, z / 3.0, 6, 0.55, fpz / 3.0, first=4)
    zb = f * h / max(cam["H"] - cy, 1e-6)
    ax, lz, fpl = uu * zb, np.log(z) * h, fpz / z * h
    clump = noise.fbm2(ax / 0.3, lz / 0.5, 3, 0.5, np.maximum(zb / f / 0.3, fpl / 0.5), first=9)
    blade = noise.fbm2(ax / 0.035, lz / 0.25, 2, 0.5, first=12)
    fade = np.clip(0.8 / np.maximum(zb / f / 0.035, 2.0 * fpl / 0.25) - 1.0, 0.0, 1.0)
    blade = fade * (np.clip(1.0 - 2.5 * np.abs(blade), 0.0, 1.0) ** 2 - 0.25)
    g0, g1 = pal["grass_lin"]
    alb = g0 + (g1 - g0) * _smooth(-0.35, 0.45, big + 0.3 * mid)[:, None]
    alb = alb * np.clip(0.8 + 0.4 * mid + 0.6 * clump + 0.9 * blade, 0.25, 1.7)[:, None]
    # River: signed distance (m) from the water's edge, with a ragged shoreline of sand/pebbles
    # (the noisy part only where it can matter).
    wid = river["width"][rr]
    dm = (np.abs(uu - river["centre"][rr]) - river["half"][rr]) * z
    near = np.nonzero(dm < 2.0 + 0.3 * wid + 2.0 * fpx)[0]
    aw = np.zeros_like(dm)
    if near.size:
        xn, zn, fn, wn = x[near], z[near], fpz[near], wid[near]
        dn = dm[near] + (0.15 + 0.05 * wn) * noise.fbm2(xn / 3.0, zn / 3.0, 3, 0.5, fn / 3.0, 2)
        peb = noise.fbm2(xn / 0.12, zn / 0.12, 5, 0.6, fn / 0.12, first=3)
        bank = (0.3 + 0.05 * wn) * np.clip(1.2 + 2.0 * big[near], 0.3, 2.0)
        sand = pal["rock_lin"] * 1.1 * (0.8 + 0.8 * peb + 0.3 * mid[near])[:, None]
        sand *= (0.6 + 0.4 * _smooth(0.0, bank, dn))[:, None]  # wet near the water
        shore = _smooth(bank, 0.75 * bank, dn + bank * (0.8 * peb + 0.3 * clump[near]))
        alb[near] += (sand - alb[near]) * shore[:, None]
        aw[near] = np.clip(0.5 - dn / fpx[near], 0.0, 1.0)
    col = alb * (sun_rgb * max(float(sun[1]), 0.0) + amb * 0.8)
    wet = np.nonzero(aw > 0)[0]
    if wet.size:
        col[wet] += (_water(wet, rr, cc, v, z, x, fpz, cam, pal, sun, sun_rgb, amb, noise, uu,
                            layers, canvas, off) - col[wet]) * aw[wet, None]
    tr = np.exp(-z * (pal["haze"] + pal["mist"]) / 1000.0)[:, None]
    return col * tr + pal["haze_col"][cc] * (1.0 - tr), aw


def _water(i: np.ndarray, rr: np.ndarray, cc: np.ndarray, v: np.ndarray, z: np.ndarray,
           x: np.ndarray, fpz: np.ndarray, cam: dict[str, float], pal: dict[str, Any],
           sun: tuple[float, ...], sun_rgb: np.ndarray, amb: np.ndarray, noise: _Noise,
           uu: np.ndarray, layers: list[dict[str, Any]], canvas: np.ndarray,
           off: int) -> np.ndarray:
    """Water colour at ground pixels ``i``: Fresnel mix of a rippled mirror image of the canvas
    (sky and ridges, already painted) and a dark tinted body colour, plus sun glitter."""
    f, cy, h = cam["f"], cam["cy"], cam["h"]
    rr, cc, v, z, x, uu = rr[i], cc[i], v[i], z[i], x[i], uu[i]
    rip = noise.fbm2(x / 3.0, z / 0.3, 5, 0.6, fpz[i] / 0.3, first=5)
    # Mirror: the reflected ray hits card j if the card stands beyond this point and is tall
    # enough; in the image that card point sits at row (2 cy - v) + 2 f h / z_j.
    src = 2.0 * cy - v
    done = np.zeros(v.shape, bool)
    for L in layers:
        cand = src + 2.0 * f * h / L["z"]
        hit = ~done & (L["z"] > z) & (cand >= L["top"][cc])
        src = np.where(hit, cand, src)
        done |= hit
    src = src + rip * 0.02 * f
    row = np.clip(np.floor(src).astype(np.int64) + off, 0, canvas.shape[0] - 1)
    refl = canvas[row, cc]
    t = (cy - v) / f
    n = np.sqrt(uu * uu + t * t + 1.0)
    fres = 0.02 + 0.98 * (1.0 - np.clip(-t / n, 0.0, 1.0)) ** 5
    body = pal["water_lin"] * (amb + sun_rgb * max(float(sun[1]), 0.0) * 0.3)
    col = refl * (fres * (0.85 + 0.3 * rip))[:, None] + body * (1.0 - fres)[:, None]
    mu = (uu * sun[0] + (-t + 0.03 * rip) * sun[1] - sun[2]) / n
    return col + sun_rgb * (3.0 * np.exp((mu - 1.0) * 300.0) * _smooth(0.2, 0.6, rip))[:, None]


def paint_mountains(width: int, height: int, seed: int = 0, *, fov_y: float = 50.0,
                    camera_height: float = 4.0, horizon: float = 0.45
                    ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Paint a mountain-and-river landscape with an exact depth map: ``(image, depth, info)``
    of `paint_mountains_and_water`."""
    image, depth, _, info = paint_mountains_and_water(width, height, seed, fov_y=fov_y,
                                                      camera_height=camera_height, horizon=horizon)
    return image, depth, info


def paint_mountains_and_water(width: int, height: int, seed: int = 0, *, fov_y: float = 50.0,
                              camera_height: float = 4.0, horizon: float = 0.45,
                              frame: tuple[int, int, int, int] | None = None,
                              fov_x: float | None = None
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Paint a mountain-and-river landscape with an exact depth map and its water mask.

    Args:
        width, height: image size in pixels (positive ints).
        seed: non-negative int; picks the variant (time of day), ridge shapes, river course
            and cloud cover. The same seed gives byte-identical output.
        fov_y: vertical field of view in degrees, in (1, 179).
        camera_height: camera height above the ground / water in metres, > 0.
        horizon: horizon row as a fraction of the height from the top, in (0, 1).
        frame: ``(left, top, w, h)`` pixels: paint the world laid out for a ``w x h`` image
            (``fov_y`` and ``horizon`` are that image's) into a canvas that holds it at
            ``(left, top)`` with margins around it (overscan; ``left`` must leave equal margins
            left and right). The frame's pixels are the same world; default: the whole canvas.
        fov_x: paint a cylindrical plate covering ``fov_x`` degrees of azimuth (0..360; 360: a
            full turn whose left and right edges join seamlessly) instead of a pinhole's: columns
            are equal azimuth steps (``u`` below is the azimuth in radians), rows a pinhole's,
            depth the horizontal distance (cards are cylinders round the camera). No river.

    Returns:
        ``(image, depth, water, info)``: ``image`` (height, width, 3) uint8 sRGB, row 0 at the top;
        ``depth`` (height, width) float32 view-space z in metres, ``inf`` for sky; ``water``
        (height, width) float32, how much of each pixel shows the river (0..1, anti-aliased at
        its banks; 0 where a ridge hides it); ``info`` a
        JSON-able dict: ``variant``, ``fov_y``, ``camera_height``, ``horizon``, ``sun_direction``
        (unit, the way the sunlight travels: sun -> scene, like
        [`DirectionalLight.direction`][hybridscene.DirectionalLight.direction]), ``sun_color`` and ``sky_color`` (linear RGB), ``haze_color``,
        ``focal_px``, ``seed``, ``ridge_depths`` (``[near_z, far_z]`` per card, nearest first),
        ``river_gap`` (``{"u": X/z, "column": px}`` of the valley the river flows out of).
    """
    for name, val in (("width", width), ("height", height)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val <= 0:
            raise ValueError(f"{name} must be a positive int, got {val!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    fov_y = _check("fov_y", fov_y, 1.0, 179.0)
    h = _check("camera_height", camera_height, 0.0, math.inf)
    horizon = _check("horizon", horizon, 0.0, 1.0)
    W, H = int(width), int(height)
    if fov_x is not None:
        fov_x = _check("fov_x", fov_x, 0.0, 360.0 + 1e-9)
        if frame is not None:
            raise ValueError("overscan (a frame inside the canvas) is for perspective plates, not cylindrical ones")
    fl, ft, fw, fh = (0, 0, W, H) if frame is None else (int(v) for v in frame)
    if not (0 <= fl and 0 <= ft and fw > 0 and fh > 0 and fl + fw <= W and ft + fh <= H):
        raise ValueError(f"frame {frame!r} must be (left, top, w, h) inside the {W}x{H} canvas")

    rng = np.random.default_rng(int(seed))
    noise = _Noise(rng)
    name = list(VARIANTS)[int(seed) % len(VARIANTS)]  # consecutive seeds cycle the variants
    pal = dict(VARIANTS[name])
    for key in ("zenith", "horizon", "forest", "rock", "water"):
        pal[key + "_lin"] = _lin(pal[key])
    pal["grass_lin"] = [_lin(c) for c in pal["grass"]]
    pal["snow_lin"] = np.float32([0.62, 0.66, 0.72])
    el = math.radians(rng.uniform(*pal["sun_el"]))
    az = math.radians(rng.uniform(*pal["sun_az"])) * (1 if rng.random() < 0.5 else -1)
    sun = (math.cos(el) * math.sin(az), math.sin(el), -math.cos(el) * math.cos(az))
    dim = float(_smooth(-0.06, 0.12, np.float64(sun[1])))  # the sun fades as it sets
    sun_rgb = _lin(pal["sun"][0]) * np.float32(pal["sun"][1] * dim)
    cover = float(rng.uniform(*pal["clouds"]))

    f = (fh / 2.0) / math.tan(math.radians(fov_y) / 2.0)
    cx, cy = fl + fw / 2.0, ft + horizon * fh
    pal["f"] = f
    cam = dict(f=f, cy=cy, h=h, H=float(ft + fh))  # H: the frame's bottom edge
    turn = W if fov_x is not None and fov_x >= 360.0 else 0
    if fov_x is None:
        u = ((np.arange(W) + 0.5 - cx) / f).astype(np.float32)  # X / z of each column
        u_half, f_u = (fw / 2.0) / f, f
    else:  # cylindrical: the azimuth of each column; a full turn is painted on past its end (_wrap)
        pal["cyl"] = True
        span = math.radians(fov_x)
        u = (((np.arange(W + (max(8, W // 16) if turn else 0)) + 0.5) / W - 0.5) * span).astype(np.float32)
        u_half, f_u = min(span / 2.0, 0.8), W / span
    W_out, W = W, len(u)
    gap = float(rng.uniform(-0.45, 0.45)) * min(u_half, 1.2)
    layers = _ridges(rng, noise, u.astype(np.float64), u_half, f_u, gap, turn)
    if fov_x is None:
        river = _river(rng, cam, H, u_half, layers)
    else:  # no river: its half width is negative everywhere
        river = dict(centre=np.zeros(H, np.float32), half=np.full(H, -1e3, np.float32), width=np.zeros(H, np.float32))
    sky_rgb = 0.55 * pal["zenith_lin"] + 0.45 * pal["horizon_lin"]  # mean sky radiance
    amb = sky_rgb * (0.9 * pal.get("fill", 1.0))  # sky light on surfaces (+ fill in low light)
    # Haze: the sky a little above the horizon (so fogged ridges stay a bit darker than the sky).
    haze = _sky(pal, sun, sun_rgb, u, np.full_like(u, 0.05), disc=False) * 0.85
    pal["haze_col"] = haze

    # Canvas rows r_lo..H-1: rows above the frame hold sky for the water's reflection.
    r_lo = min(0, int(math.floor(2.0 * cy - H)) - 2)
    off = -r_lo
    canvas = np.zeros((H + off, W, 3), np.float32)
    vis = np.ones((H, W), np.float32)  # what the cards leave of the background
    vrow = (np.arange(H, dtype=np.float64) + 0.5)[:, None]
    with np.errstate(divide="ignore"):
        zg = np.where(vrow > cy, f * h / (vrow - cy), np.inf)
    depth = np.broadcast_to(zg, (H, W)).astype(np.float32)

    # 1. Ridge cards, far to near ("over" compositing); nearer cards hide farther ones.
    full = np.zeros((H, W), bool)
    todo = []
    for L in layers:  # nearest first: find what each card shows
        hh = L["H"]
        with np.errstate(divide="ignore", invalid="ignore"):
            top = np.where(hh > 0, cy - f * (hh - h) / (L["z"] + _LEAN * hh), np.inf)[None, :]
        base = cy + f * h / L["z"]
        L["top"] = top[0]
        inside = vrow <= base
        todo.append(np.nonzero((vrow > top - 0.5) & inside & ~full))
        full |= (vrow >= top + 0.5) & inside
    for L, (rr, cc) in zip(reversed(layers), reversed(todo)):
        if rr.size == 0:
            continue
        col, zp = _shade_card(L, rr, cc, cam, pal, sun, sun_rgb, amb, haze, noise, u)
        a = np.clip(rr + 1.0 - L["top"][cc], 0.0, 1.0).astype(np.float32)  # coverage of the row
        canvas[rr + off, cc] = col * a[:, None] + canvas[rr + off, cc] * (1.0 - a)[:, None]
        vis[rr, cc] *= 1.0 - a
        hit = rr + 0.5 >= L["top"][cc]
        depth[rr[hit], cc[hit]] = zp[hit]

    # 2. Sky behind everything above the horizon (and above the frame, for reflections).
    vis_all = np.concatenate([np.ones((off, W), np.float32), vis])
    rows = np.arange(r_lo, H) + 0.5
    rr, cc = np.nonzero((rows[:, None] <= cy) & (vis_all > 0))
    sky = _sky(pal, sun, sun_rgb, u[cc], ((cy - rows[rr]) / f).astype(np.float32), noise, cover)
    canvas[rr, cc] += sky * vis_all[rr, cc][:, None]

    # 3. Ground and river (ground plane y = 0) where the cards leave it visible.
    rr, cc = np.nonzero((vrow > cy) & (vis > 0))
    water = np.zeros((H, W), np.float32)
    if rr.size:
        col, wet = _shade_ground(rr, cc, cam, pal, sun, sun_rgb, amb, noise, u, river, layers,
                                 canvas, off)
        canvas[rr + off, cc] += col * vis[rr, cc][:, None]
        water[rr, cc] = np.clip(wet * vis[rr, cc], 0.0, 1.0)

    # 4. Tone (soft shoulder), sRGB encode, ordered dither, quantise.
    lin = canvas[off:]
    if turn:  # the columns painted past the turn fade into its first ones; the rest is the turn
        lin = np.moveaxis(_wrap(np.moveaxis(lin, 1, -1), turn), -1, 1)[:, :turn]
    W = W_out
    depth, water = depth[:, :W], water[:, :W]
    lin = np.where(lin < 0.8, lin, 1.0 - 0.2 * np.exp(-(lin - 0.8) / 0.2))
    lin = np.maximum(lin, 0.0)
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1.0 / 2.4) - 0.055)
    dither = _BAYER[((np.arange(H) - ft) % 8)[:, None], (np.arange(W) - fl) % 8][..., None]  # frame-aligned
    image = np.clip(np.floor(srgb * 255.0 + 0.5 + dither), 0, 255).astype(np.uint8)

    info = {
        "variant": name, "seed": int(seed), "fov_y": fov_y, "camera_height": h, "horizon": horizon,
        "sun_direction": [-float(s) for s in sun],  # the painter's ``sun`` points toward the sun
        "sun_color": [round(float(s), 6) for s in sun_rgb],
        "sky_color": [round(float(s), 6) for s in sky_rgb],
        "haze_color": [round(float(s), 6) for s in haze.mean(axis=0)],
        "focal_px": f,
        "ridge_depths": [[L["z"], L["z"] + _LEAN * float(L["H"].max())] for L in layers],
        "river_gap": {"u": gap, "column": cx + f * gap if fov_x is None else (gap / span + 0.5) * W},
    }
    return image, depth, water, info
