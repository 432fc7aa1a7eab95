"""Which tag transitions a tag scheme allows, as boolean masks, and the scores that forbid the others.

Forbidden transitions are scores of ``-inf``: :func:`apply_constraints` turns the masks (from the tag
scheme, e.g. BIOES: an ``I-X`` only after ``B-X`` or ``I-X``) into such scores for the CRF.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .padded import Padded


@dataclass(frozen=True)
class Constraints:
    """Which tag transitions a tag scheme allows (``nertag.data.schemes.allowed_transitions`` makes them).

    Attributes
    ----------
    allowed : ndarray of bool, shape (K, K)
        ``allowed[i, j]``: tag j may follow tag i.
    allowed_start, allowed_end : ndarray of bool, shape (K,)
        Tags a sequence may start, end with.
    """

    allowed: np.ndarray
    allowed_start: np.ndarray
    allowed_end: np.ndarray

    @property
    def n_tags(self) -> int:
        return self.allowed.shape[0]

    @classmethod
    def coerce(cls, value, n_tags: int) -> "Constraints":
        """Accept a :class:`Constraints`, a tuple ``(allowed, allowed_start, allowed_end)`` or a bare
        ``allowed (K, K)`` mask (every start and end tag then allowed); check shapes and dtype."""
        if isinstance(value, Constraints):
            parts = (value.allowed, value.allowed_start, value.allowed_end)
        elif isinstance(value, tuple):
            if len(value) != 3:
                raise ValueError(f"CRF constraints must be (allowed, allowed_start, allowed_end), "
                                 f"got a tuple of {len(value)}")
            parts = value
        else:
            parts = (value, np.ones(n_tags, bool), np.ones(n_tags, bool))
        K = n_tags
        checked = []
        for name, x, shape in zip(("allowed", "allowed_start", "allowed_end"), parts, ((K, K), (K,), (K,))):
            x = np.asarray(x)
            if x.dtype != np.bool_:
                raise ValueError(f"CRF constraint mask {name} must be boolean, got dtype {x.dtype}")
            if x.shape != shape:
                raise ValueError(f"CRF constraint mask {name} must have shape {shape} for {K} tags, got {x.shape}")
            checked.append(x.copy())
        return cls(*checked)


def apply_constraints(A, start, end, constraints: Constraints):
    """Transition, start and end scores with every forbidden entry set to ``-inf`` (dtypes kept)."""
    A, start, end = np.asarray(A), np.asarray(start), np.asarray(end)
    return (np.where(constraints.allowed, A, -np.inf).astype(A.dtype),
            np.where(constraints.allowed_start, start, -np.inf).astype(start.dtype),
            np.where(constraints.allowed_end, end, -np.inf).astype(end.dtype))


def check_gold_allowed(gold: np.ndarray, padded: Padded, constraints: Constraints) -> None:
    """Refuse gold tags ``(T, B)`` that start, continue or end the way ``constraints`` forbid."""
    T, B = gold.shape
    lengths, real = padded.lengths, padded.mask                                    # (B,), (T, B)
    ok = constraints.allowed_start[gold[0]] & constraints.allowed_end[gold[lengths - 1, np.arange(B)]]
    ok &= np.where(real[1:], constraints.allowed[gold[:-1], gold[1:]], True).all(axis=0)
    if not ok.all():
        bad = np.flatnonzero(~ok).tolist()
        raise ValueError(f"gold tags of sequences {bad} use transitions the constraints forbid")
