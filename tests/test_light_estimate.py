import numpy as np
import pytest

import hybridscene as hs
from hybridscene.scene.estimate import estimate_light


def photo_like(sun_col=40, sky=(110, 150, 215)):
    img = np.zeros((180, 320, 3), np.uint8)
    img[:90] = sky                       # sky above the middle
    img[90:] = (70, 110, 50)             # green ground
    y, x = np.mgrid[0:180, 0:320]
    spot = (x - sun_col) ** 2 + (y - 30) ** 2 < 15**2
    img[spot] = (255, 240, 200)          # a warm sun, upper left
    return hs.Plate(image=img)


def test_sun_and_sky_estimated_from_pixels():
    est = estimate_light(photo_like())
    d = np.array(est["sun_direction"])  # the way the light travels, like DirectionalLight.direction
    assert d[0] > 0.3 and d[1] < -0.2 and d[2] > 0  # from the upper left in front: right, down, toward us
    assert est["sky_color"][2] > est["sky_color"][0]  # blue sky
    assert est["sun_color"][0] >= est["sun_color"][2]  # warm sun
    right = np.array(estimate_light(photo_like(sun_col=290))["sun_direction"])
    assert right[0] < -0.3  # a sun on the right shines to the left


def test_scene_lights_default_to_the_estimate_and_can_be_overridden():
    plate = photo_like()
    scene = hs.Scene(plate)
    assert scene.sun.direction[0] > 0.3 and scene.sun.direction[1] < 0  # light travels down and to the right
    assert scene.ambient.rgb["color"][2] > scene.ambient.rgb["color"][0]
    custom = hs.DirectionalLight.from_plate(plate, direction=(0, -1, 0))
    np.testing.assert_allclose(custom.direction, [0, -1, 0], atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_procedural_plates_keep_their_painted_sun(seed):
    plate = hs.procedural_plate(size=(64, 36), seed=seed)
    sun = hs.DirectionalLight.from_plate(plate)
    np.testing.assert_allclose(sun.direction, plate.meta["sun_direction"], atol=1e-6)  # one convention
    assert sun.direction[1] < 0.05  # the painted suns are above (or at) the horizon: light travels down


def test_the_estimate_and_the_light_share_the_convention():
    plate = photo_like()
    np.testing.assert_allclose(hs.DirectionalLight.from_plate(plate).direction,
                               estimate_light(plate)["sun_direction"], atol=1e-6)
