"""The layout of a padded, time-major batch, validated once and then trusted by every layer.

A :class:`Padded` says which positions of a ``(T, B, ...)`` batch are real and in which order the
recurrent layers visit its sequences (longest first, so the real rows of step t are a prefix). The data
layer builds one per batch (:func:`nertag.data.batches.collate`); the network hands the same object to
every layer, which derives the mask and the sort order from it once per batch instead of once per layer.

Public entry points (a layer's ``forward`` / ``loss``, the CRF functions) still accept a plain ``lengths``
array or None: :func:`as_padded` validates it there, with the errors a user can act on, and passes a
:class:`Padded` through untouched (an ``assert`` checks it fits the array).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class Padded:
    """Lengths of B sequences padded to T positions, with what the layers derive from them.

    Build it with :meth:`check` (validates) or :meth:`full`; derived arrays are computed on first use
    and kept, so a batch pays for each once. Treat every array as read-only.

    Attributes
    ----------
    lengths : ndarray of int64, shape (B,)
        C-contiguous, each in 1..T.
    T : int
        The padded length.
    """

    lengths: np.ndarray
    T: int

    @classmethod
    def check(cls, lengths, T: int, B: int) -> "Padded":
        """Validate ``lengths`` (B,) against a padded ``(T, B, ...)`` batch; None means all T."""
        if lengths is None:
            return cls.full(T, B)
        raw = np.asarray(lengths)
        if raw.size and not np.issubdtype(raw.dtype, np.integer):
            raise ValueError(f"lengths must be integers, got dtype {raw.dtype}")
        lengths = np.ascontiguousarray(raw, dtype=np.int64)
        if lengths.shape != (B,):
            raise ValueError(f"lengths must have shape ({B},) for a batch of {B} sequences, got {lengths.shape}")
        if B and (lengths.min() < 1 or lengths.max() > T):
            raise ValueError(f"lengths must lie in 1..{T} (the padded length), got {lengths.min()}..{lengths.max()}")
        return cls(lengths, int(T))

    @classmethod
    def full(cls, T: int, B: int) -> "Padded":
        """Every one of the B sequences fills all T positions."""
        return cls(np.full(B, T, dtype=np.int64), int(T))

    @property
    def B(self) -> int:
        return self.lengths.shape[0]

    @property
    def n_real(self) -> int:
        """N, the number of real positions."""
        return int(self.lengths.sum())

    @cached_property
    def mask(self) -> np.ndarray:
        """Bool (T, B): True where position t is inside sequence b."""
        return np.arange(self.T)[:, None] < self.lengths[None, :]

    @cached_property
    def real(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t_idx, b_idx)``, each (N,): the N real positions in row-major order (``np.nonzero(mask)``)."""
        return np.nonzero(self.mask)

    @cached_property
    def order(self) -> np.ndarray:
        """Int64 (B,): batch columns longest first (stable), the row order the recurrent layers use."""
        return np.argsort(-self.lengths, kind="stable")

    @cached_property
    def sorted_lengths(self) -> np.ndarray:
        """Int64 (B,), C-contiguous: ``lengths[order]``, non-increasing."""
        return np.ascontiguousarray(self.lengths[self.order])

    @property
    def T_real(self) -> int:
        """The longest length (0 for an empty batch): steps after it are padding in every sequence."""
        return int(self.sorted_lengths[0]) if self.B else 0

    def step_rows(self, reverse: bool = False) -> np.ndarray:
        """Int64 (N,): the real positions in "step order", as rows ``p * B + b`` of a ``(T * B, ...)`` reshape.

        Step order lists, for t = 0 .. T_real - 1, the k_t sorted rows ``i < k_t`` that are real at step t of
        a recurrent scan (see :attr:`order`); row i reads position ``t``, or ``lengths[i] - 1 - t`` when
        ``reverse``, of batch column ``order[i]``. The recurrent layers keep their per-position products
        packed in this order (N rows, no padding), step t from row ``sum(k_0 .. k_{t-1})`` on.
        """
        return self._step_rows[1 if reverse else 0]

    @cached_property
    def _step_rows(self) -> tuple[np.ndarray, np.ndarray]:
        t, i = np.nonzero(np.arange(self.T_real)[:, None] < self.sorted_lengths[None, :])   # (N,) each
        col = self.order[i]
        return t * self.B + col, (self.sorted_lengths[i] - 1 - t) * self.B + col


def as_padded(lengths, T: int, B: int) -> Padded:
    """``lengths`` as a :class:`Padded` for a ``(T, B, ...)`` batch: validated when raw, trusted when not."""
    if isinstance(lengths, Padded):
        assert lengths.T == T and lengths.B == B, f"a Padded of ({lengths.T}, {lengths.B}) for a ({T}, {B}) batch"
        return lengths
    return Padded.check(lengths, T, B)


def sequence_mask(lengths, T: int) -> np.ndarray:
    """Boolean mask ``(T, B)``, True where position ``t`` is inside sequence ``b`` (no validation)."""
    if isinstance(lengths, Padded):
        assert lengths.T == T
        return lengths.mask
    lengths = np.asarray(lengths)
    return np.arange(T)[:, None] < lengths[None, :]
