"""Learning-rate schedules: frozen dataclasses called with the optimiser's step count (0-based).

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
class OneCycle:
    """Linear warm-up from ``lr * start_fraction`` to ``lr`` over ``warmup`` steps, then cosine
    annealing down to ``lr * end_fraction`` at ``total`` steps (Smith 2018); constant after ``total``."""

    lr: float
    total: int
    warmup: int = 0
    start_fraction: float = 0.04
    end_fraction: float = 1e-3

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.lr * (self.start_fraction + (1.0 - self.start_fraction) * step / self.warmup)
        span = max(self.total - self.warmup, 1)
        progress = min((step - self.warmup) / span, 1.0)
        low = self.lr * self.end_fraction
        return low + (self.lr - low) * 0.5 * (1.0 + math.cos(math.pi * progress))
