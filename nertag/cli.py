"""The ``nertag`` command line: thin commands that check their input and call the library.

Every error a user can fix is one line on stderr, ``nertag: error: ...``, and exit code 2.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from . import __version__
from .config import Config
from .data.conll import Sentence, load_conll, read_conll, write_conll
from .data.schemes import check_scheme, convert, detect_scheme
from .data.text import TOKENIZERS, read_text
from .errors import NertagError
from .modelio import read_json
from .tagger import Tagger

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="nertag: a fast named-entity tagger for CPUs.")

PACKAGED_MODELS = Path(__file__).resolve().parent / "models"


def default_model() -> Path:
    """The bundled model: the CoNLL-2003 one when installed, else the WikiGold one."""
    for name in ("conll2003", "wikigold"):
        if (PACKAGED_MODELS / name / "weights.npz").exists():
            return PACKAGED_MODELS / name
    return PACKAGED_MODELS / "wikigold"


def fail(message: str) -> typer.Exit:
    typer.echo(f"nertag: error: {message}", err=True)
    return typer.Exit(2)


@contextlib.contextmanager
def errors_for_people():
    """Turn the errors a user can fix into one line and exit code 2."""
    try:
        yield
    except NertagError as e:
        raise fail(str(e)) from None
    except BrokenPipeError:  # `nertag tag | head`: the reader left; not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = None
        raise typer.Exit(0) from None
    except IsADirectoryError as e:
        raise fail(f"{e.filename}: is a directory, expected a file") from None
    except OSError as e:
        raise fail(f"{e.filename or ''}: {e.strerror}") from None


def _existing_file(path: Path, what: str) -> Path:
    if not path.exists():
        raise NertagError(f"{path}: no such file ({what})")
    if path.is_dir():
        raise NertagError(f"{path}: is a directory, expected a {what} file")
    return path


def _load_corpus(path: Path, what: str, word_col: int, tag_col: int) -> list[Sentence]:
    return load_conll(_existing_file(path, what), word_col=word_col, tag_col=tag_col)


# ----------------------------------------------------------------------------------------------------------
@app.command()
def train(
    conll: Path = typer.Option(..., "--conll", help="Training data, CoNLL format (word first, tag last)."),
    dev: Optional[Path] = typer.Option(None, help="Development data for model selection and early stopping."),
    embeddings: Optional[Path] = typer.Option(None, help="Pretrained word vectors (GloVe or word2vec text, .gz ok)."),
    model_dir: Path = typer.Option(Path("model"), "--model-dir", help="Where to write the model."),
    resume: Optional[Path] = typer.Option(None, help="Continue the interrupted run in this model directory."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="JSON file of configuration values."),
    epochs: Optional[int] = typer.Option(None, help="Maximum number of epochs."),
    batch_size: Optional[int] = typer.Option(None, help="Sentences per batch."),
    optimizer: Optional[str] = typer.Option(None, help="sgd, momentum, nesterov, adagrad, rmsprop or adam."),
    lr: Optional[float] = typer.Option(None, help="Initial learning rate."),
    lr_decay: Optional[float] = typer.Option(None, help="Inverse-time decay per epoch: lr / (1 + d * epoch)."),
    clip: Optional[float] = typer.Option(None, help="Global gradient-norm clipping (0 disables)."),
    dropout: Optional[float] = typer.Option(None, help="Dropout rate."),
    hidden: Optional[int] = typer.Option(None, help="Sentence GRU units per direction."),
    word_dim: Optional[int] = typer.Option(None, help="Word embedding size (without --embeddings)."),
    char_dim: Optional[int] = typer.Option(None, help="Character embedding size; 0 disables character features."),
    char_hidden: Optional[int] = typer.Option(None, help="Character GRU units per direction."),
    patience: Optional[int] = typer.Option(None, help="Early stopping: epochs without a better dev F1."),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
    lowercase: Optional[bool] = typer.Option(None, "--lowercase/--no-lowercase", help="Lowercase words for lookup."),
    word_col: int = typer.Option(0, help="Column of the word (0-based; negative counts from the end)."),
    tag_col: int = typer.Option(-1, help="Column of the tag."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
):
    """Train a tagger on CoNLL data; keep the best model (by dev F1) in --model-dir."""
    from .train import train as run_training

    with errors_for_people():
        config = Config()
        if config_file is not None:
            config = Config.from_dict(read_json(_existing_file(config_file, "configuration"), "configuration"),
                                      source=str(config_file))
        config = config.replace(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                                lr_decay=lr_decay, clip=clip, dropout=dropout, hidden=hidden, word_dim=word_dim,
                                char_dim=char_dim, char_hidden=char_hidden, patience=patience, seed=seed,
                                lowercase=lowercase)
        if embeddings is not None:
            _existing_file(embeddings, "embeddings")
        train_data = _load_corpus(conll, "training data", word_col, tag_col)
        dev_data = _load_corpus(dev, "dev data", word_col, tag_col) if dev is not None else None
        result = run_training(config, train_data, dev_data, model_dir=resume or model_dir, embeddings=embeddings,
                              resume=resume is not None, progress=progress, train_path=str(conll))
        best = result.best_dev
        summary = f"{result.status} after {result.epochs} epochs; model in {result.model_dir}"
        if best:
            summary += f" (best dev F1 {best['f1']:.2f} at epoch {result.best_epoch})"
        typer.echo(summary)


# ----------------------------------------------------------------------------------------------------------
def _model(path: Optional[Path]) -> Tagger:
    return Tagger.load(path or default_model())


def _score_table(scores: dict) -> str:
    lines = [f"{'type':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    rows = list(scores["types"].items()) + [("overall", scores["overall"])]
    for name, r in rows:
        lines.append(f"{name:<10}{r['precision']:>10.2f}{r['recall']:>10.2f}{r['f1']:>10.2f}{r['support']:>10d}")
    return "\n".join(lines)


@app.command(name="eval")
def evaluate(
    conll: Path = typer.Option(..., "--conll", help="Gold CoNLL data."),
    model: Optional[Path] = typer.Option(None, help="Model directory (default: the bundled model)."),
    strict: bool = typer.Option(False, help="Strict BIOES chunks instead of conlleval-compatible scoring."),
    output: Optional[Path] = typer.Option(None, help="Also write the data with a predicted-tag column here."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as JSON."),
    word_col: int = typer.Option(0, help="Column of the word."),
    tag_col: int = typer.Option(-1, help="Column of the gold tag."),
):
    """Entity-level precision, recall and F1 per type and overall (seqeval; conlleval-compatible by default)."""
    with errors_for_people():
        tagger = _model(model)
        sentences = _load_corpus(conll, "evaluation data", word_col, tag_col)
        gold_scheme = detect_scheme(s.tags for s in sentences)
        scores, predicted = tagger.evaluate(sentences, gold_scheme, strict=strict, source=str(conll))
        if output is not None:
            from .files import atomic_open
            with atomic_open(output) as f:
                write_conll(sentences, f, predicted)
        if as_json:
            typer.echo(json.dumps({**scores, "scheme": gold_scheme, "file": str(conll)}, indent=2))
        else:
            typer.echo(f"{conll}: {len(sentences)} sentences, {gold_scheme} tags, {scores['mode']} scoring")
            typer.echo(_score_table(scores))


# ----------------------------------------------------------------------------------------------------------
def _format_inline(words: list[str], tagged) -> str:
    out, i = [], 0
    for e in tagged.entities:
        out += words[i:e.token_start] + [f"[{e.type} {' '.join(words[e.token_start:e.token_end])}]"]
        i = e.token_end
    return " ".join(out + words[i:])


def _batches(iterable, size: int):
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@app.command()
def tag(
    model: Optional[Path] = typer.Option(None, help="Model directory (default: the bundled model)."),
    input_path: Optional[Path] = typer.Option(None, "--input", help="Read this file instead of standard input."),
    input_format: str = typer.Option("text", help="text (one sentence per line) or conll (one token per line)."),
    output_format: str = typer.Option("conll", help="conll, inline or jsonl."),
    tokenizer: str = typer.Option("whitespace", help="Tokeniser for text input: whitespace or rules."),
    scheme: Optional[str] = typer.Option(None, help="Output tag scheme (default: the training data's)."),
    batch_size: int = typer.Option(32, help="Sentences tagged together; output follows each batch."),
):
    """Tag sentences from standard input (one per line), streaming the results to standard output."""
    with errors_for_people():
        if input_format not in ("text", "conll"):
            raise NertagError(f"--input-format must be text or conll, got {input_format!r}")
        if output_format not in ("conll", "inline", "jsonl"):
            raise NertagError(f"--output-format must be conll, inline or jsonl, got {output_format!r}")
        if tokenizer not in TOKENIZERS:
            raise NertagError(f"--tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
        if batch_size < 1:
            raise NertagError(f"--batch-size must be at least 1, got {batch_size}")
        if scheme is not None:
            scheme = check_scheme(scheme)
        tagger = _model(model)
        source = _existing_file(input_path, "input") if input_path else _stdin()
        name = str(input_path) if input_path else "<stdin>"
        if input_format == "text":
            items = ((line.words, [(t.start, t.end) for t in line.tokens], line) for line in read_text(source, tokenizer))
        else:
            items = ((s.words, None, s) for s in read_conll(source, tag_col=None))
        out = sys.stdout
        for chunk in _batches(items, batch_size):
            tagged = tagger.tag_sentences([c[0] for c in chunk], batch_size, offsets=[c[1] for c in chunk],
                                          scheme=scheme, source=name)
            for (words, _, original), result in zip(chunk, tagged):
                if output_format == "jsonl":
                    record = {"tokens": words, "tags": result.tags, "entities": [e.to_dict() for e in result.entities]}
                    if input_format == "text":
                        record = {"text": original.text, **record}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                elif output_format == "inline":
                    out.write(_format_inline(words, result) + "\n")
                elif input_format == "conll":
                    write_conll([original], out, [result.tags], docstart=None)
                else:
                    out.write("".join(f"{w} {t}\n" for w, t in zip(words, result.tags)) + "\n")
            out.flush()


def _stdin():
    """Standard input as bytes, so undecodable input is reported by line rather than crashing."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a test harness may give a text stream
        return sys.stdin
    return io.BufferedReader(stream) if not isinstance(stream, io.BufferedReader) else stream


# ----------------------------------------------------------------------------------------------------------
@app.command(name="convert")
def convert_command(
    input_file: Path = typer.Argument(..., help="CoNLL file to convert."),
    to: str = typer.Option(..., "--to", help="Target scheme: iob1, iob2 (bio) or bioes (iobes)."),
    source_scheme: Optional[str] = typer.Option(None, "--from", help="Source scheme (default: detected)."),
    tag_col: int = typer.Option(-1, help="Column of the tag."),
):
    """Convert the tag column of a CoNLL file to another tag scheme, writing to standard output."""
    with errors_for_people():
        target = check_scheme(to)
        sentences = _load_corpus(input_file, "input", 0, tag_col)
        source = check_scheme(source_scheme) if source_scheme else detect_scheme(s.tags for s in sentences)
        out = []
        for s in sentences:
            tags = convert(s.tags, source, target)
            columns = []
            for row, t in zip(s.columns, tags):
                row = list(row)
                row[tag_col] = t
                columns.append(row)
            out.append(Sentence(s.words, tags, columns, s.doc, s.line))
        delimiter = "\t" if any("\t" in line for line in _first_lines(input_file)) else " "
        write_conll(out, sys.stdout, delimiter=delimiter, docstart=_docstart_style(input_file))


def _first_lines(path: Path, n: int = 50) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line for line in itertools.islice(f, n) if line.strip() and not line.startswith("-DOCSTART-")]


def _docstart_style(path: Path):
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            if line.strip():
                return "start" if line.startswith("-DOCSTART-") else ("between" if _has_docstart(path) else None)
    return None


def _has_docstart(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as f:
        return any(line.startswith("-DOCSTART-") for line in f)


# ----------------------------------------------------------------------------------------------------------
@app.command()
def info(model: Optional[Path] = typer.Option(None, help="Model directory (default: the bundled model).")):
    """What a model is: configuration, tag set, vocabulary sizes, scores, versions."""
    with errors_for_people():
        tagger = _model(model)
        summary = {
            "model": str(model or default_model()),
            "nertag_version": tagger.meta.get("nertag_version"),
            "running_nertag": __version__,
            "output_scheme": tagger.output_scheme,
            "tags": tagger.tags.tokens,
            "vocabulary": {"words": len(tagger.words), "chars": len(tagger.chars), "tags": len(tagger.tags)},
            "parameters": len(tagger.buffer),
            "best_epoch": tagger.meta.get("best_epoch"),
            "scores": tagger.meta.get("scores"),
            "config": tagger.config.to_dict(),
        }
        typer.echo(json.dumps(summary, indent=2))


def main() -> None:  # pragma: no cover - console entry point
    app()
