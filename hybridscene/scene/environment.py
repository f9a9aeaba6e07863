"""The light around a scene: an [`Environment`][hybridscene.Environment] (image-based light), plain
data, no GL.

Conventions (the one place they are stated; ``shaders/include/environment.glsl`` is the GPU twin
of `direction_to_uv`, `uv_to_direction` and `sh_basis` and must match them):

* **Directions** are in the environment's frame, which is the scene's world frame unless the
  environment has a ``rotation``: ``+Y`` up, the plate's camera looks down ``-Z``, ``+X`` right.
* **Equirect images** are ``(H, W, 3)``, ``W = 2 H``, row 0 at the top like every image in
  hybridscene: ``u = atan2(x, -z) / 2 pi + 0.5`` (0.5 straight ahead, ``-Z``; increasing toward
  ``+X``; the seam is behind, ``+Z``), ``v = acos(y) / pi`` (0 at the zenith, 1 at the nadir).
  Values are linear-light radiance (1.0 = a white plate pixel).
* **Levels**: ``radiance_levels[k]`` is ``(H >> k, W >> k, 3)``, the radiance prefiltered for GGX
  perceptual roughness ``k / (len(levels) - 1)`` (level 0 = a mirror).
* **Irradiance** ``sh`` is ``(9, 3) float32``: the radiance's real spherical harmonics up to
  band 2 (order and constants as in `sh_basis`) already convolved with the clamped cosine and
  divided by pi, so ``sh_basis(n) @ sh`` is the irradiance ``E(n) / pi`` -- times an albedo,
  the Lambert diffuse -- and a uniform environment of radiance ``c`` gives exactly ``c``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..colors import Color, parse_color, srgb_to_linear
from ..errors import SceneError

__all__ = ["DEFAULT_LEVELS", "FILE_VERSION", "Environment", "direction_to_uv", "sh_basis", "uv_to_direction"]

DEFAULT_LEVELS = 6
"""Prefiltered levels an environment has unless told otherwise (roughness steps of 0.2)."""

FILE_VERSION = 1
"""Version of the ``.npz`` layout `Environment.save` writes; `Environment.load` reads only it."""

SH_BAND_FACTORS = np.array([1.0] + [2.0 / 3.0] * 3 + [0.25] * 5, np.float64)
"""Clamped-cosine convolution divided by pi per coefficient (bands 0, 1, 2: 1, 2/3, 1/4)."""


def direction_to_uv(d: np.ndarray) -> np.ndarray:
    """``(..., 3)`` unit directions -> ``(..., 2)`` equirect ``(u, v)`` in 0..1 (``v = 0`` up)."""
    d = np.asarray(d, np.float64)
    u = np.arctan2(d[..., 0], -d[..., 2]) / (2 * np.pi) + 0.5
    v = np.arccos(np.clip(d[..., 1], -1.0, 1.0)) / np.pi
    return np.stack([u, v], -1)


def uv_to_direction(uv: np.ndarray) -> np.ndarray:
    """``(..., 2)`` equirect ``(u, v)`` -> ``(..., 3)`` unit directions (inverse of `direction_to_uv`)."""
    uv = np.asarray(uv, np.float64)
    phi = (uv[..., 0] - 0.5) * 2 * np.pi
    theta = uv[..., 1] * np.pi
    return np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), -np.sin(theta) * np.cos(phi)], -1)


def sh_basis(d: np.ndarray) -> np.ndarray:
    """``(..., 3)`` unit directions -> ``(..., 9)`` real spherical harmonics, bands 0..2, in the
    order ``1, y, z, x, xy, yz, 3z^2 - 1, xz, x^2 - y^2`` (Sloan, "Stupid SH tricks")."""
    d = np.asarray(d, np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.stack([
        np.full_like(x, 0.282095),
        0.488603 * y, 0.488603 * z, 0.488603 * x,
        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1), 1.092548 * x * z,
        0.546274 * (x * x - y * y),
    ], -1)


def project_sh(radiance: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` linear equirect radiance -> ``(9, 3) float32`` pre-convolved irradiance
    coefficients (the module docstring's ``sh``), integrated with each texel's exact solid angle."""
    h, w = radiance.shape[:2]
    v = (np.arange(h) + 0.5) / h
    u = (np.arange(w) + 0.5) / w
    dirs = uv_to_direction(np.stack(np.meshgrid(u, v), -1))  # (H, W, 3)
    edges = np.cos(np.arange(h + 1) / h * np.pi)
    solid = (2 * np.pi / w) * (edges[:-1] - edges[1:])  # (H,) per texel of each row
    weighted = radiance.astype(np.float64) * solid[:, None, None]
    coeffs = np.einsum("hwk,hwc->kc", sh_basis(dirs), weighted)
    return (coeffs * SH_BAND_FACTORS[:, None]).astype(np.float32)


class Environment:
    """Image-based light: prefiltered radiance and irradiance around the scene (see the module
    docstring for the frames and layouts). Arrays are read-only; ``intensity`` and ``rotation``
    may be changed.

    Build one with `uniform`, `from_equirect`, `load`, or on the GPU from a plate with
    `hybridscene.gpu.environment.EnvironmentRenderer`.

    Args:
        radiance_levels: ``(H_k, W_k, 3)`` float16/float32 linear equirects, level 0 largest
            (``W_0 = 2 H_0``, each next level half the size).
        sh: ``(9, 3)`` pre-convolved irradiance coefficients (see `sh_basis`).
        intensity: multiplier of both (1 = as stored).
        rotation: ``(3, 3)`` environment-from-world rotation; ``None`` = identity.
    """

    def __init__(self, radiance_levels: Sequence[np.ndarray], sh: Any, *, intensity: float = 1.0,
                 rotation: Any = None) -> None:
        self.radiance_levels = _check_levels(radiance_levels)
        sh = np.array(sh, np.float32)
        if sh.shape != (9, 3) or not np.isfinite(sh).all():
            raise SceneError(f"environment sh must be a finite (9, 3) array of RGB coefficients, got shape {sh.shape}; "
                             "build it with Environment.uniform/from_equirect or the GPU renderer")
        sh.setflags(write=False)
        self.sh = sh
        self.intensity = intensity
        self.rotation = rotation

    # -- validated settings --------------------------------------------------------------------
    @property
    def intensity(self) -> float:
        """Multiplier of the stored light (1 = the plate's brightness)."""
        return self._intensity

    @intensity.setter
    def intensity(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise SceneError(f"environment intensity must be a finite number >= 0, got {value!r}; 1 keeps the plate's brightness")
        self._intensity = float(value)

    @property
    def rotation(self) -> np.ndarray:
        """``(3, 3) float32`` environment-from-world rotation (identity by default)."""
        return self._rotation

    @rotation.setter
    def rotation(self, value: Any) -> None:
        if value is None:
            rot = np.eye(3, dtype=np.float32)
        else:
            rot = np.array(value, np.float32)
            if rot.shape != (3, 3) or not np.isfinite(rot).all() or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4):
                raise SceneError(f"environment rotation must be a (3, 3) rotation matrix, got {np.asarray(value).tolist()!r}; "
                                 "use None for none, or transforms' quaternion helpers to make one")
        rot.setflags(write=False)
        self._rotation = rot

    @property
    def max_lod(self) -> float:
        """Index of the roughest level (``u_env_max_lod``)."""
        return float(len(self.radiance_levels) - 1)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of level 0."""
        h, w = self.radiance_levels[0].shape[:2]
        return int(w), int(h)

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def uniform(cls, color: Color = (1.0, 1.0, 1.0), *, levels: int = DEFAULT_LEVELS,
                intensity: float = 1.0) -> Environment:
        """The same light from every direction: ``color`` is sRGB-encoded like every colour of
        the API (white = radiance 1). Exact: every level is the colour and ``sh`` holds only the
        constant term, so the diffuse and the prefiltered specular are the colour."""
        rgb = srgb_to_linear(np.asarray(parse_color(color, "environment color")))
        w, h = _check_size((2 << (levels - 1), 1 << (levels - 1)), levels)  # the smallest: 1x2 at the top level
        out = [np.broadcast_to(rgb.astype(np.float32), (max(1, h >> k), max(1, w >> k), 3)) for k in range(levels)]
        sh = np.zeros((9, 3), np.float32)
        sh[0] = rgb / 0.282095  # sh_basis(n)[0] = 0.282095, so the diffuse is rgb exactly
        return cls(out, sh, intensity=intensity)

    @classmethod
    def from_equirect(cls, image: Any, *, levels: int = DEFAULT_LEVELS, intensity: float = 1.0) -> Environment:
        """An environment from an equirect image, on the CPU: ``(H, 2H, 3)`` uint8 (sRGB, an LDR
        panorama) or float (linear radiance, an HDR one), ``H`` a multiple of
        ``2 ** (levels - 1)``. The irradiance is projected exactly; the levels are a box-filtered
        mip chain, a cheap stand-in for GGX prefiltering: for true GGX levels build it on the GPU
        with ``EnvironmentRenderer(gl).from_equirect(image)``."""
        radiance = equirect_radiance(image, levels)
        out = [radiance]
        for _ in range(1, levels):
            r = out[-1]
            out.append(0.25 * (r[0::2, 0::2] + r[1::2, 0::2] + r[0::2, 1::2] + r[1::2, 1::2]))
        return cls([o.astype(np.float16) for o in out], project_sh(radiance), intensity=intensity)

    # -- numpy twins of the shader functions (tests, tools) ------------------------------------
    def diffuse(self, normals: Any) -> np.ndarray:
        """``(..., 3)`` world normals -> ``(..., 3)`` ``E(n) / pi`` times ``intensity`` (like
        ``env_diffuse`` in the shader)."""
        n = _env_dirs(normals, self._rotation)
        return np.maximum(sh_basis(n) @ self.sh.astype(np.float64), 0.0) * self._intensity

    def radiance(self, directions: Any, level: int = 0) -> np.ndarray:
        """``(..., 3)`` world directions -> ``(..., 3)`` radiance of ``level`` (bilinear, wrapping
        around the seam), times ``intensity``."""
        d = _env_dirs(directions, self._rotation)
        img = self.radiance_levels[level].astype(np.float64)
        h, w = img.shape[:2]
        uv = direction_to_uv(d)
        x = uv[..., 0] * w - 0.5
        y = np.clip(uv[..., 1] * h - 0.5, 0, h - 1)
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        fx, fy = (x - x0)[..., None], (y - y0)[..., None]
        y1 = np.minimum(y0 + 1, h - 1)
        x1 = (x0 + 1) % w
        x0 = x0 % w
        top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
        bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
        return (top * (1 - fy) + bottom * fy) * self._intensity

    # -- files ---------------------------------------------------------------------------------
    def to_bytes(self, **extra: Any) -> bytes:
        """The ``.npz`` file `save` writes, as bytes (``extra``: more arrays to store)."""
        buf = io.BytesIO()
        arrays = {f"level{k}": np.asarray(r, np.float16) for k, r in enumerate(self.radiance_levels)}
        np.savez(buf, version=np.int32(FILE_VERSION), sh=self.sh, intensity=np.float64(self._intensity),
                 rotation=self._rotation, **arrays, **extra)
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an ``.npz`` file (float16 levels), atomically (a temporary name, then renamed)."""
        from ..atomic import atomic_path

        data = self.to_bytes()
        with atomic_path(path, error=SceneError) as tmp:
            tmp.write_bytes(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Environment:
        """Read a file `save` wrote. Raises a one-line `SceneError` when it is missing, damaged or
        of another version."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise SceneError(f"cannot read the environment {os.fspath(path)!r}: {exc.strerror or exc}") from None
        return cls.from_bytes(data, what=repr(os.fspath(path)))

    @classmethod
    def from_bytes(cls, data: bytes, *, what: str = "data") -> Environment:
        """The environment in ``.npz`` bytes (see `to_bytes`)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                files = dict(z.items())
        except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError, OSError ...
            raise SceneError(f"environment {what} is not a readable .npz file ({exc}); build it again") from None
        version = files.get("version")
        if version is None or int(version) != FILE_VERSION:
            raise SceneError(f"environment {what} has format version {None if version is None else int(version)}, "
                             f"this hybridscene reads {FILE_VERSION}; build it again")
        try:
            count = sum(1 for k in files if k.startswith("level"))
            levels = [files[f"level{k}"] for k in range(count)]
            return cls(levels, files["sh"], intensity=float(files["intensity"]), rotation=files["rotation"])
        except KeyError as exc:
            raise SceneError(f"environment {what} lacks {exc.args[0]!r}; build it again") from None

    def __repr__(self) -> str:
        w, h = self.size
        return f"Environment({w}x{h}, levels={len(self.radiance_levels)}, intensity={self._intensity:g})"


def equirect_radiance(image: Any, levels: int) -> np.ndarray:
    """Validate an equirect image and return it as ``(H, W, 3) float32`` linear radiance."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise SceneError(f"an equirect image must be (H, 2H, 3) RGB, got shape {arr.shape}; drop alpha with image[..., :3]")
    h, w = arr.shape[:2]
    _check_size((w, h), levels)
    if arr.dtype == np.uint8:
        return srgb_to_linear(arr / 255.0).astype(np.float32)
    if not np.issubdtype(arr.dtype, np.floating):
        raise SceneError(f"an equirect image must be uint8 (sRGB) or float (linear), got dtype {arr.dtype}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise SceneError("an equirect image must hold finite radiance >= 0; clip NaN, inf and negative values first")
    return arr.astype(np.float32)


def _check_size(size: Any, levels: int) -> tuple[int, int]:
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= 12:
        raise SceneError(f"environment levels must be an int in 1..12, got {levels!r}; {DEFAULT_LEVELS} is the default")
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise SceneError(f"environment size must be (width, height), got {size!r}; try (256, 128)") from None
    step = 1 << (levels - 1)
    if w != 2 * h or h < 1 or h % step:
        fix = max(step, (h // step) * step or step)
        raise SceneError(f"environment size {w}x{h} must be 2:1 with a height that is a multiple of {step} "
                          f"for {levels} levels; use {2 * fix}x{fix}")
    return w, h


def _check_levels(levels: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    try:
        items = [np.asarray(r) for r in levels]
    except TypeError:
        raise SceneError(f"environment radiance_levels must be a list of (H, W, 3) arrays, got {type(levels).__name__}") from None
    if not items:
        raise SceneError("environment radiance_levels is empty; give at least level 0, an (H, 2H, 3) equirect")
    h, w = items[0].shape[:2]
    out = []
    for k, r in enumerate(items):
        want = (max(1, h >> k), max(1, w >> k), 3)
        if r.shape != want or r.dtype not in (np.float16, np.float32):
            raise SceneError(f"environment level {k} must be a {want} float16/float32 array (half of the level before), "
                             f"got {r.shape} {r.dtype}")
        if not np.isfinite(r).all() or (r < 0).any():
            raise SceneError(f"environment level {k} holds NaN, inf or negative radiance; clip it to finite values >= 0")
        r = np.array(r)  # own, contiguous copy
        r.setflags(write=False)
        out.append(r)
    if w != 2 * h:
        raise SceneError(f"environment level 0 is {w}x{h}; an equirect is twice as wide as high")
    return tuple(out)


def _env_dirs(directions: Any, rotation: np.ndarray) -> np.ndarray:
    d = np.asarray(directions, np.float64) @ rotation.astype(np.float64).T
    return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
