"""Depth-aware occlusion: foreground fragments behind the plate's surface are hidden."""

import numpy as np
import pytest

import hybridscene as hs

pytestmark = pytest.mark.gl

W, H = 320, 180
RED = (1.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def plate():
    return hs.procedural_plate(size=(W, H), seed=1)


def pixel_to_world(plate, r, c, d):
    """The world point at view depth d seen through pixel (r, c) by the plate's camera."""
    cam = plate.camera
    f = (H / 2) / np.tan(np.radians(cam.fov_y) / 2)
    cx, cy = W / 2, cam.horizon * H
    return ((c + 0.5 - cx) * d / f, cam.height - (r + 0.5 - cy) * d / f, -d)


def ridge_pixel(plate, margin=5):
    """A pixel inside a near ridge, above the horizon, whose neighbourhood (``margin`` pixels
    around) is all ridge nearer than 2 km, with its depth."""
    near = plate.depth < 2000  # inf (sky) compares False
    rows = np.arange(H)[:, None]
    ok = near & (rows < plate.camera.horizon * H - 1)
    inside = ok.copy()
    for dy in range(-margin, margin + 1):
        for dx in range(-margin, margin + 1):
            inside &= np.roll(np.roll(ok, dy, axis=0), dx, axis=1)
    candidates = np.argwhere(inside[margin:-margin, margin:-margin]) + margin
    assert len(candidates), "no ridge area large enough in this plate"
    r, c = candidates[len(candidates) // 2]
    return int(r), int(c), float(plate.depth[r, c])


def render(ctx, scene):
    with hs.FrameRenderer(ctx, (W, H)) as r:
        return r.render_frame(scene, 0.0)


@pytest.mark.parametrize("factor, visible", [(0.5, True), (2.0, False)])
def test_object_in_front_of_a_ridge_shows_and_behind_it_hides(ctx, plate, factor, visible):
    r, c, d0 = ridge_pixel(plate)
    d = d0 * factor
    scene = hs.Scene(plate, sun=hs.DirectionalLight(direction=(0, 0, -1), color=(1.0, 1.0, 1.0), intensity=1.0),
                     ambient=hs.AmbientLight(intensity=0.0))
    scene.add(hs.Mesh.cube(0.02 * d, color=RED, shading="unlit"), position=pixel_to_world(plate, r, c, d))
    frame = render(ctx, scene).astype(int)
    red = (frame[..., 0] > 200) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
    if visible:
        assert red[r, c] and red.sum() >= 9
    else:
        assert red.sum() == 0
        assert np.abs(frame[r, c] - plate.image[r, c]).max() <= 1


def test_occlusion_follows_the_ridge_line(ctx, plate):
    # A wide bar behind the nearest ridge card but far in front of the sky: it shows only above
    # the ridge, where the plate is sky or farther mountains.
    r, c, d0 = ridge_pixel(plate)
    d = d0 * 1.5
    x, y, z = pixel_to_world(plate, r, c, d)
    scene = hs.Scene(plate)
    scene.add(hs.Mesh.cube(1.0, color=RED, shading="unlit"), position=(x, y, z), scale=(d, 0.4 * d, 1.0))
    frame = render(ctx, scene).astype(int)
    red = (frame[..., 0] > 200) & (frame[..., 1] < 80)
    depth = plate.depth
    covered_by_plate = depth < d * 0.99
    assert red.sum() > 100
    # Red never shows where the plate's surface is nearer than the bar (allowing edge pixels).
    inner = covered_by_plate.copy()
    inner[1:-1, 1:-1] &= covered_by_plate[:-2, 1:-1] & covered_by_plate[2:, 1:-1]
    assert (red & inner).sum() == 0
    assert (red & ~covered_by_plate).sum() > 100


def test_occlusion_can_be_turned_off_and_plates_without_depth_never_occlude(ctx, plate):
    r, c, d0 = ridge_pixel(plate)
    d = d0 * 2
    for scene in (hs.Scene(plate, occlusion=False), hs.Scene(hs.Plate(image=plate.image, camera=plate.camera))):
        scene.add(hs.Mesh.cube(0.04 * d, color=RED, shading="unlit"), position=pixel_to_world(plate, r, c, d))
        frame = render(ctx, scene).astype(int)
        assert frame[r, c, 0] > 200 and frame[r, c, 1] < 60


def test_objects_below_the_ground_are_hidden(ctx, plate):
    scene = hs.Scene(plate)
    scene.add(hs.Mesh.cube(2.0, color=RED, shading="unlit"), position=(0.0, -3.0, -20.0))  # sunk into the ground
    frame = render(ctx, scene).astype(int)
    assert ((frame[..., 0] > 200) & (frame[..., 1] < 60) & (frame[..., 2] < 60)).sum() == 0
