"""An MLP regression trained with nertag.net.fit: y = sin(3x) + x/2 plus noise, squared error.

    python examples/mlp_regression.py --epochs 200

Full-batch or mini-batch (``--batch-size 0`` for full batch); the held-out loss is reported every epoch
it is evaluated, and the final root-mean-square error beside the noise level it cannot beat.
"""
from __future__ import annotations

import argparse

import numpy as np

from nertag.net import Dense, ParamBuffer, Sequential, SquaredError, fit
from nertag.net.optim import Adam
from nertag.net.schedules import ExponentialDecay

NOISE = 0.1


def curve(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-2, 2, size=(n, 1))
    return x, np.sin(3 * x) + 0.5 * x + NOISE * rng.normal(size=(n, 1))


def main(argv=None, log=print):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32, help="0 for full-batch training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    X, y = curve(400, rng)
    Xv, yv = curve(200, rng)
    net = Sequential(Dense(1, 32, "tanh"), Dense(32, 32, "tanh"), Dense(32, 1))
    buffer = ParamBuffer(net, np.float64, seed=args.seed)
    optimizer = Adam(buffer, ExponentialDecay(0.01, rate=0.5, every=2000), l2=1e-5)
    result = fit(net, SquaredError(), buffer, X, y, optimizer=optimizer, epochs=args.epochs,
                 batch_size=args.batch_size or None, seed=args.seed, validation=(Xv, yv), eval_every=10, log=log)
    rmse = float(np.sqrt(np.mean((net(Xv) - yv) ** 2)))
    log(f"held-out RMSE {rmse:.3f} (noise {NOISE})")
    return result


if __name__ == "__main__":
    main()
