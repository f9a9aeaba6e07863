"""The preview's dynamic resolution (`hybridscene.live.resolution`): how the render scale
follows the frames' times, and the one-line errors of a bad scale. The window's side is in
test_preview.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hybridscene as hs
from hybridscene.config import check_render_scale
from hybridscene.live.resolution import COARSE_RELIEF_AT, LEVELS, RenderScale, relief_lod, scaled_size


def feed(governor: RenderScale, ms_at_full: float, frames: int, *, fixed: float = 0.0) -> list[float]:
    """``frames`` frames whose time is ``fixed`` plus ``ms_at_full`` times the pixels drawn
    (the scale squared); the scale each next frame is drawn at."""
    out = []
    for _ in range(frames):
        s = governor.scale
        out.append(governor.update(fixed + ms_at_full * s * s))
    return out


def test_slow_frames_step_down_as_far_as_needed_and_then_hold():
    g = RenderScale("auto", target_fps=30)  # 33.3 ms a frame
    scales = feed(g, 70.0, 60)  # 70 ms at full size: 0.6 of each side draws 25 ms, 0.7 would draw 34
    assert scales[0] == 1.0 and g.scale == 0.6
    assert scales.index(0.6) < 15  # straight there (one step of several levels), not one level a time
    assert len(set(scales)) == 2  # 1.0, then 0.6 from then on: no oscillation


def test_spare_time_steps_back_up_and_a_step_that_does_not_hold_waits_longer():
    g = RenderScale("auto", target_fps=30)
    feed(g, 120.0, 20)
    assert g.scale == 0.5
    feed(g, 10.0, 200)  # the scene got cheap: back up to full size, a level at a time
    assert g.scale == 1.0
    # Full size costs far more than its pixels say (50 ms, and 18 below it): each step up to 1.0
    # has to be taken back, and each retry waits twice as long as the one before.
    g = RenderScale("auto", target_fps=30)
    scales = []
    for _ in range(2000):
        scales.append(g.update(50.0 if g.scale == 1.0 else 18.0))
    full = [i for i in range(1, len(scales)) if scales[i] == 1.0 and scales[i - 1] < 1.0]
    assert len(full) >= 3
    gaps = [b - a for a, b in zip(full, full[1:])]
    assert all(later > 1.8 * earlier for earlier, later in zip(gaps, gaps[1:])), gaps
    assert sum(s == 1.0 for s in scales[20:]) < 0.02 * len(scales)  # after the start, a few frames at the slow size


def test_a_step_up_that_holds_restores_the_first_patience():
    g = RenderScale("auto", target_fps=30)
    for _ in range(600):  # full size far dearer than its pixels: each retry waits longer
        g.update(50.0 if g.scale == 1.0 else 18.0)
    assert g._rise_after > 2 * RenderScale.RISE_FRAMES
    feed(g, 10.0, 3000)  # then cheap everywhere: back at full size, and it holds
    assert g.scale == 1.0 and g._rise_after == RenderScale.RISE_FRAMES
    feed(g, 45.0, 30)  # a dear moment: down one level...
    assert g.scale < 1.0
    scales = feed(g, 10.0, 3 * RenderScale.RISE_FRAMES)  # ...and back up after the first wait, not the long one
    assert scales[-1] == 1.0 and scales.index(1.0) <= RenderScale.RISE_FRAMES + RenderScale.SETTLE + 2


def test_a_fixed_scale_never_moves_and_sizes_stay_even():
    g = RenderScale(0.75)
    assert not g.auto and feed(g, 500.0, 30) == [0.75] * 30
    assert scaled_size((1280, 720), 1.0) == (1280, 720)
    assert scaled_size((1280, 720), 0.5) == (640, 360)
    assert scaled_size((1280, 720), 0.85) == (1088, 612)
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in (scaled_size((321, 179), s) for s in LEVELS[1:]))
    assert [relief_lod(s) for s in LEVELS] == [1 if s > COARSE_RELIEF_AT else 2 for s in LEVELS] == [1, 1, 1, 2, 2]


@pytest.mark.parametrize("value", ["fast", "0", "1.5", "-0.5", "nan"])
def test_a_bad_render_scale_is_one_line_naming_it(value, monkeypatch):
    with pytest.raises(hs.ConfigError, match=rf"render scale must be 'auto' or a number in 0.25..1, got '{value}'"):
        check_render_scale(value)
    monkeypatch.setenv("HYBRIDSCENE_PREVIEW_SCALE", value)
    with pytest.raises(hs.ConfigError, match=r"^HYBRIDSCENE_PREVIEW_SCALE must be 'auto' or a number"):
        hs.get_settings()
    monkeypatch.setenv("HYBRIDSCENE_PREVIEW_SCALE", "0.6")
    assert hs.get_settings().preview_scale == 0.6


def test_the_command_line_refuses_a_bad_render_scale_before_opening_anything(tmp_path):
    scene = tmp_path / "s.py"
    scene.write_text("raise SystemExit('the scene file must not be loaded')\n")
    r = subprocess.run([sys.executable, "-m", "hybridscene", "preview", str(scene), "--render-scale", "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert r.stderr.strip() == "error: --render-scale must be 'auto' or a number in 0.25..1, got '2'"
