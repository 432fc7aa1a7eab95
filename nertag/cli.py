"""The ``nertag`` command line: thin commands that check their input and call the library.

Every error a user can fix is one line on stderr, ``nertag: error: ...``, and exit code 2.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import inspect
import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .config import CHOICES, FIELD_TYPES, Config, field_help
from .data.conll import Sentence, docstart_line, load_conll, read_conll, write_conll
from .data.schemes import check_scheme, convert, detect_scheme, split_tag, tags_to_spans
from .data.text import TOKENIZERS, read_text
from .errors import NertagError
from .formats import (CONFIDENCE_FORMATS, NBEST_FORMATS, OUTPUT_FORMATS, FdLines, LineTap, convert_tags, footer,
                      format_nbest, format_tagged, header, load_conll_file, open_tap, tap)
from .files import output_file, standard_output
from .model_card import training_card
from .model_dir import ModelDir, bundled_model, read_json
from .tagger import WINDOW, Tagger

# typer's own exception classes, found from the one it exports (its click may be vendored or not).
UsageError = typer.BadParameter.__mro__[1]


class OneLineErrors(typer.core.TyperGroup):
    """Usage errors as every other error: one line on stderr, exit code 2 (not a box of several lines)."""

    arguments: list[str] = []  # of the command line being run (for the model card)

    def main(self, args=None, *rest, standalone_mode: bool = True, **kwargs):
        OneLineErrors.arguments = [str(a) for a in (sys.argv[1:] if args is None else args)]
        args = (args, *rest)
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `nertag` alone: the help it asks for
                typer.echo(e.ctx.get_help())
                sys.exit(2)
            where = f" (see {e.ctx.command_path} --help)" if e.ctx is not None else ""
            typer.echo(f"nertag: error: {' '.join(e.format_message().split())}{where}", err=True)
            sys.exit(2)
        except typer.Abort:
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


# Plain help (no rich boxes): wide enough for ~40 options, and `[default: ...]` in help texts stays text.
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, cls=OneLineErrors,
                  rich_markup_mode=None,
                  context_settings={"show_default": True, "help_option_names": ["-h", "--help"],
                                    "max_content_width": 120},
                  help="nertag: a fast named-entity tagger for CPUs.")

# Paths are checked by the commands, which say in one line what is wrong; typer's own check would not.
path_option = functools.partial(typer.Option, readable=False)


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"nertag {__version__}")
        raise typer.Exit()


@app.callback()
def configure(threads: int = typer.Option(
        1, envvar="NERTAG_THREADS", help="BLAS threads. The per-step products of the recurrent layers are small: "
                                         "one thread is fastest unless batches are large and the cores idle."),
              version: bool = typer.Option(False, "--version", "-V", callback=print_version, is_eager=True,
                                           help="Print nertag's version and exit.")):
    """nertag: a fast named-entity tagger for CPUs."""
    if threads < 1:
        raise fail(f"--threads must be at least 1, got {threads}")
    limit_threads(threads)


def threads_option():
    return typer.Option(None, "--threads", envvar="NERTAG_THREADS", show_default=False,
                        help="BLAS threads (as `nertag --threads N` before the command).")


def _threads(n: Optional[int]) -> None:
    """``--threads`` given after the command: the same as before it."""
    if n is not None:
        if n < 1:
            raise NertagError(f"--threads must be at least 1, got {n}")
        limit_threads(n)


def limit_threads(n: int) -> None:
    """Cap every BLAS/OpenMP thread pool in the process at ``n`` threads for the rest of its life."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)

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
    except MemoryError:  # a last guard: the sizes nertag knows of are checked before they are allocated
        raise fail("out of memory: the input or configuration needs more than this machine has") from None
    except IsADirectoryError as e:
        raise fail(f"{e.filename}: is a directory, expected a file") from None
    except OSError as e:
        # Every file nertag writes names itself (nertag.files); an unnamed full disk is typer.echo's stdout.
        where = e.filename or ("<stdout>" if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else None)
        raise fail(f"{where}: {e.strerror}" if where else f"{e.strerror or e}") from None


def _existing_file(path: Path, what: str) -> Path:
    if not path.exists():
        raise NertagError(f"{path}: no such file ({what})")
    if path.is_dir():
        raise NertagError(f"{path}: is a directory, expected a {what} file")
    return path


def _output_file(path: Path, what: str) -> Path:
    """A file we may create or replace: not a directory, in a directory that exists."""
    if path.is_dir():
        raise NertagError(f"{path}: is a directory, expected a file name for the {what}")
    parent = path.parent
    if not parent.exists():
        raise NertagError(f"{path}: cannot write the {what}, the directory {parent} does not exist")
    if not parent.is_dir():
        raise NertagError(f"{path}: cannot write the {what}, {parent} is a file, not a directory")
    return path


def _load_corpus(path: Path, what: str, word_col: int, tag_col: int, scheme: Optional[str] = None) -> list[Sentence]:
    return load_conll(_existing_file(path, what), word_col=word_col, tag_col=tag_col, scheme=scheme)


def _distilled(gold: list[Sentence], teachers: List[Path], unlabeled: List[Path], word_col: int):
    """The gold sentences and the teacher's tags of them and of ``unlabeled`` (see nertag.distill), and the
    (path, sentences, tokens) of the teacher-tagged parts for the model card."""
    from .distill import distillation_data

    scheme = detect_scheme(s.tags for s in gold)
    extra = []
    for path in unlabeled:
        extra += load_conll(_existing_file(path, "unlabeled data"), word_col=word_col, tag_col=None)
    data = distillation_data(_models(teachers), gold, extra, scheme)
    names = " + ".join(map(str, teachers))
    sizes = [(f"tags of {names} on the training data", len(gold), sum(map(len, gold)))]
    if unlabeled:
        sizes.append((f"tags of {names} on {' + '.join(map(str, unlabeled))}", len(extra), sum(map(len, extra))))
    return data, sizes


# ----------------------------------------------------------------------------------------------------------
# Config's booleans whose negative flag is not --no-<name>.
FLAGS = {"constrained": "--constrained/--unconstrained", "freeze_words": "--freeze-words/--fine-tune-words",
         "normalise_digits": "--normalise-digits/--keep-digits"}


def config_options(command):
    """Give ``command`` one option per Config field, in place of its parameter ``config_values``.

    Each option is named after its field (``batch_size``: ``--batch-size``), has the field's type and its
    comment in ``nertag/config.py`` as help, and defaults to None; ``config_values`` receives the values
    given, by field name.
    """
    signature = inspect.signature(command, eval_str=True)
    placeholder = signature.parameters["config_values"]
    descriptions = field_help()
    options = []
    for f in dataclasses.fields(Config):
        text = descriptions.get(f.name, "")
        choices = CHOICES.get(f.name)
        default = str(f.default).lower() if f.type == "bool" else str(f.default)
        option = typer.Option(None, *([FLAGS[f.name]] if f.name in FLAGS else []), show_default=False,
                              help=(text[:1].upper() + text[1:] + ". " if text else "") + f"[default: {default}]",
                              metavar="|".join(c.lower() for c in choices) if choices else None)
        options.append(placeholder.replace(name=f.name, annotation=Optional[FIELD_TYPES[f.type]], default=option))
    parameters = []
    for parameter in signature.parameters.values():
        parameters += options if parameter is placeholder else [parameter]

    @functools.wraps(command)
    def with_config_values(**arguments):
        given = {f.name: arguments.pop(f.name) for f in dataclasses.fields(Config)}
        return command(**arguments, config_values={k: v for k, v in given.items() if v is not None})

    with_config_values.__signature__ = signature.replace(parameters=parameters)
    return with_config_values


@app.command()
@config_options
def train(
    train_files: List[Path] = path_option(..., "--train", "--conll", "-t", help="Training data, CoNLL format (word "
                                          "first, tag last); give it again to add more files.", show_default=False),
    dev: Optional[Path] = path_option(None, "--dev", "-d", help="Development data for model selection and early "
                                                               "stopping."),
    embeddings: Optional[Path] = path_option(None, help="Pretrained word vectors (GloVe or word2vec text, .gz ok)."),
    model_dir: Optional[Path] = path_option(None, "--model", "--model-dir", "-m", help="Where to write the model "
                                                                                      "[default: model]."),
    resume: Optional[Path] = path_option(None, help="Continue the interrupted run in this model directory (its "
                                                    "configuration is kept; --epochs and --patience may change)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the files of an earlier run or model in "
                                                              "--model (other files there are left alone)."),
    teacher: Optional[List[Path]] = path_option(None, "--teacher", help="Distil this model (give it again for an "
                                                "ensemble): its tags of the training data, and of --unlabeled, are "
                                                "added to the gold data (give the same to --resume)."),
    unlabeled: Optional[List[Path]] = path_option(None, "--unlabeled", help="CoNLL sentences without gold tags for "
                                                  "--teacher to tag (a tag column, if any, is ignored)."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Language of the data, for the model card (en, de...)."),
    data_license: Optional[str] = typer.Option(None, "--data-license", help="Licence of the training data, for "
                                                                             "the model card."),
    config_file: Optional[Path] = path_option(None, "--config", help="JSON file of configuration values."),
    config_values: Optional[dict] = None,  # one option per Config field: see `config_options`
    word_col: int = typer.Option(0, help="Column of the word (0-based; negative counts from the end)."),
    tag_col: int = typer.Option(-1, help="Column of the tag."),
    checkpoint_seconds: float = typer.Option(300.0, help="Also checkpoint within an epoch after this many seconds."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", show_default=False,
                                            help="Progress bars [default: on a terminal; else one line per epoch]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the final summary."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also print the data read and the configuration."),
    threads: Optional[int] = threads_option(),
):
    """Train a tagger on CoNLL data; keep the best model (by dev F1) in --model.

    A checkpoint is written atomically every epoch and every --checkpoint-seconds.

    Ctrl-C or SIGTERM finishes the batch, saves and exits (code 130 or 143); --resume DIR continues.
    """
    from .train import train as run_training

    with errors_for_people():
        _threads(threads)
        if resume is not None and model_dir is not None and model_dir.resolve() != resume.resolve():
            raise NertagError(f"--model {model_dir} and --resume {resume} differ; --resume continues the run "
                              f"in its own directory, give just one of them")
        if resume is not None and overwrite:
            raise NertagError("--overwrite starts a new run and --resume continues one: give just one of them")
        values = {}
        if config_file is not None:
            values = read_json(_existing_file(config_file, "configuration"), "configuration")
            Config.from_dict(values, source=str(config_file))  # unknown keys and bad values, named by file
        if "scheme" in config_values:
            config_values["scheme"] = check_scheme(config_values["scheme"])  # bio, iobes, any case
        values.update(config_values)
        if checkpoint_seconds < 0:
            raise NertagError(f"--checkpoint-seconds must not be negative, got {checkpoint_seconds}")
        if embeddings is not None:
            _existing_file(embeddings, "embeddings")
        if resume is not None:
            # The run's own configuration, changed by the values given (what may not change is refused).
            config, run_dir = values, ModelDir.resumable(resume)
        else:
            config = Config().replace(**values)
            run_dir = ModelDir.for_new_run(model_dir or Path("model"), overwrite)
        log = (lambda message: None) if quiet else None  # None: the library's own (tqdm.write)
        train_data, sizes = [], []
        for path in train_files:
            part = _load_corpus(path, "training data", word_col, tag_col)
            train_data += part
            sizes.append((str(path), len(part), sum(len(s) for s in part)))
            if verbose:
                typer.echo(f"{path}: {sizes[-1][1]} sentences, {sizes[-1][2]} tokens")
        if unlabeled and not teacher:
            raise NertagError("--unlabeled sentences are tagged by a --teacher: give one")
        if teacher:
            train_data, teacher_sizes = _distilled(train_data, teacher, unlabeled or [], word_col)
            sizes += teacher_sizes
            if verbose:
                typer.echo(f"teacher {' + '.join(map(str, teacher))}: {len(train_data)} training sentences in all")
        dev_data = _load_corpus(dev, "dev data", word_col, tag_col) if dev is not None else None
        if verbose:
            if dev_data is not None:
                typer.echo(f"{dev}: {len(dev_data)} sentences, {sum(len(s) for s in dev_data)} tokens (dev)")
            typer.echo(f"configuration: {json.dumps(values)}" if resume else
                       f"configuration: {json.dumps(config.to_dict())}")
        show_progress = (sys.stderr.isatty() and not quiet) if progress is None else progress
        result = run_training(config, train_data, dev_data, model_dir=run_dir, embeddings=embeddings,
                              resume=resume is not None, progress=show_progress, log=log,
                              train_path=" + ".join(map(str, train_files)), checkpoint_seconds=checkpoint_seconds,
                              card=None if resume else training_card(run_dir.path.name, lang, sizes, data_license,
                                                                     OneLineErrors.arguments))
        best = result.best_dev
        summary = f"{result.status} after {result.epochs} epochs; model in {result.model_dir}"
        if best and result.best_epoch:
            summary += f" (best dev F1 {best['f1']:.2f} at epoch {result.best_epoch})"
        typer.echo(summary)
    if result.signal is not None:
        raise typer.Exit(128 + result.signal)


# ----------------------------------------------------------------------------------------------------------
def _model(path: Optional[Path]) -> Tagger:
    return Tagger.load(path or bundled_model())


def _models(paths: Optional[List[Path]]) -> Tagger:
    """The model of ``--model``, or the ensemble of several (the bundled model without one)."""
    if not paths:
        return _model(None)
    from .ensemble import load_ensemble

    return load_ensemble(paths)


def _score_table(scores: dict) -> str:
    from .evaluate import format_table  # widths from the content: long type names stay aligned

    rows = [[name, f"{r['precision']:.2f}", f"{r['recall']:.2f}", f"{r['f1']:.2f}", r["support"]]
            for name, r in list(scores["types"].items()) + [("overall", scores["overall"])]]
    return format_table(["type", "precision", "recall", "f1", "support"], rows)


@app.command(name="eval")
def evaluate(
    conll: Path = path_option(..., "--data", "--conll", "-i", help="Gold CoNLL data.", show_default=False),
    model: Optional[List[Path]] = path_option(None, "--model", "-m", help="Model directory [default: the bundled "
                                              "model]; give it again to evaluate an ensemble of the models."),
    strict: bool = typer.Option(False, help="Count only chunks well formed in the scheme (no conlleval repairs)."),
    output: Optional[Path] = path_option(None, "--output", "-o",
                                         help="Also write the data with a predicted-tag column here."),
    errors: bool = typer.Option(False, "--errors", help="Also analyse the errors: each gold and predicted entity "
                                "counted once as correct, wrong type, wrong boundary, wrong type and boundary, "
                                "missed or spurious; per type, type confusions, examples."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores (and --errors' report) as JSON."),
    threads: Optional[int] = threads_option(),
    word_col: int = typer.Option(0, help="Column of the word."),
    tag_col: int = typer.Option(-1, help="Column of the gold tag."),
):
    """Entity-level precision, recall and F1 per type and overall (seqeval; conlleval-compatible by default).

    Gold entity types the model does not know are scored (as missed) and named on standard error.
    """
    with errors_for_people():
        _threads(threads)
        if errors and strict:
            raise NertagError("--errors reads entities as conlleval does, not as --strict scores them; give one")
        if output is not None:
            _output_file(output, "predictions")
        tagger = _models(model)
        sentences, layout = load_conll_file(_existing_file(conll, "evaluation data"), word_col, tag_col)
        gold_scheme = detect_scheme(s.tags for s in sentences)
        unknown = sorted({t for s in sentences for _, _, t in tags_to_spans(s.tags, gold_scheme)} - _types(tagger))
        if unknown:
            typer.echo(f"nertag: note: {conll} has entity types the model does not know: {', '.join(unknown)} "
                       f"(it knows {', '.join(sorted(_types(tagger))) or 'none'}); they count as missed", err=True)
        scores, predicted = tagger.evaluate(sentences, gold_scheme, strict=strict, source=str(conll))
        if output is not None:
            with output_file(output) as f:
                write_conll(sentences, f, predicted, delimiter=layout.delimiter, closing=layout.closing)
        report = None
        if errors:
            from .error_analysis import error_report, format_report
            report = error_report([s.tags for s in sentences], predicted, gold_scheme,
                                  words=[s.words for s in sentences], lines=[s.line for s in sentences])
        if as_json:
            extra = {"errors": report.to_dict()} if report is not None else {}
            typer.echo(json.dumps({**scores, "scheme": gold_scheme, "file": str(conll), **extra}, indent=2))
        else:
            typer.echo(f"{conll}: {len(sentences)} sentences, {gold_scheme} tags, {scores['mode']} scoring")
            typer.echo(_score_table(scores))
            if report is not None:
                typer.echo("\n" + format_report(report))


def _types(tagger: Tagger) -> set[str]:
    return {split_tag(t)[1] for t in tagger.tags.tokens if t != "O"}


# ----------------------------------------------------------------------------------------------------------
def _stdin() -> LineTap:
    """Standard input, read as bytes when possible so that undecodable input is reported by line."""
    if sys.stdin is None:
        raise NertagError("<stdin>: standard input is closed; give --input FILE")
    try:  # read by a thread: the bare descriptor, whose reads hold no lock that would block the exit
        return tap(FdLines(sys.stdin.fileno(), "<stdin>"), "<stdin>")
    except (AttributeError, OSError, ValueError):  # a test harness gives a stream without a descriptor
        return tap(getattr(sys.stdin, "buffer", None) or sys.stdin, "<stdin>")  # (and may give text)


# The options `tag` and `tag-corpus` share, defined once.
def model_option():
    return path_option(None, "--model", "-m", help="Model directory [default: the bundled model].")


def output_format_option():
    return typer.Option("conll", metavar="|".join(OUTPUT_FORMATS),
                        help="conll, inline, jsonl or html (a page, entities highlighted).")


def tokenizer_option():
    return typer.Option("ptb", metavar="|".join(TOKENIZERS), help="Tokeniser for text input: ptb (raw text, split as "
                        "CoNLL-2003 and the Penn Treebank are) or whitespace (text already tokenised).")


def sentences_option():
    return typer.Option(False, "--sentences", help="Split each line of text into sentences (paragraphs in); output "
                                                   "stays one record per line.")


def scheme_option():
    return typer.Option(None, metavar="iob2|iob1|bioes", help="Output tag scheme [default: iob2].")


def batch_size_option():
    return typer.Option(64, help="Sentences tagged together, of similar lengths.")


@app.command()
def tag(
    model: Optional[List[Path]] = path_option(None, "--model", "-m", help="Model directory [default: the bundled "
                                              "model]; give it again to tag with an ensemble of the models."),
    input_path: Optional[Path] = path_option(None, "--input", "-i", help="Read this file instead of standard "
                                                                        "input (- is standard input)."),
    output: Optional[Path] = path_option(None, "--output", "-o", help="Write to this file (replaced when done) "
                                                                     "instead of standard output."),
    input_format: str = typer.Option("text", metavar="text|conll", help="text (one sentence per line) or conll (one token per line)."),
    output_format: str = output_format_option(),
    tokenizer: str = tokenizer_option(),
    split_sentences: bool = sentences_option(),
    word_col: int = typer.Option(0, help="Column of the word in CoNLL input; other columns are kept as they are."),
    scheme: Optional[str] = scheme_option(),
    batch_size: int = batch_size_option(),
    window: int = typer.Option(WINDOW, help="Sentences read ahead and sorted by length; output follows each "
                                            "window, or comes at once when the input pauses."),
    jobs: int = typer.Option(1, help="Worker processes, one BLAS thread each; output keeps the input order."),
    nbest: Optional[int] = typer.Option(None, "--nbest", help="Also the K most probable tag sequences and their "
                                        "probabilities (conll or jsonl output).", show_default=False),
    probabilities: bool = typer.Option(False, "--probabilities", help="Also each token's tag probability, the "
                                       "CRF marginal (conll or jsonl output)."),
    threads: Optional[int] = threads_option(),
):
    """Tag sentences from standard input (one per line), streaming the results to standard output.

    CoNLL input keeps all its columns (gold tags are not read) and gains the predicted tag as a last column.
    """
    with errors_for_people():
        _threads(threads)
        if input_format not in ("text", "conll"):
            raise NertagError(f"--input-format must be text or conll, got {input_format!r}")
        if output_format not in OUTPUT_FORMATS:
            raise NertagError(f"--output-format must be {', '.join(OUTPUT_FORMATS[:-1])} or {OUTPUT_FORMATS[-1]}, "
                              f"got {output_format!r}")
        if tokenizer not in TOKENIZERS:
            raise NertagError(f"--tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")
        for name, value in (("--batch-size", batch_size), ("--window", window), ("--jobs", jobs)):
            if value < 1:
                raise NertagError(f"{name} must be at least 1, got {value}")
        if scheme is not None:
            scheme = check_scheme(scheme)
        extras = nbest is not None or probabilities
        if nbest is not None and nbest < 1:
            raise NertagError(f"--nbest must be at least 1, got {nbest}")
        if extras and output_format not in NBEST_FORMATS:
            raise NertagError(f"--nbest and --probabilities need --output-format conll or jsonl, not {output_format}")
        if extras and jobs > 1:
            raise NertagError("--nbest and --probabilities tag in one process: leave --jobs at 1")
        from .parallel import read_ahead  # threads and processes only where they are used

        if output is not None:
            _output_file(output, "tagged output")
        tagger = _models(model)
        opened = (open_tap(_existing_file(input_path, "input")) if input_path and str(input_path) != "-"
                  else contextlib.nullcontext(_stdin()))
        written = output_file(output) if output is not None else contextlib.nullcontext(standard_output())
        with opened as source, written as out:
            if input_format == "text":
                sentences = read_text(source, tokenizer, split_sentences, raw=not extras)  # raw: tokenised where tagged
            else:
                sentences = read_conll(source, word_col=word_col, tag_col=None, empty_ok=True)
            render = functools.partial(format_tagged, output_format=output_format, layout=source.layout)
            out.write(header(output_format))  # (the html page's head; nothing for the other formats)
            windows = read_ahead(sentences, window)
            if extras:
                results = (_with_extras(tagger, w, scheme, batch_size, nbest, probabilities, output_format,
                                        source.layout) for w in windows)
            else:  # with --jobs the workers format
                results = tagger.tag_windows(windows, batch_size, scheme=scheme, source=source.name, jobs=jobs,
                                             confidence=output_format in CONFIDENCE_FORMATS, render=render)
            for text in results:
                out.write(text)
                out.flush()
            if input_format == "conll" and output_format == "conll" and source.layout.closing is not None:
                out.write(docstart_line(source.layout.closing, True, source.layout.delimiter) + "\n")
            out.write(footer(output_format))


def _with_extras(tagger: Tagger, window: list, scheme: Optional[str], batch_size: int, nbest: Optional[int],
                 probabilities: bool, output_format: str, layout) -> str:
    """A window tagged, written with its n-best sequences and/or token probabilities (`format_nbest`)."""
    tagged = next(tagger.tag_windows([window], batch_size, scheme=scheme,
                                     confidence=output_format in CONFIDENCE_FORMATS))
    words = [t.words for t in tagged]
    best = list(tagger.nbest(words, nbest, scheme, batch_size=batch_size)) if nbest else [None] * len(words)
    token_p: list = [None] * len(words)
    if probabilities:
        out_scheme = scheme or tagger.output_scheme
        for i, (tags, marginals) in enumerate(tagger.marginals(words, batch_size=batch_size)):
            learned = convert(tagged[i].tags, out_scheme, tagger.config.scheme)
            index = {tag: j for j, tag in enumerate(tags)}
            token_p[i] = [float(marginals[t, index[tag]]) for t, tag in enumerate(learned)]
    return "".join(format_nbest(record, t, b, p, output_format, layout)
                   for record, t, b, p in zip(window, tagged, best, token_p))


# ----------------------------------------------------------------------------------------------------------
@app.command(name="tag-corpus")
def tag_corpus(
    inputs: List[Path] = typer.Argument(..., readable=False, show_default=False, metavar="INPUT",
                                        help="Input files, one partition each, or directories of them."),
    output_dir: Path = path_option(..., "--output", "-o", show_default=False,
                                   help="Directory of the output files: one per input, with a .NAME.done record."),
    scheduler: str = typer.Option("local", help="Dask scheduler: tcp://HOST:8786, a scheduler file (.json), or "
                                                "local (a cluster of --workers processes on this machine)."),
    workers: int = typer.Option(2, help="Worker processes of the local cluster, one thread each."),
    model: Optional[Path] = model_option(),
    ship_model: bool = typer.Option(False, "--ship-model", help="Send the model's files from here to each worker "
                                    "once, instead of the workers reading --model's path themselves."),
    input_format: str = typer.Option("text", metavar="text|jsonl|conll", help="text (one sentence per line), "
                                     "jsonl (one JSON object per line, its --text-field tagged) or conll."),
    text_field: str = typer.Option("text", help="Field of JSONL input holding the text."),
    output_format: str = output_format_option(),
    tokenizer: str = tokenizer_option(),
    split_sentences: bool = sentences_option(),
    scheme: Optional[str] = scheme_option(),
    batch_size: int = batch_size_option(),
    retries: int = typer.Option(2, help="Times a failing partition is tried again (bad data is reported at once)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the summary."),
):
    """Tag a corpus on a Dask cluster, file by file: each input file gives one output file, written atomically.

    A re-run skips the files already finished, so an interrupted run resumes. Exit code 2 if any file
    failed (each is named, with its error). Needs Dask: pip install 'nertag[dask]'.
    """
    from .cluster import connect, require_dask
    from .corpus import CorpusOptions, ModelSource, tag_corpus as run

    with errors_for_people():
        require_dask()
        if retries < 0:
            raise NertagError(f"--retries must not be negative, got {retries}")
        options = CorpusOptions(input_format, output_format, tokenizer, split_sentences, scheme, batch_size,
                                text_field)
        path = model or bundled_model()
        source = ModelSource.shipped(path) if ship_model else ModelSource.shared(path)

        def progress(outcome, done, total, rate):
            if outcome.status == "failed":
                typer.echo(f"nertag: error: {outcome.error}" if outcome.error.startswith(outcome.name) else
                           f"nertag: error: {outcome.name}: {outcome.error}", err=True)
            elif outcome.status == "tagged" and not quiet:  # (the skipped ones are counted in the summary)
                typer.echo(f"[{done}/{total}] {outcome.name}: {outcome.tokens:,} tokens in {outcome.seconds:.1f} s; "
                           f"{rate:,.0f} tokens/s", err=True)

        with connect(scheduler, workers) as client:
            report = run(client, inputs, output_dir, source, options, retries=retries, progress=progress)
        tagged, skipped, failed = report.of("tagged"), report.of("skipped"), report.of("failed")
        typer.echo(f"{len(report.outcomes)} files: {len(tagged)} tagged, {len(skipped)} skipped (finished "
                   f"before), {len(failed)} failed; {sum(o.tokens for o in tagged):,} tokens in "
                   f"{report.seconds:.1f} s ({report.tokens_per_second:,.0f} tokens/s); output in {output_dir}")
        if failed:
            raise NertagError(f"{len(failed)} of {len(report.outcomes)} files failed: "
                              f"{', '.join(o.name for o in failed[:5])}{' ...' if len(failed) > 5 else ''}")


# ----------------------------------------------------------------------------------------------------------
@app.command(name="convert")
def convert_command(
    input_file: Path = typer.Argument(..., readable=False, help="CoNLL file to convert (- is standard input).",
                                      show_default=False),
    to: str = typer.Option(..., "--to", metavar="iob1|iob2|bioes", help="Target scheme: iob1, iob2 (bio) or bioes (iobes).",
                           show_default=False),
    source_scheme: Optional[str] = typer.Option(None, "--from", help="Source scheme [default: detected]."),
    tag_col: int = typer.Option(-1, help="Column of the tag."),
    output: Optional[Path] = path_option(None, "--output", "-o", help="Write to this file instead of standard "
                                                                     "output."),
):
    """Convert the tag column of a CoNLL file to another tag scheme."""
    with errors_for_people():
        target = check_scheme(to)
        declared = check_scheme(source_scheme) if source_scheme else None
        if output is not None:
            _output_file(output, "converted data")
        if str(input_file) == "-":
            source = _stdin()
            sentences, layout = load_conll(source, tag_col=tag_col, scheme=declared), source.layout
        else:
            sentences, layout = load_conll_file(_existing_file(input_file, "input"), 0, tag_col, scheme=declared)
        source_scheme = declared or detect_scheme(s.tags for s in sentences)
        converted = convert_tags(sentences, source_scheme, target, tag_col)
        with output_file(output) if output is not None else contextlib.nullcontext(standard_output()) as out:
            write_conll(converted, out, delimiter=layout.delimiter, closing=layout.closing)


# ----------------------------------------------------------------------------------------------------------
@app.command()
def info(model: Optional[Path] = path_option(None, "--model", "-m", help="Model directory [default: the bundled "
                                                                        "model]."),
         as_json: bool = typer.Option(False, "--json", help="Everything known about the model, as JSON."),
         system: bool = typer.Option(False, "--system", help="The machine instead: versions, BLAS library and "
                                                              "kernel (threadpoolctl), threads, compiled kernels.")):
    """What a model is: a short summary (its card), or all of it with --json; --system for the machine."""
    from . import model_card

    with errors_for_people():
        if system:
            typer.echo("\n".join(model_card.system()))
            return
        path = model or bundled_model()
        tagger = _model(path)
        if not as_json:
            typer.echo("\n".join(model_card.summary(tagger, Path(path))))
            return
        summary = {
            "model": str(path),
            **{k: v for k, v in tagger.meta.items() if k not in ("format", "format_version")},
            "running_nertag": __version__,
            "output_scheme": tagger.output_scheme,
            "tags": tagger.tags.tokens,
            "vocabulary": {"words": len(tagger.words), "chars": len(tagger.chars), "tags": len(tagger.tags)},
            "parameters": len(tagger.buffer),
            "config": tagger.config.to_dict(),
        }
        typer.echo(json.dumps(summary, indent=2))

