"""A character-level language model trained with nertag.net.fit, on the first chapter of Pride and Prejudice.

    python examples/char_lm.py --epochs 20 [--cell lstm]

Embedding -> GRU (or LSTM) -> Dense scores over the characters, softmax cross-entropy against the next
character, on windows of the bundled text (examples/data/pride_and_prejudice_ch1.txt: Jane Austen, 1813,
public domain). Prints the loss per character falling, the held-out loss of the last tenth of the text
(stopping early, with the best parameters, once it has risen 3 epochs: a 4 KB text is soon learnt by heart),
and a sample drawn from the model's softmax.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nertag.net import GRU, LSTM, Dense, Embedding, ParamBuffer, Sequential, SoftmaxCrossEntropy, fit
from nertag.net.dense import softmax
from nertag.net.optim import Adam

TEXT = Path(__file__).parent / "data" / "pride_and_prejudice_ch1.txt"


def windows(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Time-major inputs and next-character targets ``(length, N)`` from non-overlapping windows."""
    n = (len(ids) - 1) // length
    X = ids[: n * length].reshape(n, length).T
    y = ids[1: n * length + 1].reshape(n, length).T
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


def sample(net: Sequential, alphabet: str, start: str, n: int, rng: np.random.Generator) -> str:
    """Draw ``n`` characters after ``start``, each from the softmax over the model's scores."""
    index = {c: i for i, c in enumerate(alphabet)}
    ids = [index[c] for c in start]
    for _ in range(n):
        # the whole prefix again each time: simple, and fast enough for a short sample
        scores = net(np.array(ids[-64:])[:, None])[-1, 0]                 # (V,)
        probs = softmax(scores.astype(np.float64))
        ids.append(int(rng.choice(len(alphabet), p=probs / probs.sum())))
    return "".join(alphabet[i] for i in ids)


def main(argv=None, log=print):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--window", type=int, default=48)
    parser.add_argument("--sample", type=int, default=200, help="characters to sample at the end (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    text = TEXT.read_text(encoding="utf-8")
    alphabet = "".join(sorted(set(text)))
    ids = np.array([alphabet.index(c) for c in text], dtype=np.int64)
    cut = int(0.9 * len(ids))
    X, y = windows(ids[:cut], args.window)
    Xv, yv = windows(ids[cut:], args.window)
    cell = GRU if args.cell == "gru" else LSTM
    net = Sequential(Embedding(len(alphabet), 32), cell(32, args.hidden), Dense(args.hidden, len(alphabet)))
    buffer = ParamBuffer(net, np.float32, seed=args.seed)
    optimizer = Adam(buffer, 0.005, clip_norm=5.0)
    # Losses are sums over the characters of a batch; fit divides by the windows in it, so the reported
    # losses below are per window: divided by the window length they are nats per character.
    result = fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=optimizer, epochs=args.epochs, batch_size=16,
                 batch_axis=1, seed=args.seed, validation=(Xv, yv), patience=3, report_every=10,
                 log=lambda line: log(f"{line}  (per window of {args.window} characters)"))
    for row in result.history:
        row["loss_per_char"] = row["loss"] / args.window
    log(f"last epoch: {result.history[-1]['loss_per_char']:.3f} nats per character "
        f"(uniform guess: {np.log(len(alphabet)):.3f})")
    if args.sample:
        log(sample(net, alphabet, "It is a truth", args.sample, np.random.default_rng(args.seed)))
    return result


if __name__ == "__main__":
    main()
