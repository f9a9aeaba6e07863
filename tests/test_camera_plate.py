"""Cameras that turn and zoom see the plate as a camera would: panning and zooming across it."""

import math

import numpy as np
import pytest

import hybridscene as hs

pytestmark = pytest.mark.gl

PW, PH = 320, 90
CAM = hs.PlateCamera(fov_y=50.0, height=2.0, horizon=0.5)
F = (PH / 2) / math.tan(math.radians(25))


@pytest.fixture(scope="module")
def stripes():
    """A wide plate of 10-px colour bands: column c of the plate is easy to recognise."""
    img = np.zeros((PH, PW, 3), np.uint8)
    for band in range(PW // 10):
        img[:, band * 10:(band + 1) * 10] = ((band * 37) % 256, (band * 91) % 256, (band * 53 + 40) % 256)
    return hs.Plate(image=img, camera=CAM)


def render(ctx, scene, size=(160, 90)):
    with hs.FrameRenderer(ctx, size) as r:
        return r.render_frame(scene, 0.0)


def test_the_plate_camera_sees_the_middle_of_a_wide_plate(ctx, stripes):
    frame = render(ctx, hs.Scene(stripes))
    for c in (15, 45, 80, 125):  # frame column c shows plate column 80 + c
        assert frame[45, c].tolist() == stripes.image[45, 80 + c].tolist()


def test_turning_the_camera_pans_across_the_plate(ctx, stripes):
    theta = math.atan(35 / F)  # turn left so plate column 125 (mid-band) comes to the frame's centre
    cam = hs.PerspectiveCamera.from_plate(stripes, target=(-math.sin(theta), 2.0, -math.cos(theta)))
    frame = render(ctx, hs.Scene(stripes, camera=cam))
    assert frame[45, 80].tolist() == stripes.image[45, 125].tolist()
    assert frame[45, 80].tolist() != stripes.image[45, 160].tolist()


def test_narrowing_the_field_of_view_zooms_in(ctx, stripes):
    fov = 2 * math.degrees(math.atan(math.tan(math.radians(25)) / 2))  # half the image height
    frame = render(ctx, hs.Scene(stripes, camera=hs.PerspectiveCamera.from_plate(stripes, fov_y=fov)))
    # Frame column c now shows plate column 160 + (c - 80) / 2: the 10-px bands are 20 px wide.
    for c in (45, 85, 115):
        assert frame[45, c].tolist() == stripes.image[45, int(160 + (c + 0.5 - 80) / 2)].tolist()


def test_occlusion_follows_a_turned_camera(ctx):
    from test_occlusion import H, W, pixel_to_world, ridge_pixel

    plate = hs.procedural_plate(size=(W, H), seed=1)
    r, c, d0 = ridge_pixel(plate)
    turned = hs.PerspectiveCamera.from_plate(plate, target=(-0.08, plate.camera.height, -1.0))
    for factor, visible in ((0.5, True), (2.0, False)):
        scene = hs.Scene(plate, camera=turned)
        d = d0 * factor
        scene.add(hs.Mesh.cube(0.02 * d, color="#ff0000", shading="unlit"), position=pixel_to_world(plate, r, c, d))
        frame = render(ctx, scene, size=(W, H)).astype(int)
        red = (frame[..., 0] > 200) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
        assert (red.sum() >= 9) if visible else (red.sum() == 0)
