"""What a model is, for people: the card in ``meta.json`` and the short summaries of ``nertag info``.

The card (``meta.json`` beside the weights) holds, besides the tag scheme and scores a run always wrote:
``name``, ``language``, ``types``, ``training_data`` (files, sizes, licence), ``command`` (the training
command line, which also produced the dev scores), ``nertag_version`` (that wrote it) and
``requires_nertag`` (the versions that read its format). Every field is optional, so models written
before the card existed load and summarise alike.
"""
from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from .model_dir import REQUIRES


def training_card(name: str, language: str | None, files: Sequence[tuple[str, int, int]],
                  data_license: str | None, argv: Sequence[str]) -> dict:
    """The card fields a new training run records: ``files`` are (path, sentences, tokens)."""
    card = {"name": name, "language": language,
            "training_data": {"files": [{"path": p, "sentences": n, "tokens": t} for p, n, t in files],
                              "license": data_license},
            "command": shlex.join(["nertag", *argv])}
    return {k: v for k, v in card.items() if v is not None}


def summary(tagger, path: Path) -> list[str]:
    """A few lines saying what the model at ``path`` is (``nertag info``)."""
    meta, config = tagger.meta, tagger.config
    types = meta.get("types") or sorted({t.split("-", 1)[1] for t in tagger.tags.tokens if t != "O"})
    name = meta.get("name", path.name)
    cell = config.cell.upper()
    chars = ""
    if config.char_dim and config.char_encoder == "cnn":
        chars = f" + character CNN {config.char_hidden} filters of {config.char_window}"
    elif config.char_dim:
        chars = f" + character Bi{config.char_encoder.upper()} {config.char_hidden} + {config.char_hidden}"
    lines = [
        f"model       {name} ({path})" + (f", language {meta['language']}" if meta.get("language") else ""),
        f"entities    {' '.join(types)} (output {tagger.output_scheme}, learned as {config.scheme})",
        f"network     word embeddings {config.word_dim}{chars} -> Bi{cell} {config.hidden} + {config.hidden} -> CRF; "
        f"{len(tagger.buffer):,} parameters ({config.dtype})",
        f"vocabulary  {len(tagger.words):,} words, {len(tagger.chars):,} characters",
    ]
    # meta.json is a file people edit: every field is read for what it is, never trusted to be there.
    data = meta.get("training_data")
    files = data.get("files") if isinstance(data, dict) else None
    if isinstance(files, list) and files:
        trained = ", ".join(_file_text(f) for f in files)
        licence = data.get("license")
        lines.append(f"trained on  {trained}" + (f"; data licence: {licence}" if isinstance(licence, str) else ""))
    scores = meta.get("scores") if isinstance(meta.get("scores"), dict) else {}
    shown = [f"{split} F1 {s['f1']:.2f} (P {s['precision']:.2f}, R {s['recall']:.2f})"
             for split, s in scores.items()
             if isinstance(s, dict) and all(_number(s.get(k)) for k in ("f1", "precision", "recall"))]
    if shown:
        epoch = f", epoch {meta['best_epoch']}" if _number(meta.get("best_epoch")) else ""
        lines.append(f"scores      {'; '.join(shown)}{epoch}")
    written = meta.get("nertag_version")
    lines.append(f"written by  nertag {written or '?'} (read by nertag {meta.get('requires_nertag', REQUIRES)})")
    return lines


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _file_text(entry) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    sentences = entry.get("sentences")
    return str(entry.get("path", "?")) + (f" ({sentences:,} sentences)" if _number(sentences) else "")


def system() -> list[str]:
    """The machine as nertag sees it (``nertag info --system``): versions, BLAS and its kernel, threads."""
    import platform

    import numpy as np
    from threadpoolctl import threadpool_info

    from . import __version__
    from .net import _crf, _embedding, _lstm, _optim, _recurrent

    lines = [f"nertag      {__version__} (python {platform.python_version()}, numpy {np.__version__}, "
             f"{platform.machine()})"]
    for pool in threadpool_info():
        kernel = pool.get("architecture") or "?"
        lines.append(f"{pool.get('user_api', '?'):<11} {pool.get('internal_api')} {pool.get('version')}, "
                     f"kernel {kernel}, {pool.get('num_threads')} threads ({pool.get('filepath')})")
    kernels = ", ".join(Path(m.__file__).name for m in (_crf, _recurrent, _lstm, _embedding, _optim))
    lines.append(f"kernels     compiled: {kernels}")
    lines.append(f"interpreter {sys.executable}")
    return lines
