"""An MLP classifier trained with nertag.net.fit: three interleaved spirals, softmax cross-entropy.

    python examples/mlp_classifier.py --epochs 60

Prints the training loss falling, the held-out loss and accuracy every few epochs, and stops early when
the held-out accuracy stops improving (keeping the best parameters).
"""
from __future__ import annotations

import argparse

import numpy as np

from nertag.net import Dense, ParamBuffer, Sequential, SoftmaxCrossEntropy, fit
from nertag.net.optim import Adam
from nertag.net.schedules import OneCycle


def spirals(n_per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(3n, 2)`` on three noisy spiral arms and their arm ``(3n,)``."""
    radius = np.tile(np.linspace(0.05, 1.0, n_per_class), 3)
    label = np.repeat(np.arange(3), n_per_class)
    angle = 3.0 * np.pi * radius + label * 2.0 * np.pi / 3 + 0.2 * rng.normal(size=radius.size)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1), label


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(scores.argmax(axis=-1) == labels))


def main(argv=None, log=print):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    X, y = spirals(200, rng)
    Xv, yv = spirals(100, rng)
    net = Sequential(Dense(2, args.hidden, "tanh"), Dense(args.hidden, args.hidden, "relu"), Dense(args.hidden, 3))
    buffer = ParamBuffer(net, np.float32, seed=args.seed)
    steps_per_epoch = -(-len(X) // 32)
    optimizer = Adam(buffer, OneCycle(0.01, total=args.epochs * steps_per_epoch, warmup=steps_per_epoch * 3,
                                      momentum=(0.95, 0.85)))
    result = fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=optimizer, epochs=args.epochs, batch_size=32,
                 seed=args.seed, validation=(Xv, yv), metric=accuracy, monitor="val_metric", patience=15,
                 report_every=5 * steps_per_epoch, log=log)
    log(f"held-out accuracy {accuracy(net(Xv), yv):.3f} (best epoch {result.best_epoch})")
    return result


if __name__ == "__main__":
    main()
