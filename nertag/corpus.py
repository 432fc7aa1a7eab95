"""Tagging a corpus of files on a Dask cluster, file by file: each input file (a partition) gives one output file.

`tag_corpus` plans the partitions on the client, skips those a sidecar proves finished, and submits the
others as Dask tasks; `tag_file` is what a task runs, and what `nertag tag` would write for that file.

The model reaches the workers once, not inside every task: either by its path on a filesystem they all see
(`ModelSource.shared`), or by its files' bytes, read once on the client and scattered to every worker
(`ModelSource.shipped`). Each worker process loads it on its first task and keeps it (`_worker_tagger`),
keyed by the digest of its files, with BLAS capped at one thread. Inputs and outputs are paths the workers
see as the client does (a shared filesystem, or one machine).

A partition is finished when its output exists and its sidecar ``.NAME.done`` (written after the output,
both atomically) records the input's size and modification time, the output's size, and the settings it
was tagged with: the model's digest, the options and nertag's version. A re-run (after a crash, Ctrl-C or
a killed job) skips finished partitions and tags the rest; a changed input, model or option is tagged again.

Failures: bad data (`NertagError`, e.g. a line that is not UTF-8) fails the same way every time, so its
partition is reported at once with the message naming file and line; any other error is retried by Dask
``retries`` times, and a task whose worker dies is run again on another one (up to Dask's
``distributed.scheduler.allowed-failures``) before it is reported. Nothing else is dropped: the report
lists every partition as tagged, skipped or failed.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .data.conll import docstart_line, read_conll
from .data.schemes import check_scheme
from .data.text import TOKENIZERS, read_text, text_line
from .errors import DataError, NertagError, excerpt
from .files import output_file, parse_json, read_json_file, stale_temporary_files, write_json
from .formats import CONFIDENCE_FORMATS, OUTPUT_FORMATS, LineTap, footer, format_tagged, header
from .model_dir import ModelDir
from .tagger import WINDOW, _windows, sentence_length  # windows of WINDOW sentences, as `nertag tag` reads ahead

INPUT_FORMATS = ("text", "jsonl", "conll")
EXTENSIONS = {"conll": ".conll", "inline": ".txt", "jsonl": ".jsonl", "html": ".html"}  # of the output files
DONE_SUFFIX = ".done"


@dataclass(frozen=True)
class CorpusOptions:
    """How each file is read and written, as the options of `nertag tag` say (``text_field``: of JSONL input)."""

    input_format: str = "text"
    output_format: str = "conll"
    tokenizer: str = "ptb"
    split_sentences: bool = False
    scheme: str | None = None
    batch_size: int = 64
    text_field: str = "text"

    def __post_init__(self):
        if self.input_format not in INPUT_FORMATS:
            raise NertagError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}, got {self.input_format!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise NertagError(f"--output-format must be one of {', '.join(OUTPUT_FORMATS)}, "
                              f"got {self.output_format!r}")
        if self.tokenizer not in TOKENIZERS:
            raise NertagError(f"--tokenizer must be one of {', '.join(TOKENIZERS)}, got {self.tokenizer!r}")
        if self.batch_size < 1:
            raise NertagError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.scheme is not None:
            object.__setattr__(self, "scheme", check_scheme(self.scheme))


# -- the files of a corpus --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Partition:
    """One input file, the output file it gives and the sidecar that proves the output finished."""

    name: str        # the input as given (or found in a directory given), for messages
    source: Path     # absolute, for the workers
    output: Path     # absolute

    @property
    def done_file(self) -> Path:
        return self.output.with_name(f".{self.output.name}{DONE_SUFFIX}")


def plan(inputs: Sequence[str | os.PathLike], output_dir: str | os.PathLike, output_format: str) -> list[Partition]:
    """The partitions of ``inputs``: files, and the files under directories (recursively, sorted, hidden
    ones left out); each writes ``output_dir/<its path under the directory, or its name>`` with the output
    format's extension in place of its own (``a.txt.gz`` -> ``a.conll``).

    Raises
    ------
    NertagError
        For an input that does not exist, an output directory that is a file, two inputs that would write
        the same output file, or an output that would replace its own input.
    """
    out_dir = Path(output_dir).absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise NertagError(f"{output_dir}: is a file, expected the output directory")
    found: list[tuple[str, Path, Path]] = []  # name, source, path relative to the output directory
    for given in map(Path, inputs):
        if given.is_dir():
            files = sorted(p for p in given.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(given).parts))
            if not files:
                raise NertagError(f"{given}: directory without input files")
            found += [(str(p), p.absolute(), p.relative_to(given)) for p in files]
        elif given.exists():
            found.append((str(given), given.absolute(), Path(given.name)))
        else:
            raise NertagError(f"{given}: no such file (input)")
    if not found:
        raise NertagError("no input files given")
    partitions, writers = [], {}
    for name, source, relative in found:
        stem = relative.name.removesuffix(".gz")
        stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
        output = out_dir / relative.parent / (stem + EXTENSIONS[output_format])
        if output in writers:
            raise NertagError(f"{name} and {writers[output]} would both write {output}; give them different "
                              f"names or put them in different directories")
        if output.exists() and output.resolve() == source.resolve():
            raise NertagError(f"{name}: the output {output} would replace this input; choose another -o")
        writers[output] = name
        partitions.append(Partition(name, source, output))
    return partitions


def _input_stamp(path: Path) -> dict:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}


def finished(partition: Partition, settings: dict) -> dict | None:
    """The sidecar of a partition finished with these ``settings`` from its input as it is now, else None."""
    try:
        done = read_json_file(partition.done_file, "partition record")
        if (done.get("input") == _input_stamp(partition.source) and done.get("settings") == settings
                and partition.output.stat().st_size == done.get("output_size")):
            return done
    except (OSError, NertagError, AttributeError):  # missing, unreadable or damaged: not proven finished
        pass
    return None


# -- the model, on the workers -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSource:
    """Where the workers get the model: ``path`` (shared), or ``files`` (name -> bytes, shipped); ``digest``
    is the SHA-256 of the files, which names the model in the workers' cache and in the sidecars."""

    digest: str
    path: str | None = None
    files: dict[str, bytes] | None = field(default=None, repr=False)

    @classmethod
    def shared(cls, model_dir: str | os.PathLike) -> ModelSource:
        ModelDir.existing(model_dir)  # checked here, with the client's message, before any task
        return cls(_digest(_read_files(model_dir)), path=str(Path(model_dir).absolute()))

    @classmethod
    def shipped(cls, model_dir: str | os.PathLike) -> ModelSource:
        ModelDir.existing(model_dir)
        files = _read_files(model_dir)
        return cls(_digest(files), files=files)

    def load(self):
        from .tagger import Tagger

        if self.path is not None:
            return Tagger.load(self.path)
        with tempfile.TemporaryDirectory(prefix="nertag-model-") as directory:  # loaded whole, then removed
            for name, data in self.files.items():
                Path(directory, name).write_bytes(data)
            return Tagger.load(directory)


def _read_files(model_dir) -> dict[str, bytes]:
    """The bytes of the files `Tagger.load` reads, by name."""
    d = ModelDir(Path(model_dir))
    files = {}
    for path in (d.config_file, d.vocab_file, d.meta_file, d.weights_file):
        with contextlib.suppress(FileNotFoundError):  # meta.json may be missing in an old model
            files[path.name] = path.read_bytes()
    return files


def _digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + len(files[name]).to_bytes(8, "little") + files[name])
    return h.hexdigest()


_cache: dict[str, object] = {}  # digest -> Tagger, in a worker process
_lock = threading.Lock()  # a worker with several threads tags one partition at a time (one tagger, one BLAS)


def _worker_tagger(model: ModelSource):
    """The worker's tagger of ``model``, loaded on its first task; BLAS capped at one thread then."""
    tagger = _cache.get(model.digest)
    if tagger is None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
        tagger = _cache[model.digest] = model.load()
    return tagger


# -- one partition -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What became of one partition: tagged (with its counts), skipped (finished before) or failed."""

    name: str
    status: str          # "tagged", "skipped" or "failed"
    sentences: int = 0
    tokens: int = 0
    seconds: float = 0.0
    error: str = ""
    worker: int | None = None  # process id of the worker that tagged it


def tag_file(tagger, source: LineTap, out, options: CorpusOptions) -> tuple[int, int]:
    """Tag the file open as ``source`` into the text stream ``out`` as `nertag tag` writes it; returns the
    numbers of sentences (records) and tokens."""
    if options.input_format == "text":
        sentences = read_text(source, options.tokenizer, options.split_sentences)
    elif options.input_format == "jsonl":
        sentences = _jsonl_lines(source, options.text_field, options.tokenizer, options.split_sentences)
    else:
        sentences = read_conll(source, word_col=0, tag_col=None, empty_ok=True)
    counts = [0, 0]

    def counted(items):
        for item in items:
            counts[0] += 1
            counts[1] += sentence_length(item)
            yield item

    render = functools.partial(format_tagged, output_format=options.output_format, layout=source.layout)
    out.write(header(options.output_format))
    for text in tagger.tag_windows(_windows(counted(sentences), WINDOW), options.batch_size, scheme=options.scheme,
                                   source=source.name, confidence=options.output_format in CONFIDENCE_FORMATS,
                                   render=render):
        out.write(text)
    if options.input_format == "conll" and options.output_format == "conll" and source.layout.closing is not None:
        out.write(docstart_line(source.layout.closing, True, source.layout.delimiter) + "\n")
    out.write(footer(options.output_format))
    return counts[0], counts[1]


def _jsonl_lines(source, text_field: str, tokenizer: str, split: bool):
    """The ``text_field`` of each JSON object of a JSONL file, as text lines (a blank line: an empty one)."""
    from .data._lines import iter_lines

    for number, line in iter_lines(source):
        if not line.strip():
            yield text_line("", tokenizer, split, number)
            continue
        where = f"{source.name}:{number}"
        try:
            record = parse_json(line, where, "JSON line")
        except NertagError as e:
            raise DataError(str(e).removeprefix(f"{where}: "), source.name, number) from None
        text = record.get(text_field) if isinstance(record, dict) else None
        if not isinstance(text, str):
            what = "no" if not isinstance(record, dict) or text_field not in record else "a non-string"
            raise DataError(f"expected a JSON object with a string field {text_field!r}, got {what} "
                            f"{text_field!r} in {excerpt(line)}", source.name, number)
        yield text_line(text, tokenizer, split, number)


def tag_partition(partition: Partition, model: ModelSource, options: CorpusOptions, settings: dict) -> Outcome:
    """A Dask task: tag one partition into its output file, then write its sidecar (both atomically).

    Bad data comes back as a failed `Outcome` (retrying it would fail the same way); any other error is
    raised, for Dask to retry the task.
    """
    from .data._lines import open_binary

    start = time.perf_counter()
    with _lock:
        tagger = _worker_tagger(model)
        partition.output.parent.mkdir(parents=True, exist_ok=True)
        stamp = _input_stamp(partition.source)
        try:
            with open_binary(partition.source) as raw, output_file(partition.output) as out:
                sentences, tokens = tag_file(tagger, LineTap(raw, partition.name), out, options)
        except NertagError as e:
            return Outcome(partition.name, "failed", error=str(e), worker=os.getpid())
    seconds = time.perf_counter() - start
    write_json(partition.done_file, {"input": stamp, "output_size": partition.output.stat().st_size,
                                     "settings": settings, "sentences": sentences, "tokens": tokens,
                                     "seconds": round(seconds, 3), "source": str(partition.source)})
    return Outcome(partition.name, "tagged", sentences, tokens, seconds, worker=os.getpid())


# -- the corpus --------------------------------------------------------------------------------------------
@dataclass
class CorpusReport:
    """Every partition's `Outcome`, in the order of the inputs, and the wall-clock seconds of the run."""

    outcomes: list[Outcome]
    seconds: float

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def ok(self) -> bool:
        return not self.of("failed")

    @property
    def tokens_per_second(self) -> float:
        """Tokens tagged in this run per second of it (skipped partitions not counted)."""
        return sum(o.tokens for o in self.of("tagged")) / self.seconds if self.seconds > 0 else 0.0


def _remove_stale(partitions: list[Partition]) -> None:
    """Remove what a killed run left half-written of these outputs and records (`atomic_open`'s temporaries,
    ``.NAME.XXXXXXXX.tmp``), one directory listing per output directory."""
    names: dict[Path, set[str]] = {}
    for p in partitions:
        names.setdefault(p.output.parent, set()).update((p.output.name, p.done_file.name))
    for directory, wanted in names.items():
        for stale in stale_temporary_files(directory):
            if stale.name[1:].rsplit(".", 2)[0] in wanted:
                stale.unlink(missing_ok=True)


def settings_of(model: ModelSource, options: CorpusOptions) -> dict:
    """What a finished partition must have been tagged with to be skipped."""
    return {"model": model.digest, "options": asdict(options), "nertag": __version__}


def tag_corpus(client, inputs: Sequence[str | os.PathLike], output_dir: str | os.PathLike, model: ModelSource,
               options: CorpusOptions = CorpusOptions(), *, retries: int = 2,
               progress: Callable[[Outcome, int, int, float], None] | None = None) -> CorpusReport:
    """Tag every input file on the cluster of ``client`` into ``output_dir``, one output file per input.

    Partitions proven finished (see the module's notes) are skipped, the others submitted, the largest
    first (the last to finish is small). ``progress(outcome, done, total, tokens_per_second)`` is called as
    each partition ends (also for skipped ones, at the start).

    Returns
    -------
    CorpusReport
        Tagged, skipped and failed partitions; `CorpusReport.ok` is False if any failed.
    """
    from distributed import as_completed

    partitions = plan(inputs, output_dir, options.output_format)
    settings = settings_of(model, options)
    start = time.perf_counter()
    outcomes: dict[int, Outcome] = {}
    todo = []
    for i, partition in enumerate(partitions):
        done = finished(partition, settings)
        if done is None:
            todo.append(i)
        else:
            outcomes[i] = Outcome(partition.name, "skipped", done.get("sentences", 0), done.get("tokens", 0))
    count, tokens = 0, 0
    for i in outcomes:
        count += 1
        if progress is not None:
            progress(outcomes[i], count, len(partitions), 0.0)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    _remove_stale([partitions[i] for i in todo])
    # The model's files travel once to each worker (a shared path is only a string).
    shipped = client.scatter(model, broadcast=True) if model.files is not None else model
    todo.sort(key=lambda i: -partitions[i].source.stat().st_size)
    futures = {client.submit(tag_partition, partitions[i], shipped, options, settings, retries=retries,
                             key=f"nertag-partition-{i}-{settings['model'][:8]}-{time.time_ns()}"): i
               for i in todo}
    for future in as_completed(futures):
        i = futures[future]
        if future.status == "error":
            error = future.exception()
            message = str(error) or type(error).__name__
            if type(error).__name__ == "KilledWorker":
                message = "its workers died while tagging it (out of memory?)"
            outcomes[i] = Outcome(partitions[i].name, "failed", error=message)
        else:
            outcomes[i] = future.result()
        future.release()
        count += 1
        tokens += outcomes[i].tokens
        if progress is not None:
            progress(outcomes[i], count, len(partitions), tokens / max(time.perf_counter() - start, 1e-9))
    return CorpusReport([outcomes[i] for i in range(len(partitions))], time.perf_counter() - start)
