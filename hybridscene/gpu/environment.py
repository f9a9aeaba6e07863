"""Image-based light on the GPU: a plate (or an equirect image) becomes an
[`Environment`][hybridscene.Environment], and environments become the textures and uniforms of
``shaders/include/environment.glsl``.

A build is four passes (``shaders/env_*.glsl``), all on the GPU:

1. ``env_project``: the plate placed on the sphere where its camera sees it, the rest filled
   (mirrored around, sky continued above, ground below) into an equirect, then mipmapped.
2. ``env_prefilter``: one pass per level, GGX importance sampling with filtered importance
   sampling from the source's mips; level ``k`` is roughness ``k / (levels - 1)``.
3. ``env_sh``: the 9 irradiance coefficients (already convolved) into a 9x1 float target.
4. ``env_brdf``: the split-sum lookup table, once per renderer.

The levels and coefficients are read back into the `Environment` (plain numpy: cached on disk,
shipped between processes) and the radiance texture is kept for drawing. Texture units:
`RADIANCE_UNIT` (5) and `BRDF_UNIT` (6).
"""

from __future__ import annotations

import io
import logging
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import transforms
from ..colors import srgb_to_linear
from ..errors import SceneError
from ..plate import Plate, PlateCamera
from ..plate.projection import plate_lens
from ..scene.environment import (
    DEFAULT_LEVELS,
    FILE_VERSION,
    Environment,
    _check_size,
    equirect_radiance,
)
from .programs import has_uniform, load_program
from .textures import upload_image

if TYPE_CHECKING:
    import moderngl

    from .context import GLContext

__all__ = ["BRDF_UNIT", "DEFAULT_SAMPLES", "DEFAULT_SIZE", "LUT_SIZE", "RADIANCE_UNIT", "SIDECAR_NAME",
           "EnvironmentRenderer", "sidecar_path"]

log = logging.getLogger(__name__)

RADIANCE_UNIT = 5
"""Texture unit of ``u_env_radiance``."""
BRDF_UNIT = 6
"""Texture unit of ``u_brdf_lut``."""
DEFAULT_SIZE = (256, 128)
"""``(width, height)`` of an environment's level 0."""
DEFAULT_SAMPLES = 64
"""GGX samples per texel of a prefiltered level."""
LUT_SIZE = 32
"""Texels per side of the split-sum table."""
LUT_SAMPLES = 512
SIDECAR_NAME = f"environment-v{FILE_VERSION}.npz"
"""Suffix of the file an environment is cached in beside its plate's cache entry."""
_DEFAULT_CAMERA = PlateCamera(fov_y=50.0, height=1.6, horizon=0.5)  # PerspectiveCamera.from_plate's
_SH_SIZE = 64  # the SH pass sums the first source level at most this wide

_by_plate: weakref.WeakKeyDictionary[Plate, dict[tuple[int, ...], Environment]] = weakref.WeakKeyDictionary()
"""`EnvironmentRenderer.for_plate`'s results, per plate and build options, for this process."""


def sidecar_path(plate: Plate) -> Path | None:
    """Where `EnvironmentRenderer.for_plate` keeps ``plate``'s environment on disk: beside its
    plate-cache entry folder, ``<entry>.environment-v1.npz``; ``None`` for a plate not from the
    cache.

    Beside, not inside: the cache verifies that an entry holds exactly the files its
    ``plate.json`` lists and discards it otherwise, so a file added inside would cost the plate.
    """
    entry = plate.meta.get("cache_entry")
    if not entry:
        return None
    folder = Path(entry)
    return folder.parent / f"{folder.name}.{SIDECAR_NAME}"


class EnvironmentRenderer:
    """Builds environments on the GPU and binds them for drawing. Owns its textures (the split-sum
    table, one radiance texture per `Environment` used, kept while it lives): `release` them.

    Args:
        gl: the context (never created here).
        size: ``(width, height)`` of level 0, 2:1, the height a multiple of ``2 ** (levels - 1)``.
        levels: prefiltered levels (roughness steps of ``1 / (levels - 1)``).
        samples: GGX samples per texel of each prefiltered level.
    """

    def __init__(self, gl: GLContext, *, size: tuple[int, int] = DEFAULT_SIZE, levels: int = DEFAULT_LEVELS,
                 samples: int = DEFAULT_SAMPLES) -> None:
        self.size, self.levels, self.samples = _options(size, levels, samples)
        self.gl = gl
        self.ctx = gl.mgl
        self._textures: weakref.WeakKeyDictionary[Environment, moderngl.Texture] = weakref.WeakKeyDictionary()
        self._lut: moderngl.Texture | None = None
        self._vaos: dict[str, moderngl.VertexArray] = {}

    # -- building ------------------------------------------------------------------------------
    def from_plate(self, plate: Plate, *, size: tuple[int, int] | None = None, levels: int | None = None,
                   samples: int | None = None) -> Environment:
        """The environment around ``plate`` as its camera saw it (a plate without a camera is
        taken as `PerspectiveCamera.from_plate` takes it: 50 degrees, horizon in the middle).
        ``size``, ``levels``, ``samples``: this build's, instead of the renderer's."""
        if not isinstance(plate, Plate):
            raise SceneError(f"from_plate needs a hybridscene Plate, got {type(plate).__name__}; "
                             "for a panorama use from_equirect")
        (w, h), levels, samples = self._options(size, levels, samples)
        t0 = time.perf_counter()
        import moderngl

        self.gl.make_current()
        cam = plate.camera or _DEFAULT_CAMERA
        pw, ph = plate.size
        focal = (ph / 2) / np.tan(np.radians(cam.fov_y) / 2)  # pixels
        sky, ground = _sky_and_ground(plate.image, cam.horizon, plate.depth)
        plate_tex = upload_image(self.gl, plate.image)
        source = self.ctx.texture((w, h), 4, dtype="f2")
        fbo = self.ctx.framebuffer([source])
        try:
            prog = load_program(self.gl, "env_project")
            prog["u_plate"].value = 0
            prog["u_focal"].value = (focal / pw, focal / ph)
            prog["u_horizon"].value = float(cam.horizon)
            projection, lens = plate_lens(plate) if plate.camera is not None else (0, (0.0, 0.0, 0.0))
            prog["u_projection"].value = projection
            prog["u_lens"].value = lens
            if projection:  # plate pixels per radian across
                focal = pw * lens[0]
                plate_tex.repeat_x = cam.full_turn
            prog["u_plate_lod"].value = float(max(0.0, np.log2(focal * 2 * np.pi / w) - 0.5))
            prog["u_sky_mean"].value = tuple(float(c) for c in sky)
            prog["u_ground_mean"].value = tuple(float(c) for c in ground)
            plate_tex.use(0)
            self._pass(prog, fbo)
            source.build_mipmaps()
            source.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            source.repeat_x, source.repeat_y = True, False
            env = self._finish(source, levels, samples)
        finally:
            self.gl.unbind([fbo])
            fbo.release()
            source.release()
            plate_tex.release()
        log.info("environment of %r built in %.0f ms (%dx%d, %d levels, %d samples)", plate,
                 1000 * (time.perf_counter() - t0), w, h, levels, samples)
        return env

    def from_equirect(self, image: Any, *, levels: int | None = None, samples: int | None = None) -> Environment:
        """An environment from an equirect panorama: ``(H, 2H, 3)`` uint8 (sRGB) or float (linear
        radiance), GGX-prefiltered on the GPU. Its levels have the image's size (``H`` a multiple
        of ``2 ** (levels - 1)``), not the renderer's ``size``."""
        import moderngl

        _, levels, samples = self._options(None, levels, samples)
        radiance = equirect_radiance(image, levels)
        t0 = time.perf_counter()
        self.gl.make_current()
        h, w = radiance.shape[:2]
        source = self.ctx.texture((w, h), 3, np.ascontiguousarray(radiance).tobytes(), dtype="f4", alignment=1)
        try:
            source.build_mipmaps()
            source.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            source.repeat_x, source.repeat_y = True, False
            env = self._finish(source, levels, samples)
        finally:
            source.release()
        log.info("environment from a %dx%d equirect built in %.0f ms", w, h, 1000 * (time.perf_counter() - t0))
        return env

    def for_plate(self, plate: Plate, *, size: tuple[int, int] | None = None, levels: int | None = None,
                  samples: int | None = None) -> Environment:
        """``plate``'s environment, built once per plate (and build options) per process and, for
        a plate from the plate cache, kept on disk beside its entry (`sidecar_path`) and read
        from there by the next process. A damaged file there is rebuilt (with a warning); a
        folder that cannot be written is fine (nothing is stored)."""
        if not isinstance(plate, Plate):
            raise SceneError(f"for_plate needs a hybridscene Plate, got {type(plate).__name__}")
        (w, h), levels, samples = self._options(size, levels, samples)
        options = (w, h, levels, samples)
        per_plate = _by_plate.setdefault(plate, {})
        env = per_plate.get(options)
        if env is not None:
            return env
        path = sidecar_path(plate)
        if path is not None:
            env = _read_sidecar(path, options)
        if env is None:
            env = self.from_plate(plate, size=(w, h), levels=levels, samples=samples)
            if path is not None and path.parent.is_dir():
                _write_sidecar(path, env, options)
        per_plate[options] = env
        return env

    # -- drawing -------------------------------------------------------------------------------
    def textures(self, env: Environment) -> moderngl.Texture:
        """``env``'s radiance texture (RGB16F, its levels as mips, wrapping around the seam),
        uploaded on first use and kept while ``env`` lives."""
        tex = self._textures.get(env)
        if tex is None:
            import moderngl

            levels = env.radiance_levels
            h, w = levels[0].shape[:2]
            tex = self.ctx.texture((w, h), 3, np.asarray(levels[0], np.float16).tobytes(), dtype="f2", alignment=1)
            tex.build_mipmaps(0, len(levels) - 1)
            for k, level in enumerate(levels[1:], start=1):
                tex.write(np.asarray(level, np.float16).tobytes(), level=k, alignment=1)
            tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            tex.repeat_x, tex.repeat_y = True, False
            self._textures[env] = tex
        return tex

    def brdf_lut(self) -> moderngl.Texture:
        """The split-sum table (RG16F, `LUT_SIZE` square), made on first use."""
        if self._lut is None:
            import moderngl

            self.gl.make_current()
            lut = self.ctx.texture((LUT_SIZE, LUT_SIZE), 2, dtype="f2")
            fbo = self.ctx.framebuffer([lut])
            try:
                prog = load_program(self.gl, "env_brdf")
                prog["u_samples"].value = LUT_SAMPLES
                prog["u_size"].value = (float(LUT_SIZE), float(LUT_SIZE))
                self._pass(prog, fbo)
            finally:
                self.gl.unbind([fbo])
                fbo.release()
            lut.filter = (moderngl.LINEAR, moderngl.LINEAR)
            lut.repeat_x = lut.repeat_y = False
            self._lut = lut
        return self._lut

    def brdf_table(self) -> np.ndarray:
        """``(n, n, 2) float32`` the split-sum table read back: ``[j, i]`` = (scale, bias) at
        ``N.V = i / (n - 1)``, roughness ``j / (n - 1)``."""
        data = self.brdf_lut().read(alignment=1)
        return np.frombuffer(data, np.float16).reshape(LUT_SIZE, LUT_SIZE, 2).astype(np.float32)

    def bind(self, prog: moderngl.Program, env: Environment, *, intensity: float = 1.0) -> None:
        """Bind ``env`` for ``prog`` (a program including ``include/environment.glsl``): its
        radiance on unit `RADIANCE_UNIT`, the table on `BRDF_UNIT`, and every ``u_env_*``
        uniform the program has. ``intensity`` multiplies ``env.intensity`` (a scene's
        ``environment_intensity``, without a new `Environment` and a new upload)."""
        self.textures(env).use(RADIANCE_UNIT)
        self.brdf_lut().use(BRDF_UNIT)
        values: dict[str, Any] = {
            "u_env_radiance": RADIANCE_UNIT,
            "u_brdf_lut": BRDF_UNIT,
            "u_env_intensity": float(env.intensity) * float(intensity),
            "u_env_max_lod": env.max_lod,
        }
        for name, value in values.items():
            if has_uniform(prog, name):
                prog[name].value = value
        if has_uniform(prog, "u_env_sh"):
            prog["u_env_sh"].write(np.ascontiguousarray(env.sh, np.float32).tobytes())
        if has_uniform(prog, "u_env_rotation"):
            prog["u_env_rotation"].write(transforms.gl_bytes(env.rotation))

    def release(self) -> None:
        """Free the textures and vertex arrays (the programs belong to the context)."""
        for tex in list(self._textures.values()):
            tex.release()
        self._textures.clear()
        if self._lut is not None:
            self._lut.release()
            self._lut = None
        for vao in self._vaos.values():
            vao.release()
        self._vaos.clear()

    def __enter__(self) -> EnvironmentRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- the passes ----------------------------------------------------------------------------
    def _pass(self, prog: moderngl.Program, fbo: moderngl.Framebuffer) -> None:
        """One buffer-less full-screen triangle into ``fbo``."""
        import moderngl

        key = str(prog.glo)
        vao = self._vaos.get(key)
        if vao is None:
            vao = self._vaos[key] = self.ctx.vertex_array(prog, [])
        fbo.use()
        self.ctx.viewport = (0, 0, *fbo.size)
        self.ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        vao.render(moderngl.TRIANGLES, vertices=3)

    def _options(self, size: Any, levels: int | None, samples: int | None) -> tuple[tuple[int, int], int, int]:
        """This call's options, the renderer's where not given, validated."""
        return _options(self.size if size is None else size, self.levels if levels is None else levels,
                        self.samples if samples is None else samples)

    def _finish(self, source: moderngl.Texture, levels: int, samples: int) -> Environment:
        """Steps 2 and 3 from a mipmapped source (bound to unit 0): the prefiltered levels (read
        back, and written into the kept radiance texture on the GPU) and the SH coefficients."""
        import moderngl

        ctx = self.ctx
        w, h = source.size
        source.use(0)
        source_lods = int(np.log2(max(w, h)))
        out = ctx.texture((w, h), 3, dtype="f2")
        out.build_mipmaps(0, levels - 1)  # allocates the levels
        arrays = []
        prog = load_program(self.gl, "env_prefilter")
        prog["u_source"].value = 0
        prog["u_samples"].value = samples
        prog["u_source_max_lod"].value = float(source_lods)
        for k in range(levels):
            lw, lh = max(1, w >> k), max(1, h >> k)
            target = ctx.texture((lw, lh), 4, dtype="f2")
            fbo = ctx.framebuffer([target])
            buf = ctx.buffer(reserve=lw * lh * 3 * 2)
            try:
                prog["u_roughness"].value = k / (levels - 1) if levels > 1 else 0.0
                self._pass(prog, fbo)
                fbo.read_into(buf, components=3, dtype="f2", alignment=1)
                out.write(buf, level=k, alignment=1)  # GPU to GPU
                arrays.append(np.frombuffer(buf.read(), np.float16).reshape(lh, lw, 3).copy())
            finally:
                self.gl.unbind([fbo])
                fbo.release()
                target.release()
                buf.release()
        out.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        out.repeat_x, out.repeat_y = True, False
        sh = self._sh(source, w)
        env = Environment(arrays, sh)
        self._textures[env] = out
        return env

    def _sh(self, source: moderngl.Texture, width: int) -> np.ndarray:
        level = max(0, int(np.log2(width / _SH_SIZE))) if width > _SH_SIZE else 0
        target = self.ctx.texture((9, 1), 4, dtype="f4")
        fbo = self.ctx.framebuffer([target])
        try:
            prog = load_program(self.gl, "env_sh")
            prog["u_source"].value = 0
            prog["u_level"].value = level
            source.use(0)
            self._pass(prog, fbo)
            data = fbo.read(components=4, dtype="f4", alignment=1)
        finally:
            self.gl.unbind([fbo])
            fbo.release()
            target.release()
        return np.frombuffer(data, np.float32).reshape(9, 4)[:, :3].copy()


def _options(size: Any, levels: Any, samples: Any) -> tuple[tuple[int, int], int, int]:
    """Validated build options: ``((width, height), levels, samples)``."""
    checked = _check_size(size, levels)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 4096:
        raise SceneError(f"environment samples must be an int in 1..4096, got {samples!r}; {DEFAULT_SAMPLES} is the default")
    return checked, levels, samples


def _sky_and_ground(image: np.ndarray, horizon: float, depth: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Linear mean colours of the plate's sky (its pixels of infinite depth when the depth says,
    else the upper half of the rows above the horizon, at least the top row) and ground (the
    lower half of the rows below the horizon, at least the bottom row), from a subsample of at
    most ~200 rows."""
    step = max(1, image.shape[0] // 200)
    img = image[::step, ::step]
    decode = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
    if depth is not None:
        sky_mask = np.isinf(depth[::step, ::step])
        if sky_mask.sum() >= 16:
            sky = decode[img[sky_mask]].reshape(-1, 3).mean(0)
            return sky, _sky_and_ground(image, horizon)[1]
    h = img.shape[0]
    hz = min(max(float(horizon), 0.0), 1.0)
    sky_rows = max(1, int(h * hz * 0.5))
    ground_from = min(h - 1, int(h * (1.0 + hz) * 0.5))
    sky = decode[img[:sky_rows]].reshape(-1, 3).mean(0)
    ground = decode[img[ground_from:]].reshape(-1, 3).mean(0)
    return sky, ground


def _read_sidecar(path: Path, options: tuple[int, ...]) -> Environment | None:
    """The environment stored at ``path`` for these build options; ``None`` (with a warning when
    the file is damaged) when there is none to use."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("ignoring the environment cache %s (%s); building it again", path, exc.strerror or exc)
        return None
    try:
        env = Environment.from_bytes(data, what=repr(str(path)))
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            stored = tuple(int(v) for v in z["options"]) if "options" in z.files else None
    except (SceneError, ValueError, TypeError) as exc:
        log.warning("ignoring the environment cache %s (%s); building it again", path, exc)
        return None
    if stored != options:
        log.info("environment cache %s was built with other options %s; building it again", path, stored)
        return None
    log.debug("environment read from %s", path)
    return env


def _write_sidecar(path: Path, env: Environment, options: tuple[int, ...]) -> None:
    from ..atomic import atomic_path

    data = env.to_bytes(options=np.asarray(options, np.int64))
    try:
        with atomic_path(path, error=SceneError) as tmp:
            tmp.write_bytes(data)
    except SceneError as exc:  # a read-only or full cache: the environment just is not kept
        log.info("environment not cached: %s", exc)
