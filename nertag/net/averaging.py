"""An exponential moving average of all parameters, for evaluating and saving a smoothed model.

Notation
--------
x_n      the parameters after optimiser step n (0-based);  a_n the average after update n
d_n      ``min(decay, (1 + n) / (10 + n))``: the warm-up keeps the first updates, when the average still
         holds the initial weights, from being dominated by them
a_{n+1} = a_n + (1 - d_n) (x_n - a_n)   i.e.   a_{n+1} - x_n = d_n (a_n - x_n)

Small-batch training ends anywhere in the noise around a good solution; the average sits nearer its middle
(Polyak & Juditsky 1992).

Dense parameters are averaged at every update, over their whole slice of the buffer. A row of a sparse table
(an embedding) changes only at the steps whose batch touched it (``ParamBuffer.grad_rows``, which every
optimiser here follows), and while x stays put the update above is a product of decays: a row last caught up
at update m holds, at update n, ``a = x + (a_m - x) * d_m d_{m+1} .. d_{n-1}``. So an update touches only the
rows the step touched: it first catches them up in that closed form, with the value they held until this
step, then applies its own decay with the new value. The products come from running sums of ``log d``.
Reading the average (:meth:`swapped`, :attr:`average`, :meth:`state_dict`) catches up the other rows in a
copy; the lazy state itself is never rounded differently by being read, so a resumed run is bit-identical.

:meth:`swapped` puts the average into the buffer for a while (dev evaluation, saving the model) and the
trained values back afterwards, bit for bit.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .kernels import select
from .params import ParamBuffer


class ParameterAverage:
    """Exponential moving average of ``buffer.data``, lazy on the rows of sparse tables.

    Parameters
    ----------
    buffer : ParamBuffer
    decay : float in (0, 1)
        Weight of the old average at each update (0.999 averages over roughly the last 1000 steps).
    kernel : {"cython", "numpy"}
        The dense update through ``_optim.ema_update`` or its NumPy twin (the same bits).

    Notes
    -----
    Equals the eager average of every entry at every update to rounding, provided sparse rows change only
    where ``buffer.grad_rows`` marks them when :meth:`update` runs (after the optimiser step, before the next
    ``zero_grad``).
    """

    def __init__(self, buffer: ParamBuffer, decay: float, *, kernel: str = "cython"):
        if not 0 < decay < 1:
            raise ValueError(f"the averaging decay must be in (0, 1), got {decay}")
        self.buffer, self.decay = buffer, decay
        self._kernels = select("optim", kernel)                   # ema_update: the dense part in one pass
        self.n = 0  # updates so far
        self._nd = nd = buffer.n_dense
        self._average = buffer.data.copy()                        # sparse rows: as of their last catch-up
        self._held = buffer.data[nd:].copy()                      # (n_sparse,) sparse values at that catch-up
        self._since = np.zeros(buffer.grad_rows.size, np.int64)   # per sparse row: the update it is caught up to
        self._log_decay = np.zeros(1024)                          # [n]: log(d_0 .. d_{n-1}) summed, float64
        self._scratch = np.empty_like(buffer.data)
        # per sparse table: its rows in _since, its slice of the sparse part, its row width
        self._tables = []
        start, offset = 0, nd
        for b in buffer.sparse:
            rows, width = b.spec.shape[0], b.spec.size // b.spec.shape[0]
            self._tables.append((b, slice(start, start + rows), slice(offset - nd, offset - nd + b.spec.size),
                                 width))
            start += rows
            offset += b.spec.size

    def _d(self, n: int) -> float:
        return min(self.decay, (1 + n) / (10 + n))

    def _extend_log_decay(self) -> None:
        """Make room for the running sum at ``self.n + 1``; its value there is set by :meth:`update`."""
        if self.n + 1 >= self._log_decay.size:
            grown = np.zeros(2 * self._log_decay.size)
            grown[: self._log_decay.size] = self._log_decay
            self._log_decay = grown

    def update(self) -> None:
        """Average in the parameters after one optimiser step: dense ones all, sparse rows where touched."""
        n, nd, d = self.n, self._nd, self._d(self.n)
        data = self.buffer.data
        self._kernels.ema_update(self._average[:nd], data[:nd], 1 - d)    # a += (x - a) (1 - d), one pass
        log_now = self._log_decay[n]
        for b, row_slice, part, width in self._tables:
            rows = self.buffer.touched_rows(b)
            if not rows.size:
                continue
            since = self._since[row_slice]
            avg = self._average[nd:][part].reshape(-1, width)          # (rows, width) views
            held = self._held[part].reshape(-1, width)
            x = data[nd:][part].reshape(-1, width)
            x_old, a = held[rows], avg[rows]                              # (k, width) copies
            stale = np.flatnonzero(since[rows] < n)                       # rows not caught up to this update
            if stale.size:                                                # catch up with the old value
                factor = np.exp(log_now - self._log_decay[since[rows[stale]]])   # d_m .. d_{n-1}
                a[stale] = x_old[stale] + (a[stale] - x_old[stale]) * factor.astype(a.dtype)[:, None]
            x_new = x[rows]
            np.subtract(x_new, a, out=x_old)                              # x_old: scratch from here on
            x_old *= 1 - d
            a += x_old                                                    # this update, with the new value
            avg[rows] = a
            held[rows] = x_new
            since[rows] = n + 1
        self._extend_log_decay()
        self._log_decay[n + 1] = log_now + math.log(d)
        self.n = n + 1

    def write_average(self, out: np.ndarray) -> None:
        """Write the current average of every entry into ``out`` (n,), catching up the rows not touched lately."""
        nd, n = self._nd, self.n
        np.copyto(out, self._average)
        log_now = self._log_decay[n]
        for _, row_slice, part, width in self._tables:
            since = self._since[row_slice]
            stale = np.flatnonzero(since < n)
            if not stale.size:
                continue
            held = self._held[part].reshape(-1, width)
            a = self._average[nd:][part].reshape(-1, width)[stale]        # (k, width)
            x = held[stale]
            a -= x
            a *= np.exp(log_now - self._log_decay[since[stale]]).astype(a.dtype)[:, None]
            a += x
            out[nd:][part].reshape(-1, width)[stale] = a

    @property
    def average(self) -> np.ndarray:
        """The current average of the whole buffer, as a new array."""
        out = np.empty_like(self._average)
        self.write_average(out)
        return out

    @contextlib.contextmanager
    def swapped(self):
        """The averaged parameters in the buffer inside the block, the trained ones again after it."""
        data = self.buffer.data
        np.copyto(self._scratch, data)
        self.write_average(data)
        try:
            yield
        finally:
            np.copyto(data, self._scratch)

    def state_dict(self) -> dict[str, np.ndarray]:
        """``average`` (the average itself) and ``n``; the lazy rows as kept, so that a resume is exact."""
        return {"average": self.average, "n": np.array(self.n, dtype=np.int64),
                "rows_average": self._average[self._nd:].copy(), "rows_since": self._since.copy()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; also an eager average's ``average`` and ``n`` alone (all caught up)."""
        keys = set(state)
        if keys not in ({"average", "n"}, {"average", "n", "rows_average", "rows_since"}):
            raise ValueError(f"expected the arrays ['average', 'n', 'rows_average', 'rows_since'], "
                             f"found {sorted(state)}")
        saved = np.asarray(state["average"])
        if saved.shape != self._average.shape:
            raise ValueError(f"the average has shape {saved.shape}, expected {self._average.shape}")
        n = int(state["n"])
        if "rows_since" in state:
            rows_average, since = np.asarray(state["rows_average"]), np.asarray(state["rows_since"])
            if rows_average.shape != self._held.shape or since.shape != self._since.shape:
                raise ValueError(f"the lazy rows have shapes {rows_average.shape} and {since.shape}, expected "
                                 f"{self._held.shape} and {self._since.shape}")
            if since.size and (since.min() < 0 or since.max() > n):
                raise ValueError(f"the lazy rows are caught up to updates {since.min()}..{since.max()}, "
                                 f"beyond 0..{n}")
        else:
            rows_average, since = saved[self._nd:], np.full(self._since.shape, n)
        self._average[...] = saved
        self._average[self._nd:] = rows_average
        self._since[...] = since
        self._held[...] = self.buffer.data[self._nd:]             # the parameters are restored first
        self.n = 0
        self._log_decay[:] = 0
        for _ in range(n):                                        # the same sums, added in the same order
            self._extend_log_decay()
            self._log_decay[self.n + 1] = self._log_decay[self.n] + math.log(self._d(self.n))
            self.n += 1
