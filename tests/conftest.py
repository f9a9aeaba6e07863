"""Shared fixtures: one headless GL context per session, checked for GL errors after every test
that uses it; small scenes with known colours."""

from __future__ import annotations

import os

# No test may reach a model hub; huggingface_hub reads this when first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# One torch thread: on a 2-core machine shared with llvmpipe and subprocesses, torch's default
# thread pool oversubscribes the cores (tiny models then run 100x slower). Inherited by subprocesses.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

import hybridscene as hs


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty plate cache (HYBRIDSCENE_CACHE)."""
    path = tmp_path / "hs-cache"
    monkeypatch.setenv("HYBRIDSCENE_CACHE", str(path))
    return path


@pytest.fixture(scope="session")
def gl_context():
    ctx = hs.create_context()
    yield ctx
    ctx.release()


@pytest.fixture
def ctx(gl_context):
    """The session context; fails the test if it leaves a GL error behind."""
    gl_context.make_current()  # another test may have made its own context current
    assert gl_context.mgl.error == "GL_NO_ERROR"
    yield gl_context
    gl_context.make_current()
    err = gl_context.mgl.error
    assert err == "GL_NO_ERROR", f"test left a GL error: {err}"


PLATE_RGB = (40, 90, 160)


def srgb_to_linear(c):
    """Reference sRGB decode, written independently of the library."""
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb8(c):
    c = np.clip(np.asarray(c, np.float64), 0, 1)
    s = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.round(s * 255).astype(int)


def flat_scene(plate=None, *, size=(160, 120), ambient=0.0, sun_dir=(0.0, 0.0, -1.0), sun_intensity=1.0, tonemap="none"):
    """A scene with a camera at z=5 looking at the origin, a white sun shining along -Z (so a
    Lambert face looking at the camera gets exactly its albedo), no ambient light and no tone curve."""
    plate = plate if plate is not None else hs.Plate.solid(PLATE_RGB, size)
    return hs.Scene(
        plate,
        camera=hs.PerspectiveCamera(fov_y=50.0, position=(0, 0, 5), target=(0, 0, 0)),
        sun=hs.DirectionalLight(direction=sun_dir, color=(1.0, 1.0, 1.0), intensity=sun_intensity),
        ambient=hs.AmbientLight(color=(1.0, 1.0, 1.0), intensity=ambient),
        tonemap=tonemap,
    )


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    """A tiny random-weight Stable Diffusion 1.x-style pipeline folder (needs the ai extra)."""
    from hybridscene.testing import build_tiny_sd_pipeline

    return build_tiny_sd_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")
