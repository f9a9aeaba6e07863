"""ExrLayerSink: multi-channel OpenEXR per frame, read back with OpenImageIO and recomposited by
oiiotool (the standard tools), never only by our own writer."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hybridscene.compose.passes import CameraInfo, FramePasses
from hybridscene.errors import SinkError

oiio = pytest.importorskip("OpenImageIO")
pytest.importorskip("OpenEXR")

from hybridscene.sinks.exr import ExrLayerSink, cryptomatte_id, murmurhash3_32  # noqa: E402 - after the skips

W, H = 32, 24
NAMES = {1: "cube", 2: "glass", 7: "sparks", 70001: "far_node"}


# -- oiiotool ----------------------------------------------------------------------------------
def oiiotool_path() -> str | None:
    """The ``oiiotool`` binary: on ``PATH``, or next to this Python (a venv's ``bin``)."""
    found = shutil.which("oiiotool")
    if found:
        return found
    beside = Path(sys.executable).parent / "oiiotool"
    return str(beside) if beside.exists() else None


def oiio_recomposite(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> list[str]:
    """Recomposite an EXR written by `ExrLayerSink` with oiiotool alone:
    ``foreground over (plate x shadow)`` (``shadow`` only if the file has ``shadow.Y``), written
    to ``out`` as float RGBA. Returns the command line that was run (for logs).

    Compare ``out``'s RGB with the file's ``R,G,B`` (the composite): equal to half precision.
    """
    tool = oiiotool_path()
    if tool is None:
        raise FileNotFoundError("oiiotool not found (pip install OpenImageIO)")
    src = os.fspath(path)
    inp = oiio.ImageInput.open(src)
    if inp is None:
        raise OSError(f"cannot open {src}: {oiio.geterror()}")
    names = set(inp.spec().channelnames)
    inp.close()
    missing = {"foreground.R", "foreground.G", "foreground.B", "foreground.A", "plate.R", "plate.G",
               "plate.B"} - names
    if missing:
        raise ValueError(f"{src} lacks {', '.join(sorted(missing))}: recompositing needs the foreground and plate passes")
    cmd = [tool, src, "--ch", "R=foreground.R,G=foreground.G,B=foreground.B,A=foreground.A",
           src, "--ch", "R=plate.R,G=plate.G,B=plate.B,A=1.0"]
    if "shadow.Y" in names:
        cmd += [src, "--ch", "R=shadow.Y,G=shadow.Y,B=shadow.Y,A=1.0", "--mul"]
    cmd += ["--over", "-d", "float", "-o", os.fspath(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
    return cmd


# -- synthetic passes --------------------------------------------------------------------------
def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """OpenGL camera-from-world (looking down -z)."""
    eye, target, up = (np.asarray(v, float) for v in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def perspective(fovy_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / np.tan(np.radians(fovy_deg) / 2)
    p = np.zeros((4, 4))
    p[0, 0], p[1, 1] = f / aspect, f
    p[2, 2], p[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
    p[3, 2] = -1.0
    return p


CAMERA = CameraInfo(view=look_at((1.0, 2.0, 5.0), (0.0, 0.5, 0.0)), projection=perspective(50.0, W / H, 0.1, 100.0),
                    size=(W, H))

SQUARE = (slice(2, 10), slice(2, 10))       # opaque foreground
GLASS = (slice(12, 20), slice(4, 14))       # alpha 0.5
GLOW = (slice(8, 16), slice(22, 30))        # additive: alpha 0, colour > 0 (half in the shadow)
SHADOW = (slice(4, 12), slice(18, 31))      # plate multiplier 0.4


def make_passes(t: float = 0.0, *, shadow: bool = True, names: dict[int, str] = NAMES,
                passes: tuple[str, ...] | None = None) -> FramePasses:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    plate = np.stack([x / W, y / H, np.full_like(x, 0.25)], axis=-1).astype(np.float32) * (1.0 + t)
    sh = np.ones((H, W), np.float32)
    if shadow:
        sh[SHADOW] = 0.4
    fg = np.zeros((H, W, 4), np.float32)
    fg[SQUARE] = (0.8, 0.2, 0.1, 1.0)
    fg[GLASS] = (0.1, 0.2, 0.45, 0.5)
    fg[GLOW] = (0.6, 0.5, 0.2, 0.0)
    composite = fg[..., :3] + (1.0 - fg[..., 3:]) * plate * sh[..., None]
    depth = np.full((H, W), np.inf, np.float32)
    depth[SQUARE], depth[GLASS] = 3.5, 7.25
    plate_depth = (10.0 + y).astype(np.float32)
    plate_depth[:3] = np.inf  # sky
    ids = np.zeros((H, W), np.uint32)
    ids[SQUARE], ids[GLASS], ids[GLOW] = 1, 2, 7
    ids[0, W - 1] = 70001  # above 16 bits, exact in float32
    normals = np.zeros((H, W, 3), np.float32)
    normals[SQUARE] = (0.0, 0.0, 1.0)
    normals[GLASS] = (0.6, 0.0, 0.8)
    flow = np.stack([x * 0.25 - 3.0, np.full_like(x, -0.75)], axis=-1).astype(np.float32)
    all_passes = {"composite": composite, "plate": plate, "plate_depth": plate_depth, "foreground": fg,
                  "depth": depth, "ids": ids, "normals": normals, "flow": flow}
    if shadow:
        all_passes["shadow"] = sh
    if passes is not None:
        all_passes = {k: v for k, v in all_passes.items() if k in passes}
    frame = (np.clip(composite, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
    return FramePasses(time=t, frame=frame, passes=all_passes, names=dict(names), camera=CAMERA)


def read_exr(path: Path) -> tuple[dict[str, np.ndarray], object]:
    """Channel name -> (H, W) float32 pixels, and the spec, through OpenImageIO."""
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    spec = inp.spec()
    pixels = inp.read_image(0, 0, 0, spec.nchannels, oiio.FLOAT)
    inp.close()
    assert pixels is not None
    return {name: pixels[..., i] for i, name in enumerate(spec.channelnames)}, spec


def write_frames(folder: Path, frames: list[FramePasses]) -> None:
    with ExrLayerSink(folder, size=(W, H), fps=24) as sink:
        for fp in frames:
            sink.write_passes(fp)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, FramePasses]:
    folder = tmp_path_factory.mktemp("exr") / "layers"
    first = make_passes(0.0, names={k: v for k, v in NAMES.items() if k != 70001})
    write_frames(folder, [first, make_passes(0.5, names={**NAMES, 9: "late"})])
    return folder, first


# -- 1. channels, values and attributes as OpenImageIO reads them ------------------------------
def test_folder_holds_the_frames_and_the_id_table(written):
    folder, _ = written
    assert sorted(p.name for p in folder.iterdir()) == ["00000.exr", "00001.exr", "ids.json", "manifest.json"]
    table = json.loads((folder / "ids.json").read_text())
    assert table == {"1": "cube", "2": "glass", "7": "sparks", "9": "late", "70001": "far_node"}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "a temporary was left"


def test_channels_types_and_values(written):
    folder, fp = written
    ch, spec = read_exr(folder / "00000.exr")
    expected = {"R", "G", "B", "A", "plate.R", "plate.G", "plate.B", "foreground.R", "foreground.G", "foreground.B",
                "foreground.A", "shadow.Y", "depth.Z", "plate_depth.Z", "normals.X", "normals.Y", "normals.Z",
                "flow.X", "flow.Y", "ids.id", "CryptoObject00.R", "CryptoObject00.G", "CryptoObject00.B",
                "CryptoObject00.A"}
    assert set(spec.channelnames) == expected and len(spec.channelnames) == len(expected)
    assert (spec.width, spec.height) == (W, H)
    types = {name: str(spec.channelformat(i)) for i, name in enumerate(spec.channelnames)}
    floats = {"depth.Z", "plate_depth.Z", "ids.id", "flow.X", "flow.Y"} | {f"CryptoObject00.{c}" for c in "RGBA"}
    assert {n for n, t in types.items() if t == "float"} == floats
    assert {n for n, t in types.items() if t != "float"} == expected - floats
    assert set(types.values()) == {"half", "float"}
    assert spec.get_string_attribute("compression") in ("zip", "piz")

    p = fp.passes

    def close(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)

    for i, c in enumerate("RGB"):
        close(ch[c], p["composite"][..., i])
        close(ch[f"plate.{c}"], p["plate"][..., i])
        close(ch[f"foreground.{c}"], p["foreground"][..., i])
    close(ch["A"], 1.0)
    close(ch["foreground.A"], p["foreground"][..., 3])
    close(ch["shadow.Y"], p["shadow"])
    for i, c in enumerate("XYZ"):
        close(ch[f"normals.{c}"], p["normals"][..., i])
    close(ch["flow.X"], p["flow"][..., 0])
    close(ch["flow.Y"], p["flow"][..., 1])
    # float channels: exact, inf kept
    np.testing.assert_array_equal(ch["depth.Z"], p["depth"])
    np.testing.assert_array_equal(ch["plate_depth.Z"], p["plate_depth"])
    assert np.isinf(ch["depth.Z"]).sum() == np.isinf(p["depth"]).sum() > 0
    assert np.isinf(ch["plate_depth.Z"][:3]).all()
    np.testing.assert_array_equal(ch["ids.id"], p["ids"].astype(np.float32))
    assert ch["ids.id"][0, W - 1] == 70001.0
    # the glow survives in the foreground as written: alpha 0, colour > 0
    assert (ch["foreground.A"][GLOW] == 0).all() and (ch["foreground.R"][GLOW] > 0.5).all()


def test_header_attributes(written):
    folder, fp = written
    _, spec = read_exr(folder / "00000.exr")
    chroma = spec.getattribute("chromaticities")
    np.testing.assert_allclose(chroma, (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290), atol=1e-6)
    assert spec.getattribute("hybridscene/time") == 0.0
    assert json.loads(spec.getattribute("hybridscene/ids")) == {"1": "cube", "2": "glass", "7": "sparks"}
    _, spec1 = read_exr(folder / "00001.exr")
    assert spec1.getattribute("hybridscene/time") == 0.5
    assert "9" in json.loads(spec1.getattribute("hybridscene/ids"))

    # Imath M44f: row vectors (p' = p M), stored as 16 floats row by row
    w2c = np.array(spec.getattribute("worldToCamera"), np.float64).reshape(4, 4)
    w2n = np.array(spec.getattribute("worldToNDC"), np.float64).reshape(4, 4)
    assert spec.getattribute("worldtocamera") is not None  # OpenImageIO's standard name for it

    # a world point in front of the camera, right of and above the view axis
    point = np.linalg.inv(CAMERA.view) @ np.array([0.4, 0.3, -6.0, 1.0])
    cam = point @ w2c
    np.testing.assert_allclose(cam[:3], (0.4, 0.3, 6.0), atol=1e-5)  # OpenEXR: +z forward, left-handed
    ndc = point @ w2n
    ndc = ndc[:2] / ndc[3]
    clip = CAMERA.projection @ CAMERA.view @ point
    px = ((clip[0] / clip[3] + 1) / 2 * W, (1 - clip[1] / clip[3]) / 2 * H)  # pixel, top row first
    np.testing.assert_allclose(ndc, (px[0] / W, px[1] / H), atol=1e-5)   # (0,0) top-left, (1,1) bottom-right
    assert ndc[0] > 0.5 and ndc[1] < 0.5  # right of centre and above it
    # the OpenGL matrices come back as the module docstring says
    flip = np.diag([1.0, 1.0, -1.0, 1.0])
    s = np.array([[0.5, 0, 0, 0.5], [0, -0.5, 0, 0.5], [0, 0, 1, 0], [0, 0, 0, 1]])
    view = flip @ w2c.T
    np.testing.assert_allclose(view, fp.camera.view, atol=1e-5)
    np.testing.assert_allclose(np.linalg.inv(s) @ w2n.T @ np.linalg.inv(view), fp.camera.projection, rtol=1e-5,
                               atol=1e-5)


# -- 2. oiiotool's own compositing reproduces the composite -------------------------------------
def _check_recomposite(path: Path, out: Path) -> dict[str, np.ndarray]:
    if oiiotool_path() is None:
        pytest.skip("oiiotool not installed")
    oiio_recomposite(path, out)
    got, _ = read_exr(out)
    ch, _ = read_exr(path)
    for c in "RGB":
        np.testing.assert_allclose(got[c], ch[c], rtol=2e-3, atol=2e-3, err_msg=f"channel {c}")
    return got


def test_oiiotool_over_matches_the_composite_and_keeps_glows(written, tmp_path):
    folder, fp = written
    got = _check_recomposite(folder / "00000.exr", tmp_path / "re.exr")
    # the glow adds light that plate x shadow alone lacks: dropping it would fail the comparison
    p = fp.passes
    under = (p["plate"] * p["shadow"][..., None])[GLOW]
    assert (got["R"][GLOW] - under[..., 0] > 0.5).all()
    # and the shadow is applied (the shadowed plate outside the foreground)
    shadow_only = (slice(4, 8), slice(18, 22))
    np.testing.assert_allclose(got["G"][shadow_only], 0.4 * p["plate"][shadow_only][..., 1], rtol=2e-3, atol=2e-3)
    _check_recomposite(folder / "00001.exr", tmp_path / "re1.exr")


def test_oiiotool_recomposite_without_shadow(tmp_path):
    folder = tmp_path / "noshadow"
    write_frames(folder, [make_passes(0.25, shadow=False, passes=("composite", "plate", "foreground"))])
    ch, spec = read_exr(folder / "00000.exr")
    assert set(spec.channelnames) == {"R", "G", "B", "A", "plate.R", "plate.G", "plate.B", "foreground.R",
                                      "foreground.G", "foreground.B", "foreground.A"}
    _check_recomposite(folder / "00000.exr", tmp_path / "re.exr")


def test_no_composite_means_no_rgba(tmp_path):
    folder = tmp_path / "depthonly"
    write_frames(folder, [make_passes(passes=("depth", "ids"))])
    _, spec = read_exr(folder / "00000.exr")
    assert set(spec.channelnames) == {"depth.Z", "ids.id"} | {f"CryptoObject00.{c}" for c in "RGBA"}
    folder2 = tmp_path / "nocrypto"
    with ExrLayerSink(folder2, size=(W, H), fps=24, cryptomatte=False) as sink:
        sink.write_passes(make_passes(passes=("depth", "ids")))
    _, spec = read_exr(folder2 / "00000.exr")
    assert set(spec.channelnames) == {"depth.Z", "ids.id"}


# -- Cryptomatte ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "hex_id"), [
    # from the manifest of Psyop/Cryptomatte's sample image bunny_CryptoObject (the reference)
    ("bunny", "13851a76"), ("bush", "f763d090"), ("flowerA.flowerA_petal1.:1065", "7f0e5296"),
    ("flowerA.flowerA_petal1.:2261", "00af91ae"),
])
def test_cryptomatte_ids_match_the_reference_manifest(name, hex_id):
    assert struct.pack(">f", cryptomatte_id(name)).hex() == hex_id


def test_murmurhash3_reference_vectors():
    assert murmurhash3_32(b"") == 0
    assert murmurhash3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    assert murmurhash3_32(b"Hello, world!", 1234) == 0xFAF6CDB3


def test_cryptomatte_layer_decodes_to_the_ids(written):
    """Decode as Nuke's cryptomatte_utilities does: manifest hex -> float id -> name per pixel."""
    folder, fp = written
    ch, spec = read_exr(folder / "00001.exr")
    keys = {a.name.split("/")[1] for a in spec.extra_attribs if a.name.startswith("cryptomatte/")}
    assert len(keys) == 1
    key = keys.pop()
    assert key == struct.pack(">f", cryptomatte_id("CryptoObject")).hex()[:7]
    assert spec.getattribute(f"cryptomatte/{key}/name") == "CryptoObject"
    assert spec.getattribute(f"cryptomatte/{key}/hash") == "MurmurHash3_32"
    assert spec.getattribute(f"cryptomatte/{key}/conversion") == "uint32_to_float32"
    manifest = json.loads(spec.getattribute(f"cryptomatte/{key}/manifest"))
    assert set(manifest) == {"cube", "glass", "sparks", "late", "far_node"}
    to_name = {struct.unpack(">f", bytes.fromhex(h))[0]: n for n, h in manifest.items()}
    ids = fp.passes["ids"]
    names = {**NAMES, 9: "late"}
    for y in range(H):
        for x in range(W):
            value, coverage = ch["CryptoObject00.R"][y, x], ch["CryptoObject00.G"][y, x]
            if ids[y, x] == 0:
                assert value == 0 and coverage == 0
            else:
                assert coverage == 1.0 and to_name[float(value)] == names[int(ids[y, x])]
    assert not ch["CryptoObject00.B"].any() and not ch["CryptoObject00.A"].any()


# -- 3. atomic folder, refusals, missing package -----------------------------------------------
def test_abort_leaves_no_folder(tmp_path):
    folder = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"), ExrLayerSink(folder, size=(W, H), fps=24) as sink:
        sink.write_passes(make_passes())
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_folder_with_other_files_is_refused(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(SinkError, match="notes.txt"):
        ExrLayerSink(folder, size=(W, H), fps=24)
    assert (folder / "notes.txt").read_text() == "keep me"


def test_a_previous_exr_folder_is_replaced(tmp_path):
    folder = tmp_path / "out"
    write_frames(folder, [make_passes(), make_passes(0.5)])
    write_frames(folder, [make_passes(1.0)])
    assert sorted(p.name for p in folder.iterdir()) == ["00000.exr", "ids.json", "manifest.json"]


def test_wrong_pass_shape_and_plain_frames_are_refused(tmp_path):
    fp = make_passes()
    bad = FramePasses(time=0.0, frame=fp.frame, passes={"depth": np.zeros((H, W, 1), np.float32)}, names={},
                      camera=CAMERA)
    with ExrLayerSink(tmp_path / "out", size=(W, H), fps=24) as sink:
        with pytest.raises(SinkError, match="depth"):
            sink.write_passes(bad)
        with pytest.raises(TypeError, match="write_passes"):
            sink.write(fp.frame)


def test_missing_openexr_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "OpenEXR", None)
    with pytest.raises(SinkError) as info:
        ExrLayerSink(tmp_path / "out", size=(W, H), fps=24)
    message = str(info.value)
    assert 'pip install "hybridscene[exr]"' in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_cryptomatte_names_nodes_that_share_a_name_apart():
    from hybridscene.sinks.exr import crypto_names, node_name

    names = {1: "bird", 2: "bird", 3: "tree"}
    assert crypto_names(names) == {1: "bird#1", 2: "bird#2", 3: "tree"}
    assert node_name(3, names) == "tree" and node_name(9, names) == "node9"
