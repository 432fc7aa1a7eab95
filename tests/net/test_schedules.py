import pytest

from nertag.net.schedules import Constant, InverseTimeDecay, OneCycle, StepDecay


def test_schedule_values():
    assert Constant(0.1)(1000) == 0.1
    assert StepDecay(1.0, factor=0.5, every=10)(25) == 0.25
    decay = InverseTimeDecay(0.015, decay=0.05, steps_per_epoch=100)
    assert decay(99) == pytest.approx(0.015)
    assert decay(250) == pytest.approx(0.015 / 1.1)
    cycle = OneCycle(1.0, total=110, warmup=10, start_fraction=0.1, end_fraction=0.01)
    assert cycle(0) == pytest.approx(0.1)
    assert cycle(5) == pytest.approx(0.55)
    assert cycle(10) == pytest.approx(1.0)
    assert cycle(60) == pytest.approx(0.01 + 0.99 * 0.5)
    assert cycle(110) == pytest.approx(0.01) == cycle(500)

