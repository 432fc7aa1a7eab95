#!/usr/bin/env python3
"""PyTorch CPU reference of nertag's BiLSTM-CRF (``--cell lstm``, no character features): the speed baseline
of the LSTM setting of ``scripts/bench.py``. Runs with any Python that has torch and numpy; torch is never
a dependency of nertag.

Model: Embedding(V, E) -> nn.LSTM(E, H per direction, bidirectional, packed for uneven lengths) ->
Linear(2H, K) -> linear-chain CRF (start, end and transition scores; the negative log-likelihood by the
forward algorithm in log space; Viterbi decoding), batched; the only Python loops run over time steps.
The loss of a batch is the sum over its sentences, as nertag's. nn.LSTM keeps two bias vectors per
direction (b_ih, b_hh) where nertag keeps one: 4H parameters more, no difference in work per token.

Data: the synthetic CoNLL-2003-like corpus of ``scripts/bench.py`` (drawn by its own function, so both
sides see the same sentences) or a CoNLL file; with ``--bucket``, batches of similar length (sorted by length,
cut, batch order shuffled with the seed), each sorted longest first, as nertag's are.

Usage::

    python scripts/torch_bilstm_crf.py --selftest
    python scripts/torch_bilstm_crf.py train --batch 32 --threads 1 --bucket --sparse-emb --json
    python scripts/torch_bilstm_crf.py tag --batch 256 --threads 1 --bucket --min-seconds 3 --json

``--json`` prints one machine-readable result line (``tok_s``: real tokens per second).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import read_conll, synthetic_corpus  # noqa: E402  (stdlib-only at import; numpy inside)


# ----------------------------------------------------------------------------------------------- the CRF
class LinearChainCRF(nn.Module):
    """Scores of tag sequences: ``start[y_0] + sum_t E[t, y_t] + sum_t A[y_{t-1}, y_t] + end[y_{L-1}]``.

    Emissions are time-major ``(T, B, K)``; ``mask (T, B)`` is True at real positions (every sentence has
    at least one, so ``mask[0]`` is all True).
    """

    def __init__(self, K: int):
        super().__init__()
        self.transitions = nn.Parameter(torch.empty(K, K).uniform_(-0.1, 0.1))   # A[i, j]: i -> j
        self.start = nn.Parameter(torch.empty(K).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(K).uniform_(-0.1, 0.1))

    def log_partition(self, E, mask):
        """log Z (B,) by the forward algorithm; a padded step keeps alpha as it was."""
        alpha = self.start + E[0]                                              # (B, K)
        for t in range(1, E.shape[0]):
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1) + E[t]   # (B, K)
            alpha = torch.where(mask[t].unsqueeze(1), step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    def score(self, E, tags, mask, lengths):
        """The score (B,) of the tag sequences ``tags (T, B)``."""
        real = mask.to(E.dtype)
        emitted = (E.gather(2, tags.unsqueeze(2)).squeeze(2) * real).sum(0)
        moved = (self.transitions[tags[:-1], tags[1:]] * real[1:]).sum(0)
        last = tags.gather(0, (lengths - 1).unsqueeze(0)).squeeze(0)
        return emitted + moved + self.start[tags[0]] + self.end[last]

    def nll(self, E, tags, mask, lengths):
        """Negative log-likelihood of each sentence (B,)."""
        return self.log_partition(E, mask) - self.score(E, tags, mask, lengths)

    def viterbi(self, E, mask, lengths):
        """The best tag sequence of each sentence, ``(T, B)`` long (0 at padding), and its score (B,)."""
        T, B, _ = E.shape
        delta = self.start + E[0]                                              # (B, K)
        backpointers = []
        for t in range(1, T):
            best, arg = (delta.unsqueeze(2) + self.transitions).max(dim=1)    # over the previous tag
            backpointers.append(arg)
            delta = torch.where(mask[t].unsqueeze(1), best + E[t], delta)
        best_score, best_last = (delta + self.end).max(dim=1)
        path = torch.zeros(T, B, dtype=torch.long)
        last = lengths - 1
        tag = best_last
        for t in range(T - 1, 0, -1):               # sentence b joins the backtrace at its last position
            tag = torch.where(last == t, best_last, tag)
            real = last >= t
            path[t] = torch.where(real, tag, 0)
            tag = torch.where(real, backpointers[t - 1].gather(1, tag.unsqueeze(1)).squeeze(1), tag)
        path[0] = torch.where(last == 0, best_last, tag)
        return path, best_score


# --------------------------------------------------------------------------------------------- the model
class BiLSTMCRF(nn.Module):
    def __init__(self, V: int, E: int, H: int, K: int, sparse_emb: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(V, E, padding_idx=0, sparse=sparse_emb)
        self.lstm = nn.LSTM(E, H, bidirectional=True)                        # time-major
        self.dense = nn.Linear(2 * H, K)
        self.crf = LinearChainCRF(K)

    def emissions(self, words, lengths, full):
        """``words (T, B)`` long, ``lengths (B,)`` sorted longest first; ``full``: no padding (no packing)."""
        x = self.embedding(words)                                              # (T, B, E)
        if full:
            h, _ = self.lstm(x)
        else:
            h, _ = self.lstm(pack_padded_sequence(x, lengths, enforce_sorted=True))
            h, _ = pad_packed_sequence(h, total_length=words.shape[0])
        return self.dense(h)                                                   # (T, B, K)

    def loss(self, batch):
        words, tags, lengths, mask, full = batch
        return self.crf.nll(self.emissions(words, lengths, full), tags, mask, lengths).sum()

    def decode(self, batch):
        words, _, lengths, mask, full = batch
        return self.crf.viterbi(self.emissions(words, lengths, full), mask, lengths)[0]


# ---------------------------------------------------------------------------------------------- batches
def padded_batches(sents, batch_size: int, bucket: bool, seed: int):
    """Time-major padded tensors, built before timing. ``bucket``: sorted by length, cut, batch order
    shuffled (the generator calls of ``scripts/bench.py``'s batches); otherwise a random order."""
    rng = np.random.default_rng(seed + 1)
    lens = np.array([len(w) for w, _ in sents])
    order = np.argsort(lens, kind="stable") if bucket else rng.permutation(len(sents))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if bucket:
        rng.shuffle(chunks)
    batches = []
    for chunk in chunks:
        chunk = sorted(chunk, key=lambda i: -lens[i])
        lengths = torch.tensor(lens[chunk], dtype=torch.long)
        T = int(lengths[0])
        words = torch.zeros(T, len(chunk), dtype=torch.long)
        tags = torch.zeros(T, len(chunk), dtype=torch.long)
        for b, i in enumerate(chunk):
            words[: lens[i], b] = torch.from_numpy(sents[i][0])
            tags[: lens[i], b] = torch.from_numpy(sents[i][1])
        mask = torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)            # (T, B)
        batches.append((words, tags, lengths, mask, bool(lengths.min() == T)))
    return batches


# -------------------------------------------------------------------------------------------- measuring
def train_epoch(model, batches, lr: float) -> float:
    """Seconds of one epoch of plain SGD after one untimed warm-up step."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()

    def step(batch):
        opt.zero_grad(set_to_none=True)
        model.loss(batch).backward()
        opt.step()

    step(batches[0])
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    return time.perf_counter() - start


def tag_passes(model, batches, min_seconds: float) -> tuple[float, int]:
    """Seconds and passes of decoding all batches, repeated for at least ``min_seconds``."""
    model.eval()
    with torch.inference_mode():
        model.decode(batches[0])
        passes, start = 0, time.perf_counter()
        while True:
            for batch in batches:
                model.decode(batch)
            passes += 1
            if time.perf_counter() - start >= min_seconds:
                return time.perf_counter() - start, passes


def benchmark(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.conll:
        sents, V, K = read_conll(args.conll)
    else:
        V, K = args.vocab, args.tags
        sents = synthetic_corpus(args.n, V, K, args.seed)
    batches = padded_batches(sents, args.batch, args.bucket, args.seed)
    tokens = sum(len(w) for w, _ in sents)
    torch.manual_seed(args.seed)
    model = BiLSTMCRF(V, args.emb, args.hidden, K, args.sparse_emb)
    if args.mode == "train":
        seconds, passes = train_epoch(model, batches, args.lr), 1
    else:
        seconds, passes = tag_passes(model, batches, args.min_seconds)
    result = dict(mode=args.mode, batch=args.batch, threads=torch.get_num_threads(), bucket=args.bucket,
                  sparse_emb=args.sparse_emb, sentences=len(sents), tokens=tokens, V=V, E=args.emb,
                  H=args.hidden, K=K, torch=torch.__version__, seconds=seconds, passes=passes,
                  tok_s=tokens * passes / seconds)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.mode} B={args.batch} threads={result['threads']}: {result['tok_s']:,.0f} tokens/s "
              f"({len(sents)} sentences, {tokens} tokens, {passes} pass(es) in {seconds:.2f} s)")


# --------------------------------------------------------------------------------------------- selftest
def enumerate_paths(crf, E, L):
    """log Z, the best path and its score of one sentence ``E (L, K)``, over all K^L tag sequences."""
    K = E.shape[1]
    scores = {}
    for y in itertools.product(range(K), repeat=L):
        s = crf.start[y[0]] + crf.end[y[-1]] + sum(E[t, y[t]] for t in range(L))
        scores[y] = float(s + sum(crf.transitions[y[t - 1], y[t]] for t in range(1, L)))
    best = max(scores, key=scores.get)
    return math.log(sum(math.exp(v) for v in scores.values())), list(best), scores[best]


def selftest() -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        for K, lengths in [(2, [1]), (3, [4, 2, 1]), (4, [5, 5, 3, 2])]:
            crf = LinearChainCRF(K).double()
            for p in crf.parameters():
                p.normal_()
            L = torch.tensor(lengths)
            T = max(lengths)
            mask = torch.arange(T).unsqueeze(1) < L.unsqueeze(0)
            E = torch.randn(T, len(lengths), K, dtype=torch.double)
            E[~mask] = 1e3                                        # padding must not count
            log_z = crf.log_partition(E, mask)
            path, best = crf.viterbi(E, mask, L)
            tags = torch.randint(0, K, (T, len(lengths)))
            score = crf.score(E, tags, mask, L)
            for b, n in enumerate(lengths):
                z_ref, path_ref, best_ref = enumerate_paths(crf, E[:n, b], n)
                y = tags[:n, b].tolist()
                s_ref = (crf.start[y[0]] + crf.end[y[-1]] + sum(E[t, b, y[t]] for t in range(n))
                         + sum(crf.transitions[y[t - 1], y[t]] for t in range(1, n)))
                assert abs(float(log_z[b]) - z_ref) < 1e-9, ("log Z", K, b)
                assert path[:n, b].tolist() == path_ref and not path[n:, b].any(), ("Viterbi", K, b)
                assert abs(float(best[b]) - best_ref) < 1e-9 and abs(float(score[b]) - float(s_ref)) < 1e-9
            print(f"  CRF K={K} lengths={lengths}: log Z, Viterbi and path scores equal enumeration")
    model = BiLSTMCRF(50, 8, 6, 5).eval()
    sents = [(np.random.randint(1, 50, n), np.random.randint(0, 5, n)) for n in (7, 4, 4, 1)]
    words, _, lengths, _, full = padded_batches(sents, 4, False, 0)[0]
    with torch.no_grad():
        E = model.emissions(words, lengths, full)
        for b in range(4):
            n = int(lengths[b])
            alone = model.emissions(words[:n, b: b + 1], lengths[b: b + 1], True)
            assert torch.allclose(E[:n, b], alone[:, 0], atol=1e-5), "packed batch != sentence alone"
    print("  packed padded batch: each sentence's emissions equal its own run")
    print("selftest OK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", choices=["train", "tag"], default="train")
    ap.add_argument("--selftest", action="store_true", help="check the CRF by enumeration and the packing")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--batch", "-B", type=int, default=32)
    ap.add_argument("--n", type=int, default=2000, help="synthetic sentences")
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("--tags", type=int, default=17)
    ap.add_argument("--conll", help="a CoNLL file instead of the synthetic corpus")
    ap.add_argument("--bucket", action="store_true", help="batches of sentences of similar length")
    ap.add_argument("--emb", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=100, help="LSTM units per direction")
    ap.add_argument("--lr", type=float, default=0.01, help="plain SGD")
    ap.add_argument("--sparse-emb", action="store_true", help="sparse embedding gradients (faster SGD)")
    ap.add_argument("--min-seconds", type=float, default=3.0, help="tag: timed seconds at least")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON result line")
    args = ap.parse_args()
    torch.set_num_interop_threads(1)                  # before any parallel work
    if args.selftest:
        selftest()
    else:
        benchmark(args)


if __name__ == "__main__":
    main()
