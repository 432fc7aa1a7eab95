"""nertag.net: a small layer framework with one flat parameter buffer and analytic gradients."""
from .bidirectional import Bidirectional
from .conv import Conv1D, MaxOverTime
from .crf import CRF, Constraints, NonFiniteScores
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .fit import FitResult, fit
from .gru import GRU
from .layer import Layer, OutputLayer
from .lstm import LSTM
from .losses import SoftmaxCrossEntropy, SquaredError
from .padded import Padded, sequence_mask
from .params import ParamBuffer
from .rnn import RNN, Recurrent
from .saving import load, save
from .sequential import Sequential

__all__ = [
    "CRF", "GRU", "LSTM", "RNN", "Bidirectional", "Constraints", "Dense", "Dropout", "Embedding", "Layer",
    "NonFiniteScores", "OutputLayer", "Padded", "ParamBuffer", "Recurrent", "Sequential", "SoftmaxCrossEntropy",
    "SquaredError", "sequence_mask",
    "Conv1D", "MaxOverTime", "FitResult", "fit", "load", "save",
]
