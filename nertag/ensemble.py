"""Several trained models tagging as one: the product of their CRFs.

Each member reads the sentence with its own vocabularies and network and gives its emission scores
``E_m (T, B, K)``; the ensemble's CRF has the mean of the members' scores,

    score(y) = 1/M sum_m score_m(y)   =>   P(y | x)  proportional to  prod_m P_m(y | x) ^ (1/M),

the (renormalised) geometric mean of the members' distributions. That is again a linear-chain CRF, with
emissions ``mean_m E_m`` and transitions ``mean_m A_m`` (start and end likewise), so Viterbi decoding under
the scheme's constraints, span confidences, n-best lists and marginals are exact for the combination and
come from the same code as for one model. Averaging log-potentials (rather than marginals) keeps decoding
one Viterbi pass and needs no heuristic to turn averaged token marginals back into a valid tag sequence.

Members must predict the same tags (the same scheme and entity types, in any order); the ensemble uses
the tag order of the first.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import NertagError
from .net import CRF, ParamBuffer
from .tagger import Tagger


class Ensemble(Tagger):
    """Taggers of one tag set combined as the product of their CRFs (see the module docstring).

    Parameters
    ----------
    members : sequence of Tagger
        At least one; all must know the same tags. ``names`` (e.g. their directories) name them in errors.
    """

    def __init__(self, members: Sequence[Tagger], names: Sequence[str] | None = None):
        if not members:
            raise NertagError("an ensemble needs at least one model")
        names = list(names) if names is not None else [f"model {i + 1}" for i in range(len(members))]
        first = members[0]
        tags = first.tags.tokens
        self.members = list(members)
        self.orders = []                         # each member's tag ids in the first member's order
        for member, name in zip(members, names):
            if sorted(member.tags.tokens) != sorted(tags):
                raise NertagError(f"{name} predicts the tags {', '.join(member.tags.tokens)}, but {names[0]} "
                                  f"predicts {', '.join(tags)}: an ensemble needs models of one tag set")
            self.orders.append(np.array([member.tags.tokens.index(t) for t in tags], dtype=np.int64))
        self.config = first.config.replace(max_length=min(m.config.max_length for m in members))
        self.words, self.chars, self.tags = first.words, first.chars, first.tags
        self.meta = {**first.meta, "ensemble": list(names)}
        self.buffer = None                       # no weights of its own besides the CRF's below
        self.net = _EnsembleNet(self)

    @property
    def description(self):
        raise NertagError("an ensemble is several model directories, not one: it has no single description "
                          "(tag with --jobs where processes fork, i.e. on Linux, or with --jobs 1)")

    def _encode(self, sentences: Sequence[Sequence[str]]):
        return _EnsembleBatch([member._encode(sentences) for member in self.members])


class _EnsembleBatch:
    """The members' batches of the same sentences (each with its own vocabularies); the layout is shared."""

    def __init__(self, batches):
        self.batches = batches
        first = batches[0]
        self.padded, self.mask, self.lengths = first.padded, first.mask, first.lengths


class _EnsembleNet:
    """What `Tagger` asks of its network, for an ensemble: mean emissions and a CRF of mean transitions."""

    def __init__(self, ensemble: Ensemble):
        self.ensemble = ensemble
        first = ensemble.members[0].net.crf
        self.dtype = first.p["A"].dtype
        self.crf = CRF(first.n_tags, first.constraints, kernel=first.kernel)
        ParamBuffer(self.crf, self.dtype, initialise=False)
        for name in ("A", "start", "end"):
            total = np.zeros_like(self.crf.p[name], dtype=np.float64)
            for member, order in zip(ensemble.members, ensemble.orders):
                p = member.net.crf.p[name]
                total += p[np.ix_(order, order)] if name == "A" else p[order]
            self.crf.p[name][...] = total / len(ensemble.members)

    def emissions(self, batch: _EnsembleBatch, rng=None, words=None, *, grad: bool = False):
        if grad or rng is not None:
            raise NertagError("an ensemble only predicts; train its members one by one")
        total = None
        for member, order, member_batch in zip(self.ensemble.members, self.ensemble.orders, batch.batches):
            E, _ = member.net.emissions(member_batch, grad=False)          # (T, B, K) in the member's order
            E = E[:, :, order].astype(np.float64)
            total = E if total is None else total + E
        return (total / len(batch.batches)).astype(self.dtype), None

    def decode(self, batch: _EnsembleBatch):
        E, _ = self.emissions(batch)
        return self.crf.predict(E, batch.padded), E


def load_ensemble(model_dirs: Sequence) -> Tagger:
    """One model directory as a `Tagger`, several as an `Ensemble` of them."""
    if len(model_dirs) == 1:
        return Tagger.load(model_dirs[0])
    return Ensemble([Tagger.load(d) for d in model_dirs], [str(d) for d in model_dirs])
