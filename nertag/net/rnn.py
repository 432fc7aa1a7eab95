"""Recurrent layers over padded batches of uneven-length sequences, and the plain tanh RNN.

Notation
--------
T, B, D, H   padded length, batch size, input size, state size
x_t          (B, D)  input at step t;  X = [x_0 .. x_{T-1}]  (T, B, D), time-major
L_b          length of sequence b;  position t of sequence b is real when t < L_b
h_t          (B, H)  state after step t;  h_{-1} = h0 (zeros unless given)
a_t          (B, H)  input part of the pre-activation,  a_t = x_t W + b   (one GEMM for all t)
h_t'         tanh(a_t + h_{t-1} U)                                        candidate state
h_t          h_t'  where t < L_b,  h_{t-1} where t >= L_b                 (state carried over padding)
y_t          h_t'  where t < L_b,  0 where t >= L_b                       (zero output at padding)
h_last       (B, H)  h at each sequence's own last real step,  h_last[b] = h_{L_b - 1}[b]

Backward (dY = dL/dY, dh_last = dL/dh_last; dh is the running dL/dh_t), for t = T-1 .. 0, real rows:
  1. dh   += dy_t                                   total gradient reaching h_t
  2. ds_t  = dh * (1 - h_t'^2)                      through the tanh;  ds_t = 0 at padding
  3. dh    = ds_t U^T                               to h_{t-1}   (padding rows: dh passes unchanged)
After the loop, over all (T*B) rows at once:
  4. dW += X^T dS,  db += sum(dS),  dU += [h_{-1} .. h_{T-2}]^T dS,  dX = dS W^T,  dh0 = dh

How uneven lengths are handled (every recurrent layer)
------------------------------------------------------
The batch is never permuted. The states are kept in the order of :attr:`Padded.order` (longest first),
so at step t the real rows are the prefix ``[:k_t]`` of the sorted states, ``k_t = #{b : L_b > t}``; the
inputs and outputs stay in batch order and each sorted row reads and writes its own column through the
index. Padded rows are never computed and receive exactly zero gradient; no masks are multiplied. The
carried state over padding is never materialised: ``h_last`` is gathered from each row's last real step,
and dL/dh_last enters the backward pass there. Reading backwards (``reverse=True``, for
:class:`~nertag.net.bidirectional.Bidirectional`) changes only the position row i visits at step t,
``L_i - 1 - t`` instead of t; nothing is reversed by copying.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import init
from .layer import Layer
from .padded import Padded, as_padded
from .recurrent_numpy import step_rows
from .workspace import Workspace

# backprop(dY, dh_last=None) -> (dX, dh0); dY may be None when only the final states are used.
RecurrentBackprop = Callable[..., "tuple[np.ndarray, np.ndarray]"]
# scan_back(dY, dh) -> (dX, dh): dh (B, H) holds dL/dh_last in sorted row order on entry, dL/dh0 on return.
ScanBackprop = Callable[[np.ndarray | None, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


class Recurrent(Layer):
    """Base of the recurrent layers: input checks, the batch layout and the ``run`` / ``forward`` API.

    Subclasses implement :meth:`_scan`, the recurrence over states kept in :attr:`Padded.order`.

    Parameters
    ----------
    n_in, n_hidden : int
        Input size D and state size H.
    """

    def __init__(self, n_in: int, n_hidden: int):
        super().__init__()
        self.n_in, self.n_hidden = int(n_in), int(n_hidden)
        self._workspace = Workspace()                              # outputs and scratch reused across calls

    @property
    def n_out(self) -> int:
        return self.n_hidden

    # 62 lines, half of them the docstring: the one run of every recurrent layer, kept whole so checks,
    # output, final states and the backprop wrapper read in order.
    def run(self, X, lengths=None, h0=None, *, reverse: bool = False, out=None, grad: bool = True,
            outputs: bool = True) -> tuple[np.ndarray | None, np.ndarray, RecurrentBackprop]:
        """Run the recurrence over a padded batch, returning outputs, final states and a backprop.

        Parameters
        ----------
        X : ndarray, shape (T, B, D)
        lengths : Padded, or ndarray of int, shape (B,), optional
            Real length of each sequence, in 1..T; all T when omitted.
        h0 : ndarray, shape (B, H), optional
            Initial state; zeros when omitted. No state is ever carried between calls.
        reverse : bool
            Read each sequence from its last real position down to position 0; ``Y[t]`` is still the output
            at position t, and ``h_last`` the state after position 0.
        out : ndarray, shape (T, B, H), optional
            Where to write ``Y`` (e.g. one half of a wider output); its last axis must be contiguous.
        grad : bool
            False: prediction only; layers may keep no caches for backward, and ``backprop`` raises.
        outputs : bool
            False: only the final states are wanted (e.g. a word summary from its characters): no ``Y`` is
            written and None is returned for it.

        Returns
        -------
        Y : ndarray, shape (T, B, H), or None
            States at real positions, exactly 0 at padding.
        h_last : ndarray, shape (B, H)
            The state at each sequence's own last real step (its first, when ``reverse``).
        backprop : callable ``backprop(dY, dh_last=None) -> (dX, dh0)``
            ``dY`` (T, B, H) or None (no gradient on the outputs), ``dh_last`` (B, H) or None. Accumulates
            parameter gradients into ``self.g`` and returns dL/dX (T, B, D), 0 at padding, and dL/dh0 (B, H).
            Entries of ``dY`` at padding are ignored.
        """
        X, padded, h0 = self._check_inputs(X, lengths, h0)
        dtype = self.p["W"].dtype
        T, B, _ = X.shape
        H = self.n_hidden
        if not outputs:
            Y = None
        elif out is None:
            Y = self._workspace.take((T, B, H), dtype)
        else:
            Y = out
            if Y.shape != (T, B, H) or Y.dtype != dtype or (Y.size and Y.strides[2] != Y.itemsize):
                raise ValueError(f"out must be a ({T}, {B}, {H}) {dtype} array with a contiguous last axis")
        S, scan_back = self._scan(X, padded, h0, bool(reverse), Y, grad)    # S[t + 1] = h_t, sorted rows
        order = padded.order
        h_last = np.empty((B, H), dtype)                               # (B, H)
        h_last[order] = S[padded.sorted_lengths, np.arange(B)]

        def backprop(dY, dh_last=None):
            if not grad:
                raise RuntimeError(f"this {type(self).__name__} run was for prediction (grad=False): "
                                   f"nothing kept for backward")
            if dY is not None:
                dY = np.asarray(dY, dtype=dtype)
                if dY.shape != (T, B, H):
                    raise ValueError(f"dY must have shape ({T}, {B}, {H}), got {dY.shape}")
                if dY.size and dY.strides[2] != dY.itemsize:
                    dY = np.ascontiguousarray(dY)
            dh = np.zeros((B, H), dtype) if dh_last is None else np.asarray(dh_last, dtype)[order]  # (B, H)
            dX, dh = scan_back(dY, dh)
            dh0 = np.empty((B, H), dtype)
            dh0[order] = dh
            return dX, dh0

        return Y, h_last, backprop

    def final_states_of_ids(self, ids, table, padded: Padded, reverse: bool = False) -> np.ndarray:
        """Prediction only: ``h_last`` (B, H) when the input at each position is the row ``table[ids]``
        (``ids`` (T, B) int, ``table`` (V, D)); layers may compute it without gathering the inputs."""
        return self.run(np.asarray(table)[ids], padded, reverse=reverse, grad=False, outputs=False)[1]

    def _final_states_by_lookup(self, ids, table, padded, scan) -> np.ndarray:
        """``final_states_of_ids`` for a layer whose compiled scan reads its input products from a table:
        ``scan(P, ids, padded, S, none)`` runs it with ``P = table W`` (V, gates * H), ``ids`` (T, B) int64,
        ``S`` (T_real + 1, B, H) holding zero initial states, and ``none`` (T, B, 0) standing for the
        inputs. ``padded`` may be lengths too."""
        W = self.p["W"]
        dtype = W.dtype
        T, B = ids.shape
        padded = as_padded(padded, T, B)
        projected = np.asarray(table, dtype) @ W                       # (V, gates * H)
        S = self._workspace.take((padded.T_real + 1, B, self.n_hidden), dtype)   # S[t + 1] = h_t, sorted rows
        S[0] = 0
        none = self._workspace.take((T, B, 0), dtype)                  # no inputs: rows of P stand for them
        scan(projected, np.ascontiguousarray(ids, dtype=np.int64), padded, S, none)
        h_last = np.empty((B, self.n_hidden), dtype)
        h_last[padded.order] = S[padded.sorted_lengths, np.arange(B)]
        return h_last

    def _check_inputs(self, X, lengths, h0) -> tuple[np.ndarray, Padded, np.ndarray | None]:
        """``X`` (T, B, D) in the parameters' dtype, the batch layout, and ``h0`` (B, H) or None."""
        dtype = self.p["W"].dtype
        X = np.asarray(X, dtype=dtype)
        if X.ndim != 3 or X.shape[2] != self.n_in:
            raise ValueError(f"{type(self).__name__} expects inputs of shape (T, B, {self.n_in}), got {X.shape}")
        T, B, _ = X.shape
        padded = as_padded(lengths, T, B)
        if h0 is not None:
            h0 = np.asarray(h0, dtype=dtype)
            if h0.shape != (B, self.n_hidden):
                raise ValueError(f"h0 must have shape ({B}, {self.n_hidden}), got {h0.shape}")
        return X, padded, h0

    def forward(self, X, lengths=None, rng=None, h0=None):
        """The layer contract: ``(Y, backprop)`` with ``backprop(dY) -> dX``; see :meth:`run` for dh0."""
        Y, _, backprop = self.run(X, lengths, h0)
        return Y, lambda dY: backprop(dY)[0]

    def _input_gradient(self, dZ: np.ndarray, W: np.ndarray, rows: np.ndarray, T: int, B: int) -> np.ndarray:
        """``dX (T, B, D)`` of the packed gradients ``dZ (N, k)`` of the input products ``Z = X W`` at the real
        positions ``rows`` of a (T * B) reshape; 0 at padding (memory from the workspace)."""
        N, D = dZ.shape[0], W.shape[0]
        dXp = np.matmul(dZ, W.T, out=self._workspace.take((N, D), dZ.dtype))   # (N, D)
        dX = self._workspace.take((T * B, D), dZ.dtype)                       # (T*B, D)
        if N < T * B:
            dX[...] = 0
        dX[rows] = dXp
        return dX.reshape(T, B, D)

    def _scan(self, X: np.ndarray, padded: Padded, h0: np.ndarray | None, reverse: bool, Y: np.ndarray | None,
              grad: bool) -> tuple[np.ndarray, ScanBackprop]:
        """The recurrence over the batch, states in :attr:`Padded.order`.

        Writes ``Y`` (T, B, H) in batch order, 0 at padding (nothing when ``Y`` is None). Returns the states
        ``S`` (T_real + 1, B, H) in sorted row order (``S[0]`` the initial states, ``S[t + 1] = h_t``) and
        ``scan_back(dY, dh) -> (dX, dh)``, which accumulates the parameter gradients.
        """
        raise NotImplementedError


class RNN(Recurrent):
    """Elman RNN with a tanh state over padded batches, ``h_t = tanh(x_t W + b + h_{t-1} U)``.

    Parameters
    ----------
    n_in, n_hidden : int
        Input size D and state size H.

    Notes
    -----
    Parameters: ``W (D, H)`` Glorot uniform, ``U (H, H)`` orthogonal, ``b (H,)`` zeros, no decay;
    ``D*H + H*H + H`` in all. The equations and backward steps are in the module docstring.
    Use :meth:`run` for the final states and the gradient w.r.t. the initial state.
    This layer is the NumPy reference of the recurrent contract; the GRU is the fast one.
    """

    def __init__(self, n_in: int, n_hidden: int):
        super().__init__(n_in, n_hidden)
        H = self.n_hidden
        self.param("W", (self.n_in, H), init.glorot_uniform)
        self.param("U", (H, H), init.orthogonal)
        self.param("b", (H,), init.zeros, decay=False)

    def _scan(self, X, padded, h0, reverse, Y, grad):
        W, U, b = self.p["W"], self.p["U"], self.p["b"]
        T, B, D = X.shape
        H = self.n_hidden
        order, lengths, T_real = padded.order, padded.sorted_lengths, padded.T_real
        steps = [step_rows(lengths, order, reverse, t) for t in range(T_real)]   # (k, cols, positions)
        X2 = X.reshape(T * B, D)
        A = (X2 @ W + b).reshape(T, B, H)                            # (T, B, H)  a_t, batch order
        S = np.zeros((T_real + 1, B, H), W.dtype)                    # S[t + 1] = h_t, sorted rows
        if h0 is not None:
            S[0] = h0[order]
        if Y is not None:
            Y[...] = 0
        for t, (k, cols, pos) in enumerate(steps):
            h = S[t + 1, :k]                                          # (k, H) view, written in place
            np.dot(S[t, :k], U, out=h)
            h += A[pos, cols]
            np.tanh(h, out=h)
            if Y is not None:
                Y[pos, cols] = h

        def scan_back(dY, dh):
            dS = np.zeros((T_real, B, H), W.dtype)                   # (T_real, B, H)  ds_t, sorted rows
            dA = np.zeros((T, B, H), W.dtype)                        # (T, B, H)  ds_t, batch order
            UT = np.ascontiguousarray(U.T)                           # (H, H)  faster GEMM than the view
            for t in range(T_real - 1, -1, -1):
                k, cols, pos = steps[t]
                ds, h = dS[t, :k], S[t + 1, :k]
                if dY is None:
                    ds[...] = dh[:k]
                else:
                    np.add(dh[:k], dY[pos, cols], out=ds)             # 1. dh += dy_t
                ds *= 1.0 - h * h                                     # 2. through the tanh
                np.dot(ds, UT, out=dh[:k])                           # 3. to h_{t-1}
                dA[pos, cols] = ds
            dA2 = dA.reshape(T * B, H)
            self.g["W"] += X2.T @ dA2                                 # 4. one GEMM each over all rows
            self.g["b"] += dA2.sum(axis=0)
            self.g["U"] += S[:-1].reshape(T_real * B, H).T @ dS.reshape(T_real * B, H)
            return (dA2 @ W.T).reshape(T, B, D), dh

        return S, scan_back
