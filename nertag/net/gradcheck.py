"""Gradient checking by central differences, for anyone writing a layer.

Use float64 parameters and inputs: in float32 the finite-difference error swamps the comparison.

Example
-------
>>> layer = Dense(4, 3, "tanh")
>>> errors = check_layer(layer, np.random.default_rng(0).normal(size=(5, 2, 4)))
>>> assert max(errors.values()) < 1e-6
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .layer import Layer, OutputLayer
from .padded import sequence_mask
from .params import ParamBuffer


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6, indices=None) -> np.ndarray:
    """Central differences of ``f()`` with respect to the array ``x``, perturbed in place.

    Parameters
    ----------
    f : callable
        Recomputes the scalar from the current contents of ``x``.
    x : ndarray
        Perturbed entry by entry and restored afterwards.
    indices : array of int, optional
        Flat indices to check; all entries by default. Others are left 0 in the result.
    """
    flat = x.reshape(-1)
    assert x.size == 0 or np.shares_memory(flat, x), "x must be contiguous so it can be perturbed in place"
    grad = np.zeros(flat.shape, dtype=np.float64)
    for i in range(flat.size) if indices is None else indices:
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad.reshape(x.shape)


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = 1e-6) -> float:
    """max |a - n| / max(|a| + |n|, floor): relative where gradients are large, absolute near zero."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient shapes differ: analytic {analytic.shape}, numeric {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)))


def _sample(n: int, max_checks: int | None, seed: int):
    if max_checks is None or n <= max_checks:
        return None
    return np.random.default_rng(seed).choice(n, size=max_checks, replace=False)


def check_param_grads(loss_and_backward: Callable[[], float], buffer: ParamBuffer, eps: float = 1e-6,
                      max_checks: int | None = None, seed: int = 0) -> float:
    """Compare analytic parameter gradients with central differences over the flat buffer.

    ``loss_and_backward()`` must run forward and backward once, accumulating into ``buffer.grad``, and
    return the loss. Returns the relative error (see :func:`relative_error`).
    """
    buffer.zero_grad()
    loss_and_backward()
    analytic = buffer.grad.copy()
    indices = _sample(buffer.data.size, max_checks, seed)

    def loss_only() -> float:
        buffer.zero_grad()
        return loss_and_backward()

    numeric = numerical_gradient(loss_only, buffer.data, eps, indices)
    if indices is not None:
        analytic, numeric = analytic[indices], numeric[indices]
    buffer.zero_grad()
    return relative_error(analytic, numeric)


def _float64_buffer(layer: Layer, buffer: ParamBuffer | None) -> ParamBuffer:
    buffer = buffer if buffer is not None else ParamBuffer(layer, np.float64, seed=0)
    if buffer.data.dtype != np.float64:
        raise ValueError("gradient checks need float64 parameters")
    return buffer


def check_layer(layer: Layer, X: np.ndarray, lengths=None, *, buffer: ParamBuffer | None = None,
                eps: float = 1e-6, max_checks: int | None = None, noise_seed: int | None = None,
                seed: int = 0) -> dict[str, float]:
    """Gradient-check a layer w.r.t. its parameters and (float) inputs.

    The scalar checked is ``L = sum(R * Y)`` for a fixed random ``R`` zeroed at padding, so
    ``dL/dY = R``. ``noise_seed`` runs forward in training mode with a generator re-seeded on every
    call, so dropout masks stay fixed while the check perturbs entries.
    Returns ``{"params": error, "inputs": error}`` (inputs omitted for integer inputs).
    """
    buffer = _float64_buffer(layer, buffer)

    def run():
        rng = None if noise_seed is None else np.random.default_rng(noise_seed)
        return layer.forward(X, lengths, rng)

    Y, _ = run()
    R = np.random.default_rng(seed).normal(size=Y.shape)
    if lengths is not None:
        R *= sequence_mask(lengths, Y.shape[0]).reshape(Y.shape[:2] + (1,) * (Y.ndim - 2))

    def loss_and_backward() -> float:
        Y, backprop = run()
        backprop(R.copy())
        return float(np.sum(R * Y))

    errors = {"params": check_param_grads(loss_and_backward, buffer, eps, max_checks, seed)}
    if np.issubdtype(np.asarray(X).dtype, np.floating):
        Y, backprop = run()
        analytic = backprop(R.copy())
        buffer.zero_grad()
        numeric = numerical_gradient(lambda: float(np.sum(R * run()[0])), X, eps, _sample(X.size, max_checks, seed))
        if max_checks is not None and X.size > max_checks:
            keep = numeric.reshape(-1) != 0
            analytic, numeric = analytic.reshape(-1)[keep], numeric.reshape(-1)[keep]
        errors["inputs"] = relative_error(analytic, numeric)
    return errors


def check_loss(layer: OutputLayer, X: np.ndarray, target: np.ndarray, lengths=None, *,
               buffer: ParamBuffer | None = None, eps: float = 1e-6) -> dict[str, float]:
    """Gradient-check an output layer's loss w.r.t. its parameters (if any) and its input scores."""
    buffer = _float64_buffer(layer, buffer)
    errors = {}
    if len(buffer):
        errors["params"] = check_param_grads(lambda: layer.loss(X, target, lengths)[0], buffer, eps)
    buffer.zero_grad()
    _, analytic = layer.loss(X, target, lengths)
    buffer.zero_grad()
    numeric = numerical_gradient(lambda: layer.loss(X, target, lengths)[0], X, eps)
    buffer.zero_grad()
    errors["inputs"] = relative_error(analytic, numeric)
    return errors
