import pytest

from nertag.net.schedules import (Constant, InverseTimeDecay, OneCycle, StepDecay, schedule_from_dict,
                                  schedule_to_dict)


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


def test_schedule_round_trips_through_a_dict():
    s = InverseTimeDecay(0.01, 0.05, 7)
    assert schedule_from_dict(schedule_to_dict(s)) == s
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'Cosine'"):
        schedule_from_dict({"kind": "Cosine", "lr": 1})
