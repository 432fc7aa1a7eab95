"""The tagger's configuration: one frozen dataclass, saved as ``config.json`` beside the weights."""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .errors import NertagError


FIELD_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
CHOICES = {  # the values a text field takes (shown by --help)
    "scheme": ("IOB1", "IOB2", "BIOES"),
    "embeddings_vocab": ("data", "all"),
    "optimizer": ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"),
    "dtype": ("float32", "float64"),
    "cell": ("gru", "lstm"),
    "char_encoder": ("gru", "lstm", "cnn"),
}
COUNT_LIMIT = 10 ** 9  # of sentences, tokens, epochs or words: no real run comes near (the sizes are checked apart)
_TYPE_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class Config:
    # --- model: word embedding + char-BiGRU summary -> dropout -> BiGRU -> dense -> CRF
    word_dim: int = 100           # word embedding size (taken from the embeddings file when one is given)
    char_dim: int = 25            # character embedding size; 0 disables character features
    char_hidden: int = 25         # character GRU/LSTM units per direction (Lample et al.: 25 + 25), or cnn filters
    hidden: int = 100             # sentence GRU units per direction
    cell: str = "gru"             # recurrent cell of the sentence encoder: gru or lstm (Lample et al. 2016)
    char_encoder: str = "gru"     # character encoder: gru or lstm (bidirectional), or cnn (char_dim 0: none)
    char_window: int = 3          # characters a filter of the cnn character encoder sees (Ma and Hovy 2016: 3)
    dropout: float = 0.5          # dropout rate, before and after the sentence BiGRU
    # --- data
    scheme: str = "BIOES"         # tag scheme the CRF learns: bioes, iob2 or iob1 (output: IOB2 or tag --scheme)
    lowercase: bool = False       # lowercase words for lookup (the character GRU still sees their case)
    normalise_digits: bool = True  # map digits to 0 for word lookup
    embeddings_vocab: str = "data"  # words given pretrained vectors: data (train + dev) or all (of the file)
    freeze_words: bool = False    # keep the word vectors as initialised (pretrained ones as loaded); see README
    min_count: int = 1            # words seen fewer times map to <unk> (unless in the embeddings)
    singleton_unk: float = 0.5    # probability of replacing a training singleton by <unk> (Lample et al.)
    max_length: int = 1000        # longest piece of a sentence, in tokens: longer ones are cut (train, tag)
    # --- training
    optimizer: str = "adam"       # update rule: sgd, momentum, nesterov, adagrad, rmsprop or adam (best on CoNLL-2003)
    lr: float = 0.001             # initial learning rate
    momentum: float = 0.9         # momentum of the momentum and nesterov optimisers
    lr_decay: float = 0.05        # inverse-time decay per epoch: lr / (1 + lr_decay * epoch)
    clip: float = 5.0             # global gradient-norm clipping (0 disables)
    weight_decay: float = 0.0     # decoupled weight decay on weights (not biases, not embeddings)
    ema_decay: float = 0.0        # evaluate and save a moving average of the parameters (0: the trained ones)
    batch_size: int = 10          # sentences per batch (the loss is their sum)
    epochs: int = 50              # maximum number of epochs
    patience: int = 8             # early stopping: epochs without a better dev F1
    seed: int = 1                 # random seed of initialisation, batch order and dropout
    dtype: str = "float32"        # parameter precision: float32 or float64
    constrained: bool = True      # forbid transitions the tag scheme makes impossible when decoding

    def __post_init__(self):
        problems = []
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), FIELD_TYPES[f.type]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))  # JSON writes 1.0 as 1 in some tools
            elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                problems.append(f"{f.name} must be {_TYPE_NAMES[kind]}, got {value!r}")
        if problems:
            raise NertagError("bad configuration: " + "; ".join(problems))
        if self.embeddings_vocab not in CHOICES["embeddings_vocab"]:
            problems.append(f"embeddings_vocab must be data or all, got {self.embeddings_vocab!r}")
        if self.scheme not in CHOICES["scheme"]:
            problems.append(f"scheme must be IOB1, IOB2 or BIOES, got {self.scheme!r}")
        if self.optimizer not in CHOICES["optimizer"]:
            problems.append(f"unknown optimizer {self.optimizer!r}")
        for name in ("cell", "char_encoder"):
            if getattr(self, name) not in CHOICES[name]:
                problems.append(f"{name} must be {' or '.join(CHOICES[name])}, got {getattr(self, name)!r}")
        if self.dtype not in CHOICES["dtype"]:
            problems.append(f"dtype must be float32 or float64, got {self.dtype!r}")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.singleton_unk <= 1:
            problems.append(f"singleton_unk must be in [0, 1], got {self.singleton_unk}")
        for name in ("word_dim", "hidden", "batch_size", "epochs", "max_length"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.char_window < 1 or self.char_window % 2 == 0:
            problems.append(f"char_window must be an odd number >= 1, got {self.char_window}")
        if self.char_dim < 0 or self.char_hidden < 1:
            problems.append("char_dim must be >= 0 and char_hidden >= 1")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not self.lr > 0 or self.lr == float("inf"):
            problems.append(f"lr must be a positive number, got {self.lr}")
        for name in ("momentum", "lr_decay", "clip", "weight_decay", "min_count", "patience", "seed"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("batch_size", "epochs", "patience", "max_length", "min_count", "char_window"):
            if getattr(self, name) > COUNT_LIMIT:
                problems.append(f"{name} must be at most {COUNT_LIMIT:,}, got {getattr(self, name):,}")
        if self.seed >= 1 << 64:
            problems.append(f"seed must be below 2**64, got {self.seed}")
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


def field_help() -> dict[str, str]:
    """Each Config field's comment in the source above: its one description, shown by ``--help`` too.

    Empty when the source cannot be read (a build without ``.py`` files): the options then lack help only.
    Read from this file's text with a scan of the field lines (every command builds its options at start-up,
    and ``inspect.getsource`` plus ``tokenize`` took 15-30 ms of it).
    """
    try:
        with open(__file__, encoding="utf-8") as f:
            lines = f.read().splitlines()
        first = next(i for i, line in enumerate(lines) if re.match(r"class Config\b", line))
    except (OSError, ValueError, StopIteration):                # no readable source: a sourceless build
        return {}
    names = {f.name for f in dataclasses.fields(Config)}
    found = {}
    for line in lines[first + 1:]:
        if line and not line[0].isspace():                     # the first line after the class body
            break
        declared = re.match(r"\s+(\w+)\s*:", line)
        if declared and declared.group(1) in names:
            comment = _comment(line)
            if comment is not None:
                found[declared.group(1)] = comment
    return found


def _comment(line: str) -> str | None:
    """The text of the comment ending a one-line statement (a ``#`` outside string literals), or None."""
    quote, i = None, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#":
            return line[i:].lstrip("#").strip()
        i += 1
    return None
