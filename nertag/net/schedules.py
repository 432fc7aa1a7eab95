"""Learning-rate schedules: frozen dataclasses called with the optimiser's step count (0-based).

A schedule maps step ``t`` to a learning rate. One that also defines ``momentum_at(t)`` (:class:`OneCycle`
with ``momentum=``) cycles the optimiser's momentum too: Momentum's ``mu`` and Adam's ``beta1`` follow it.

Training builds its schedule from the config's ``lr`` and ``lr_decay`` (an :class:`InverseTimeDecay`);
schedules themselves are never saved.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    lr: float

    def __call__(self, step: int) -> float:
        return self.lr


@dataclass(frozen=True)
class StepDecay:
    """``lr * factor ** (step // every)``."""

    lr: float
    factor: float = 0.5
    every: int = 1000

    def __call__(self, step: int) -> float:
        return self.lr * self.factor ** (step // self.every)


@dataclass(frozen=True)
class InverseTimeDecay:
    """``lr / (1 + decay * epoch)`` with ``epoch = step // steps_per_epoch`` (Ma & Hovy 2016; NCRF++)."""

    lr: float
    decay: float = 0.05
    steps_per_epoch: int = 1

    def __call__(self, step: int) -> float:
        return self.lr / (1.0 + self.decay * (step // self.steps_per_epoch))


@dataclass(frozen=True)
class ExponentialDecay:
    """``lr * rate ** (step / every)``: smooth decay by ``rate`` every ``every`` steps."""

    lr: float
    rate: float = 0.96
    every: int = 1000

    def __call__(self, step: int) -> float:
        return self.lr * self.rate ** (step / self.every)


@dataclass(frozen=True)
class Noam:
    """Linear warm-up, then decay with the inverse square root of the step (Vaswani et al. 2017).

    ``lr(t) = scale * d_model^-1/2 * min(s^-1/2, s * warmup^-3/2)`` with ``s = t + 1`` (the paper counts
    steps from 1): rises linearly for ``warmup`` steps, peaks at ``scale * (d_model * warmup)^-1/2``, then
    falls as ``s^-1/2``.
    """

    d_model: int
    warmup: int = 4000
    scale: float = 1.0

    def __call__(self, step: int) -> float:
        s = step + 1
        return self.scale * self.d_model ** -0.5 * min(s ** -0.5, s * self.warmup ** -1.5)


@dataclass(frozen=True)
class OneCycle:
    """Linear warm-up from ``lr * start_fraction`` to ``lr`` over ``warmup`` steps, then cosine
    annealing down to ``lr * end_fraction`` at ``total`` steps (Smith 2018); constant after ``total``.

    With ``momentum=(high, low)`` the momentum cycles the other way, as fastai's ``fit_one_cycle``: from
    ``high`` down to ``low`` during the warm-up (linearly, as the lr rises), then back up to ``high``
    along the same cosine as the lr falls. The optimiser applies it to Momentum's ``mu`` or Adam's
    ``beta1``; large steps with little momentum, small steps with much.
    """

    lr: float
    total: int
    warmup: int = 0
    start_fraction: float = 0.04
    end_fraction: float = 1e-3
    momentum: tuple[float, float] | None = None

    def _phase(self, step: int) -> tuple[bool, float]:
        """(in the warm-up, fraction of that phase done)."""
        if step < self.warmup:
            return True, step / self.warmup
        span = max(self.total - self.warmup, 1)
        return False, min((step - self.warmup) / span, 1.0)

    def __call__(self, step: int) -> float:
        warming, progress = self._phase(step)
        if warming:
            return self.lr * (self.start_fraction + (1.0 - self.start_fraction) * progress)
        low = self.lr * self.end_fraction
        return low + (self.lr - low) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def momentum_at(self, step: int) -> float | None:
        """The cycled momentum at ``step``, or None when this schedule leaves momentum alone."""
        if self.momentum is None:
            return None
        high, low = self.momentum
        warming, progress = self._phase(step)
        if warming:
            return high - (high - low) * progress
        return high - (high - low) * 0.5 * (1.0 + math.cos(math.pi * progress))
