"""nertag.net: a small layer framework with one flat parameter buffer and analytic gradients."""
from .bidirectional import Bidirectional
from .conv import Conv1D, MaxOverTime
from .crf import CRF, Constraints, NonFiniteScores
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .gru import GRU
from .layer import Layer, OutputLayer
from .lstm import LSTM
from .losses import SoftmaxCrossEntropy, SquaredError
from .padded import Padded, sequence_mask
from .params import ParamBuffer
from .rnn import RNN, Recurrent
from .sequential import Sequential

__all__ = [
    "CRF", "GRU", "LSTM", "RNN", "Bidirectional", "Constraints", "Dense", "Dropout", "Embedding", "Layer",
    "NonFiniteScores", "OutputLayer", "Padded", "ParamBuffer", "Recurrent", "Sequential", "SoftmaxCrossEntropy",
    "SquaredError", "sequence_mask",
    "Conv1D", "MaxOverTime", "FitResult", "fit", "load", "save",
]

# Training and saving (with the optimisers and schedules) load on first use: tagging needs none of them,
# and they cost its start-up ~15 ms of imports.
_LAZY = {"FitResult": "fitting", "fit": "fitting", "load": "saving", "save": "saving"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
