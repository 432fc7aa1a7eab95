import math

import numpy as np
import pytest

from nertag.net import ParamBuffer
from nertag.net.layer import Layer
from nertag.net.optim import SGD, Adam, Momentum, Nesterov
from nertag.net.schedules import Constant, ExponentialDecay, InverseTimeDecay, Noam, OneCycle, StepDecay


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



def test_exponential_decay_follows_its_formula():
    decay = ExponentialDecay(0.1, rate=0.5, every=100)
    assert decay(0) == pytest.approx(0.1)
    assert decay(100) == pytest.approx(0.05)
    assert decay(250) == pytest.approx(0.1 * 0.5 ** 2.5)


def test_noam_warms_up_linearly_then_falls_as_inverse_square_root():
    noam = Noam(d_model=512, warmup=4000)
    # step t is the paper's step s = t + 1
    assert noam(0) == pytest.approx(512 ** -0.5 * 1 * 4000 ** -1.5)
    assert noam(1999) == pytest.approx(512 ** -0.5 * 2000 * 4000 ** -1.5)
    assert noam(3999) == pytest.approx((512 * 4000) ** -0.5)          # the peak, where both branches meet
    assert noam(15999) == pytest.approx(512 ** -0.5 * 16000 ** -0.5)
    assert noam(15999) == pytest.approx(noam(3999) / 2)               # 4 times the steps, half the rate
    peak = max(range(8000), key=noam)
    assert peak == 3999
    assert Noam(512, 4000, scale=2.0)(10) == pytest.approx(2 * noam(10))


def test_one_cycle_momentum_runs_opposite_to_the_learning_rate():
    cycle = OneCycle(1.0, total=110, warmup=10, start_fraction=0.1, end_fraction=0.01, momentum=(0.95, 0.85))
    assert cycle.momentum_at(0) == pytest.approx(0.95)
    assert cycle.momentum_at(5) == pytest.approx(0.90)
    assert cycle.momentum_at(10) == pytest.approx(0.85)                # lr at its peak, momentum lowest
    assert cycle.momentum_at(60) == pytest.approx(0.95 - 0.10 * 0.5)  # half-way down the cosine
    assert cycle.momentum_at(85) == pytest.approx(0.95 - 0.10 * 0.5 * (1 + math.cos(math.pi * 0.75)))
    assert cycle.momentum_at(110) == pytest.approx(0.95) == cycle.momentum_at(500)
    assert OneCycle(1.0, total=10).momentum_at(3) is None


class Point(Layer):
    def __init__(self, n):
        super().__init__()
        self.param("x", (n,), lambda rng, shape: np.ones(shape))


@pytest.mark.parametrize("make, attribute", [(Momentum, "momentum"), (Nesterov, "momentum"), (Adam, "beta1")])
def test_optimisers_apply_the_cycled_momentum_of_each_step(make, attribute):
    cycle = OneCycle(0.1, total=20, warmup=5, momentum=(0.95, 0.85))
    buffer = ParamBuffer(Point(3), np.float64)
    opt = make(buffer, cycle)
    seen = []
    for t in range(25):
        buffer.grad[:] = 1.0
        opt.step()
        seen.append(getattr(opt, attribute))
    assert seen == pytest.approx([cycle.momentum_at(t) for t in range(25)])


def test_cycled_momentum_changes_the_updates_of_momentum_sgd():
    def run(schedule):
        buffer = ParamBuffer(Point(1), np.float64)
        opt = Momentum(buffer, schedule, momentum=0.95)
        for _ in range(6):
            buffer.grad[:] = 1.0
            opt.step()
        return buffer.data.copy()

    lr_only = OneCycle(0.1, total=10, warmup=4)
    both = OneCycle(0.1, total=10, warmup=4, momentum=(0.95, 0.85))
    # v after t steps of g = 1: v_t = mu_t v_{t-1} + 1; p -= lr_t v_t
    p, v = 1.0, 0.0
    for t in range(6):
        v = both.momentum_at(t) * v + 1.0
        p -= both(t) * v
    assert run(both)[0] == pytest.approx(p)
    assert run(lr_only)[0] != pytest.approx(p)


def test_cycling_momentum_on_an_optimiser_without_momentum_is_refused():
    with pytest.raises(ValueError, match="the schedule cycles momentum, but SGD has none"):
        SGD(ParamBuffer(Point(2), np.float64), OneCycle(0.1, total=10, momentum=(0.95, 0.85)))
