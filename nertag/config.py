"""The tagger's configuration: one frozen dataclass, saved as ``config.json`` beside the weights."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import NertagError


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
_TYPE_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class Config:
    # --- model: word embedding + char-BiGRU summary -> dropout -> BiGRU -> dense -> CRF
    word_dim: int = 100           # word embedding size (taken from the embeddings file when one is given)
    char_dim: int = 25            # character embedding size; 0 disables character features
    char_hidden: int = 25         # char GRU units per direction (Lample et al. 2016 use 25 + 25)
    hidden: int = 100             # sentence GRU units per direction
    dropout: float = 0.5          # before and after the sentence BiGRU
    # --- data
    scheme: str = "BIOES"         # tag scheme the CRF learns; output goes back to the input's scheme
    lowercase: bool = False       # lowercase words before lookup (case is still seen by the char GRU)
    normalise_digits: bool = True  # digits -> 0 for word lookup
    embeddings_vocab: str = "data"  # words given pretrained vectors: "data" (train + dev) or "all" of the file
    freeze_words: bool = False    # keep word vectors as initialised (pretrained ones as loaded); see README
    min_count: int = 1            # words seen fewer times map to <unk> (unless in the embeddings)
    singleton_unk: float = 0.5    # probability of replacing a training singleton by <unk> (Lample et al.)
    max_length: int = 1000        # longer sentences are an error, not a silent truncation
    # --- training
    optimizer: str = "adam"       # sgd | momentum | nesterov | adagrad | rmsprop | adam (best on CoNLL-2003 dev)
    lr: float = 0.001             # initial learning rate
    momentum: float = 0.9         # for momentum / nesterov
    lr_decay: float = 0.05        # inverse-time decay per epoch: lr / (1 + lr_decay * epoch)
    clip: float = 5.0             # global gradient-norm clipping (0 disables)
    weight_decay: float = 0.0     # decoupled weight decay on weights (not biases, not embeddings)
    ema_decay: float = 0.0        # evaluate and save a moving average of the parameters (0: the trained ones)
    batch_size: int = 10
    epochs: int = 50
    patience: int = 8             # stop after this many epochs without a better dev F1
    seed: int = 1
    dtype: str = "float32"        # float32 | float64
    constrained: bool = True      # forbid transitions the tag scheme makes impossible when decoding

    def __post_init__(self):
        problems = []
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), _TYPES[f.type]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))  # JSON writes 1.0 as 1 in some tools
            elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                problems.append(f"{f.name} must be {_TYPE_NAMES[kind]}, got {value!r}")
        if problems:
            raise NertagError("bad configuration: " + "; ".join(problems))
        if self.embeddings_vocab not in ("data", "all"):
            problems.append(f"embeddings_vocab must be data or all, got {self.embeddings_vocab!r}")
        if self.scheme not in ("IOB1", "IOB2", "BIOES"):
            problems.append(f"scheme must be IOB1, IOB2 or BIOES, got {self.scheme!r}")
        if self.optimizer not in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"):
            problems.append(f"unknown optimizer {self.optimizer!r}")
        if self.dtype not in ("float32", "float64"):
            problems.append(f"dtype must be float32 or float64, got {self.dtype!r}")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.singleton_unk <= 1:
            problems.append(f"singleton_unk must be in [0, 1], got {self.singleton_unk}")
        for name in ("word_dim", "hidden", "batch_size", "epochs", "max_length"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.char_dim < 0 or self.char_hidden < 1:
            problems.append("char_dim must be >= 0 and char_hidden >= 1")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not self.lr > 0 or self.lr == float("inf"):
            problems.append(f"lr must be a positive number, got {self.lr}")
        for name in ("momentum", "lr_decay", "clip", "weight_decay", "min_count", "patience", "seed"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must not be negative, got {getattr(self, name)}")
        if problems:
            raise NertagError("bad configuration: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "Config":
        if not isinstance(values, dict):
            raise NertagError(f"{source}: expected a JSON object of configuration values, "
                              f"found {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise NertagError(f"{source}: unknown configuration keys {unknown}; known keys are {sorted(known)}")
        try:
            return cls(**values)
        except NertagError as e:
            raise NertagError(f"{source}: {e}") from None

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
