"""EdgeAA (hybridscene/gpu/edge_aa.py): the single-sample foreground's edge anti-aliasing pass.

Images are built on the host (a half-plane rasterised at pixel centres as 1x, and at the four
sample points of the standard 4x pattern as MSAA would) and read back in the texture's own row
order (the pass is symmetric in rows)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import hybridscene as hs

from hybridscene.errors import ConfigError
from hybridscene.gpu.edge_aa import EdgeAA

pytestmark = pytest.mark.gl

W, H = 96, 64
# The standard 4x MSAA sample positions (D3D / GL rotated grid), in pixels from the corner.
MSAA4 = ((0.375, 0.125), (0.875, 0.375), (0.125, 0.625), (0.625, 0.875))
COLOUR = np.array([0.8, 0.3, 0.1], np.float32)  # linear, straight


def half_plane(offsets, slope=0.23, intercept=20.3) -> np.ndarray:
    """(H, W, 4) premultiplied: an opaque object below the line y = slope * x + intercept,
    its coverage the fraction of ``offsets`` (sample points) inside."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    cover = np.zeros((H, W))
    for ox, oy in offsets:
        cover += (ys + oy) < slope * (xs + ox) + intercept
    cover /= len(offsets)
    img = np.concatenate([cover[..., None] * COLOUR, cover[..., None]], -1)
    return img.astype(np.float16).astype(np.float32)  # as the RGBA16F texture holds it


def upload(gl, img: np.ndarray):
    tex = gl.mgl.texture((img.shape[1], img.shape[0]), 4, np.asarray(img, np.float16).tobytes(), dtype="f2")
    return tex


def read(tex) -> np.ndarray:
    w, h = tex.size
    return np.frombuffer(tex.read(), np.float16).reshape(h, w, 4).astype(np.float32)


def run_pass(gl, img: np.ndarray, rect=None, fill=None, depth=None, **options) -> np.ndarray:
    src = upload(gl, img)
    dst_tex = gl.mgl.texture(src.size, 4, dtype="f2")
    fbo = gl.mgl.framebuffer([dst_tex])
    fbo.clear(*(fill if fill is not None else (0.0, 0.0, 0.0, 0.0)))
    depth_tex = None
    if depth is not None:
        depth_tex = gl.mgl.depth_texture(src.size, np.asarray(depth, np.float32).tobytes())
        depth_tex.compare_func = ""
    try:
        with EdgeAA(gl, **options) as aa:
            aa.apply(src, fbo, rect, depth=depth_tex)
        return read(dst_tex)
    finally:
        gl.unbind([fbo])
        for r in (fbo, dst_tex, src, depth_tex):
            if r is not None:
                r.release()


def test_flat_pixels_are_copied_exactly(ctx):
    rng = np.random.default_rng(1)
    img = np.zeros((H, W, 4), np.float32)
    img[:, : W // 2] = (*COLOUR * 0.6, 0.6)           # a flat translucent block
    img[:, W // 2:] = (*rng.uniform(0, 0.2, 3), 1.0)  # and a flat opaque one
    img = img.astype(np.float16).astype(np.float32)
    out = run_pass(ctx, img)
    interior = np.ones((H, W), bool)
    interior[:, W // 2 - 2: W // 2 + 2] = False
    np.testing.assert_array_equal(out[interior], img[interior])


def test_a_hard_silhouette_gets_coverage_like_msaa(ctx):
    one = half_plane([(0.5, 0.5)])
    msaa = half_plane(MSAA4)
    out = run_pass(ctx, one)
    edge = msaa[..., 3] != one[..., 3]  # where 4x and 1x disagree
    edge |= (msaa[..., 3] > 0) & (msaa[..., 3] < 1)
    assert edge.sum() > 50
    partial = (out[..., 3] > 0.05) & (out[..., 3] < 0.95)
    assert partial.sum() > 0.5 * edge.sum(), "the edge stayed hard"
    err_1x = np.abs(one[..., 3] - msaa[..., 3])[edge].mean()
    err_aa = np.abs(out[..., 3] - msaa[..., 3])[edge].mean()
    assert err_aa < 0.6 * err_1x, (err_aa, err_1x)
    # Far from the edge nothing moves.
    far = np.ones((H, W), bool)
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            far &= ~np.roll(np.roll(edge, dy, 0), dx, 1)
    np.testing.assert_array_equal(out[far], one[far])


def test_samples_4_gives_4x_coverage_on_a_straight_edge(ctx):
    """samples=4 counts the 4x sample points under the reconstructed edge: quarter steps, and
    most pixels of a long straight edge exactly as 4x MSAA resolves them."""
    one = half_plane([(0.5, 0.5)], slope=0.13, intercept=25.7)
    msaa = half_plane(MSAA4, slope=0.13, intercept=25.7)
    out = run_pass(ctx, one, samples=4)
    np.testing.assert_allclose(out[..., 3] * 4, np.round(out[..., 3] * 4), atol=2e-3)
    edge = (msaa[..., 3] != one[..., 3]) | ((msaa[..., 3] > 0) & (msaa[..., 3] < 1))
    exact = np.abs(out[..., 3] - msaa[..., 3])[edge] < 1e-3
    assert exact.mean() > 0.6, exact.mean()
    assert np.abs(one[..., 3] - msaa[..., 3])[edge].max() == 0.5  # 1x was off by up to half


def test_with_depth_only_geometric_edges_move(ctx):
    """Given the foreground's depth, a mesh's silhouette (drawn over empty) is smoothed and a
    sprite's texture (no depth written) is left exactly as drawn."""
    mesh = half_plane([(0.5, 0.5)])
    depth = np.where(mesh[..., 3] > 0, 0.5, 1.0)
    img = mesh.copy()
    checker = (np.add.outer(np.arange(H) // 3, np.arange(W) // 3) % 2).astype(np.float32)
    sprite = np.zeros((H, W), bool)
    sprite[46:62, 10:90] = True  # past the line: nothing of the mesh there
    assert not (mesh[..., 3] > 0)[sprite].any()
    img[sprite] = np.stack([checker, 0.2 * checker, 1 - checker, np.ones_like(checker)], -1)[sprite]
    img = img.astype(np.float16).astype(np.float32)
    out = run_pass(ctx, img, depth=depth)
    np.testing.assert_array_equal(out[sprite], img[sprite])
    silhouette = np.abs(half_plane(MSAA4)[..., 3] - mesh[..., 3]) > 0
    assert ((out[..., 3] > 0.05) & (out[..., 3] < 0.95) & ~sprite).sum() > 0.5 * silhouette.sum()
    without = run_pass(ctx, img)  # luma alone: the sprite's texture is filtered too
    assert not np.array_equal(without[sprite], img[sprite])


def test_premultiplied_colours_stay_valid(ctx):
    rng = np.random.default_rng(2)
    # Blocks of random premultiplied colours (rgb <= alpha), some transparent: many edges.
    blocks = rng.uniform(0, 1, (8, 12, 4)).astype(np.float32)
    blocks[..., 3] = np.where(rng.uniform(size=(8, 12)) < 0.3, 0.0, blocks[..., 3])
    blocks[..., :3] *= blocks[..., 3:]
    img = np.repeat(np.repeat(blocks, 8, 0), 8, 1)
    img = np.maximum(img, half_plane([(0.5, 0.5)]))  # and a sloped silhouette through them
    img = img.astype(np.float16).astype(np.float32)
    assert (img[..., :3] <= img[..., 3:]).all()
    out = run_pass(ctx, img)
    assert not np.array_equal(out, img)
    assert (out[..., :3] <= out[..., 3:] + 1e-3).all()
    assert (out >= 0).all() and (out[..., 3] <= 1.0).all()


def test_only_the_rect_is_written(ctx):
    img = half_plane([(0.5, 0.5)])
    fill = (0.25, 0.5, 0.75, 1.0)
    rect = (20, 10, 40, 30)  # x, y, w, h in the texture's rows
    out = run_pass(ctx, img, rect=rect, fill=fill)
    full = run_pass(ctx, img)
    inside = np.zeros((H, W), bool)
    inside[10:40, 20:60] = True
    np.testing.assert_array_equal(out[~inside], np.broadcast_to(np.float32(fill), out[~inside].shape))
    np.testing.assert_array_equal(out[inside], full[inside])
    # Several rectangles (as the renderer records them), overlapping: each written, nothing else.
    out = run_pass(ctx, img, rect=[(20, 10, 20, 30), (30, 20, 30, 20), (90, 0, 40, 40)], fill=fill)
    inside = np.zeros((H, W), bool)
    inside[10:40, 20:40] = inside[20:40, 30:60] = inside[0:40, 90:] = True
    np.testing.assert_array_equal(out[~inside], np.broadcast_to(np.float32(fill), out[~inside].shape))
    np.testing.assert_array_equal(out[inside], full[inside])


def test_run_clears_what_it_wrote_before(ctx):
    img = np.full((H, W, 4), 0.5, np.float32)
    src = upload(ctx, img)
    try:
        with EdgeAA(ctx) as aa:
            first = read(aa.run(src, rect=(0, 0, 30, 30)))
            np.testing.assert_array_equal(first[:30, :30], 0.5)
            assert (first[30:, :] == 0).all() and (first[:, 30:] == 0).all()
            second = read(aa.run(src, rect=(50, 30, 20, 20)))
            assert (second[:30, :30] == 0).all()
            np.testing.assert_array_equal(second[30:50, 50:70], 0.5)
            assert aa.run(src, rect=(10, 10, 0, 5)) is not None  # empty: nothing drawn, no error
            assert (read(aa.run(src, rect=[])) == 0).all()  # nothing drawn this frame: all cleared
    finally:
        src.release()


def test_two_passes_with_their_own_options_share_a_context(ctx):
    """The programs are the context's: each pass sets its own options when it draws."""
    img = half_plane([(0.5, 0.5)])
    src = upload(ctx, img)
    try:
        with EdgeAA(ctx, edge_threshold_min=1.0) as off, EdgeAA(ctx) as on:  # off: no edge is strong enough
            soft = read(on.run(src))
            hard = read(off.run(src))
        assert not np.array_equal(soft, img)
        np.testing.assert_array_equal(hard, img)
    finally:
        src.release()


def test_bad_options_are_refused(ctx):
    with pytest.raises(ConfigError, match="search_steps"):
        EdgeAA(ctx, search_steps=5)
    with pytest.raises(ConfigError, match="subpix"):
        EdgeAA(ctx, subpix=2.0)
    with pytest.raises(ConfigError, match="samples"):
        EdgeAA(ctx, samples=8)


@pytest.mark.gl
def test_frame_renderer_edge_aa_smooths_mesh_silhouettes_only(ctx):
    """FrameRenderer(samples=1, edge_aa=True): a cube's slanted silhouette gets partial alpha;
    what is not an edge is the same frame as without the pass; the foreground pass is what the
    frame composited."""
    size = (160, 120)

    def draw(edge_aa):
        scene = hs.Scene(hs.Plate.solid((40, 90, 160), size), shadows=False,
                         camera=hs.PerspectiveCamera(fov_y=50.0, position=(0, 0, 5), target=(0, 0, 0)))
        scene.add(hs.Mesh.cube(1.2, color="#ffffff", shading="unlit"), rotation=hs.quat_from_euler(z=20, y=30))
        with hs.FrameRenderer(ctx, size, samples=1, edge_aa=edge_aa) as r:
            fp = r.render_passes(scene, 0.0, passes=("foreground",))
            return fp.frame.astype(int), fp.passes["foreground"][..., 3]

    hard, alpha_hard = draw(False)
    soft, alpha_soft = draw(True)
    assert set(np.unique(alpha_hard)) <= {0.0, 1.0}  # one sample: covered or not
    partial = (alpha_soft > 0.02) & (alpha_soft < 0.98)
    assert partial.sum() > 40  # the silhouette, smoothed
    far = ~ndimage.binary_dilation(alpha_hard != np.roll(alpha_hard, 1, 0), iterations=3) \
        & ~ndimage.binary_dilation(alpha_hard != np.roll(alpha_hard, 1, 1), iterations=3)
    assert np.array_equal(hard[far], soft[far])
