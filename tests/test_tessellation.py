"""Primitives tessellated by their size on screen (``adaptive=True``): fewer segments when small,
the outline within a quarter pixel of the full one."""

import math

import numpy as np
import pytest

import hybridscene as hs
from hybridscene.scene.mesh import LOD_TOLERANCE_PX, segments_for


def test_segments_follow_the_sagitta():
    for radius in (3.0, 10.0, 40.0, 200.0):
        n = segments_for(radius)
        sagitta = radius * (1.0 - math.cos(math.pi / n))
        assert sagitta <= LOD_TOLERANCE_PX + 1e-9
        assert radius * (1.0 - math.cos(math.pi / (n - 1))) > LOD_TOLERANCE_PX  # the fewest that do
    assert segments_for(float("inf")) > 10**6


def test_levels_are_coarser_cached_and_only_for_adaptive_primitives():
    sphere = hs.Geometry.sphere(1.0, adaptive=True)
    small = sphere.for_screen(5.0)
    assert small.triangle_count < sphere.triangle_count / 4 and small is sphere.for_screen(5.0)
    assert sphere.for_screen(5000.0) is sphere  # never finer than asked for
    assert hs.Geometry.sphere(1.0).for_screen(5.0).triangle_count == hs.Geometry.sphere(1.0).triangle_count
    cone = hs.Geometry.cone(1.0, 2.0, adaptive=True)
    assert cone.for_screen(8.0).triangle_count < cone.triangle_count
    assert hs.Geometry.cube(1.0).for_screen(1.0).triangle_count == 12


@pytest.mark.gl
def test_a_small_sphere_is_drawn_coarse_with_the_same_outline(ctx):
    size = (160, 120)

    def frame(adaptive):
        scene = hs.Scene(hs.Plate.solid((40, 90, 160), size), shadows=False,
                         camera=hs.PerspectiveCamera(fov_y=50.0, position=(0, 0, 5), target=(0, 0, 0)))
        node = scene.add(hs.Mesh.sphere(0.4, color="#ffffff", shading="unlit", adaptive=adaptive))
        with hs.FrameRenderer(ctx, size) as r:
            r.render_frame(scene, 0.0)
            return r.foreground.read_premultiplied()[..., 3], node.mesh.geometry

    full, _ = frame(False)
    coarse, geometry = frame(True)
    assert geometry._levels, "the renderer drew a coarser level"
    radius = math.sqrt(full.sum() / math.pi)  # about 10 px
    assert 5 < radius < 20
    # The coverage lost is at most the outline's length times the tolerance.
    assert 0 <= full.sum() - coarse.sum() <= 2 * math.pi * radius * LOD_TOLERANCE_PX
    assert np.abs(full - coarse).max() < 0.5  # only partly covered edge pixels change
