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


# The training loop and saving load on first use: `nertag tag` needs neither (their optimisers and schedules
# cost ~20 ms of a one-sentence start-up).
_LAZY = {"fit": "fit", "FitResult": "fit", "save": "saving", "load": "saving"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
