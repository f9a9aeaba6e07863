import pytest

import hybridscene as hs


def test_fixed_step_clock_is_frame_exact():
    clock = hs.FixedStepClock(30, start=1.0)
    assert list(clock.times(3)) == [1.0, 1.0 + 1 / 30, 1.0 + 2 / 30]
    assert clock.time() == 1.0
    assert clock.tick() == pytest.approx(1.0 + 1 / 30)
    with pytest.raises(hs.ConfigError, match="fps must be a positive number, got 0"):
        hs.FixedStepClock(0)


def test_realtime_clock_pauses_and_seeks_with_an_injected_timer():
    now = [100.0]
    clock = hs.RealtimeClock(timer=lambda: now[0])
    now[0] = 102.0
    assert clock.time() == 2.0
    clock.pause()
    now[0] = 110.0
    assert clock.time() == 2.0 and clock.paused
    clock.resume()
    now[0] = 111.0
    assert clock.time() == 3.0
    clock.seek(0.5)
    assert clock.time() == 0.5
    assert isinstance(clock, hs.Clock)
