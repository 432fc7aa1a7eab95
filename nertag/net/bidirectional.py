"""Bidirectional wrapper: one recurrent layer reads each sequence forwards, another reads it backwards.

Notation
--------
T, B, L_b      padded length, batch size, length of sequence b
Y_f, h_f       outputs (T, B, H_f) and final states (B, H_f) of the forward layer on X
Y_b, h_b       outputs and final states of the backward layer reading each sequence from position L_b - 1
               down to 0 (``run(..., reverse=True)``); ``Y_b[t]`` is its output at position t, and h_b
               summarises each sequence read from its last real position down to position 0
Y = [Y_f ; Y_b]   (T, B, H_f + H_b),   h_last = [h_f ; h_b]   (B, H_f + H_b)

Backward:
  1. split dY and dh_last at H_f
  2. the backward layer gets dY_b and dh_b;  the forward layer gets dY_f and dh_f
  3. dX = dX_f + dX_b,  dh0 = [dh0_f ; dh0_b]

Both layers write their halves of one preallocated Y and read X as it is: the reversal is an index inside
their scans, so no reversed copy of X, Y or their gradients, and no concatenation of Y, is ever made.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .layer import Layer
from .padded import as_padded
from .rnn import Recurrent
from .workspace import Workspace


class Bidirectional(Layer):
    """Run two recurrent layers in opposite directions and concatenate their outputs on the feature axis.

    Parameters
    ----------
    fwd : Recurrent, or a callable returning one
        The layer reading forwards; when ``bwd`` is omitted, ``fwd`` must be a factory and is called
        twice, e.g. ``Bidirectional(lambda: GRU(100, 100))``.
    bwd : Recurrent, optional
        The layer reading backwards; it must take the same input size as ``fwd``.

    Notes
    -----
    The parameters are those of the two layers (``2 *`` those of one when both are alike).
    Use :meth:`run` for ``h_last = [h_fwd_last ; h_bwd_last]`` and its gradient, e.g. for a word summary
    from a character BiGRU.
    """

    def __init__(self, fwd: Recurrent | Callable[[], Recurrent], bwd: Recurrent | None = None):
        super().__init__()
        if bwd is None:
            if isinstance(fwd, Layer):
                raise ValueError("Bidirectional needs two layers, or one factory that makes a layer")
            fwd, bwd = fwd(), fwd()
        if not (isinstance(fwd, Recurrent) and isinstance(bwd, Recurrent)):
            raise ValueError(f"Bidirectional wraps recurrent layers, got {type(fwd).__name__} "
                             f"and {type(bwd).__name__}")
        if fwd.n_in != bwd.n_in:
            raise ValueError(f"both directions must read the same input size, got {fwd.n_in} and {bwd.n_in}")
        if fwd is bwd:
            raise ValueError("the two directions must be distinct layers")
        self.fwd, self.bwd = self.add(fwd), self.add(bwd)
        self.n_in = fwd.n_in
        self.n_out = fwd.n_out + bwd.n_out
        self._workspace = Workspace()                              # output memory reused across calls

    def run(self, X, lengths=None, h0=None, *, grad: bool = True, outputs: bool = True):
        """Both directions over a padded batch.

        Parameters
        ----------
        X : ndarray, shape (T, B, D)
        lengths : Padded, or ndarray of int, shape (B,), optional
        h0 : ndarray, shape (B, H_f + H_b), optional
            Initial states ``[h0_fwd ; h0_bwd]``; zeros when omitted.
        grad : bool
            False: prediction only; the layers may keep no caches for backward, and ``backprop`` raises.
        outputs : bool
            False: only ``h_last`` is wanted; no ``Y`` is written and None is returned for it.

        Returns
        -------
        Y : ndarray, shape (T, B, H_f + H_b), or None
            0 at padding.
        h_last : ndarray, shape (B, H_f + H_b)
            ``[h_fwd_last ; h_bwd_last]``: the forward state after the last real position and the
            backward state after position 0.
        backprop : callable ``backprop(dY, dh_last=None) -> (dX, dh0)``
            As for :meth:`Recurrent.run`; ``dY`` may be None when only ``h_last`` is used.
        """
        X = np.asarray(X)
        if X.ndim != 3:
            raise ValueError(f"Bidirectional expects inputs of shape (T, B, {self.n_in}), got {X.shape}")
        T, B, _ = X.shape
        padded = as_padded(lengths, T, B)
        Hf = self.fwd.n_out
        if h0 is not None and np.shape(h0) != (B, self.n_out):
            raise ValueError(f"h0 must have shape ({B}, {self.n_out}), got {np.shape(h0)}")
        h0_f, h0_b = (None, None) if h0 is None else (h0[:, :Hf], h0[:, Hf:])
        Y = Y_f = Y_b = None
        if outputs:
            Y = self._workspace.take((T, B, self.n_out), self.fwd.p["W"].dtype)   # (T, B, H_f + H_b)
            Y_f, Y_b = Y[:, :, :Hf], Y[:, :, Hf:]
        _, h_f, back_f = self.fwd.run(X, padded, h0_f, out=Y_f, grad=grad, outputs=outputs)
        _, h_b, back_b = self.bwd.run(X, padded, h0_b, reverse=True, out=Y_b, grad=grad, outputs=outputs)
        h_last = np.concatenate([h_f, h_b], axis=1)                # (B, H_f + H_b)

        def backprop(dY, dh_last=None):
            dY_f, dY_b = (None, None) if dY is None else (dY[:, :, :Hf], dY[:, :, Hf:])   # 1., 2.
            dh_f, dh_b = (None, None) if dh_last is None else (dh_last[:, :Hf], dh_last[:, Hf:])
            dX_f, dh0_f = back_f(dY_f, dh_f)
            dX_b, dh0_b = back_b(dY_b, dh_b)
            dX_f += dX_b                                           # 3.
            return dX_f, np.concatenate([dh0_f, dh0_b], axis=1)

        return Y, h_last, backprop

    def final_states_of_ids(self, ids, table, lengths=None) -> np.ndarray:
        """Prediction only: ``h_last`` (B, H_f + H_b) when the input at each position is the row
        ``table[ids]`` (``ids`` (T, B) int, ``table`` (V, D)); see :meth:`Recurrent.final_states_of_ids`."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be a (T, B) integer array, got {ids.dtype} of shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(table)):
            raise ValueError(f"ids must lie in 0..{len(table) - 1}, got {ids.min()}..{ids.max()}")
        padded = as_padded(lengths if lengths is not None else np.full(ids.shape[1], ids.shape[0]), *ids.shape)
        return np.concatenate([self.fwd.final_states_of_ids(ids, table, padded),
                               self.bwd.final_states_of_ids(ids, table, padded, reverse=True)], axis=1)

    def forward(self, X, lengths=None, rng=None, h0=None):
        """The layer contract: ``(Y, backprop)`` with ``backprop(dY) -> dX``; see :meth:`run` for the rest."""
        Y, _, backprop = self.run(X, lengths, h0)
        return Y, lambda dY: backprop(dY)[0]
