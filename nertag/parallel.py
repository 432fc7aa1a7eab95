"""Tagging a stream: windows read ahead by a thread that notices pauses, and worker processes.

`read_ahead` cuts a stream of sentences into windows for :meth:`nertag.tagger.Tagger.tag_windows`: a window
is full at ``window`` sentences, and ends early when nothing more has come for ``pause`` seconds, so that
what has arrived is tagged and written while the input waits (a pipe, a terminal).

`WorkerPool` tags windows in ``jobs`` processes with one BLAS thread each: the per-step products of the
recurrent layers are small, and N processes with one thread each beat one process with N threads. The
results come back in input order, with at most ``in_flight`` windows read but not yet returned; each
window is shared among the workers in tasks of whole batches, the longest first.

On two cores the parent must do almost nothing: it reads, checks the lengths, and moves strings. Lines of
raw text (`RawLine`) travel to the workers untokenised and are tokenised there (their tokens would cost more
to pickle and rebuild than to make); tokenised lines travel as text, words and offsets (`_pack`). With a
``render`` function the workers also format the output, so that what comes back is text in place of Tagged
objects to unpickle and format. Windows are cut into tasks by `nertag.tagger.task_plan`, as one process
tags them, so the results are the same bit for bit with any number of workers.
"""
from __future__ import annotations

import collections
import operator
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .data.text import TextLine, Token

if TYPE_CHECKING:
    from .tagger import Tagged, Tagger

PAUSE = 0.05  # seconds without input after which what has arrived is tagged
# Read by BLAS and OpenMP libraries when they load: set in the workers' environment before numpy is imported.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}


def read_ahead(items: Iterable, window: int, pause: float = PAUSE) -> Iterator[list]:
    """Consecutive lists of at most ``window`` items, read from ``items`` by a thread.

    A list ends early when no item has come for ``pause`` seconds; an empty list then follows it, to say
    that the input is idle (e.g. `WorkerPool.map` then returns every result it holds). An error raised
    by ``items`` is raised here after the items before it.

    The reader holds at most ``window`` items not yet taken; the consumer takes all it holds at once
    (not item by item through a queue: the thread switches cost more than the reading). The reading
    thread is a daemon: it stops when the lists are no longer consumed, unless it is blocked reading
    ``items``.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, not {window}")
    held: collections.deque = collections.deque()  # read, not yet taken
    state = {"done": False, "error": None, "stop": False}
    changed = threading.Condition()

    def read() -> None:
        try:
            for item in items:
                with changed:
                    while len(held) >= window and not state["stop"]:
                        changed.wait(0.1)
                    if state["stop"]:
                        return
                    held.append(item)
                    if len(held) == 1:  # the consumer waits only for an empty buffer
                        changed.notify()
        except BaseException as error:  # handed to the consumer, raised there
            state["error"] = error
        finally:
            with changed:
                state["done"] = True
                changed.notify()

    threading.Thread(target=read, name="nertag-read-ahead", daemon=True).start()
    chunk: list = []
    try:
        while True:
            with changed:
                came = changed.wait_for(lambda: bool(held) or state["done"], timeout=pause if chunk else None)
                take = min(len(held), window - len(chunk))
                chunk += [held.popleft() for _ in range(take)]
                if take:
                    changed.notify()  # room for the reader
                finished = state["done"] and not held
            if not came:  # the input paused
                yield chunk
                yield []
                chunk = []
            elif len(chunk) == window or (finished and chunk):
                yield chunk
                chunk = []
            if finished and not chunk:
                if state["error"] is not None:
                    raise state["error"]
                return
    finally:
        with changed:
            state["stop"] = True
            changed.notify()


# -- worker processes ---------------------------------------------------------------------------------------
_worker_tagger: Tagger | None = None


def _start_worker(tagger, description, weights) -> None:
    """Set up the tagger of this worker once; Ctrl-C is for the parent, which then ends the workers.

    A forked worker has the parent's `tagger` already (its memory, shared until written); a spawned one
    builds its own from ``description`` and ``weights``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # also when a worker is restarted (the parent's SIGINT is live)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # the environment already says so; a BLAS that ignores it is capped here
    global _worker_tagger
    if tagger is None:
        from .tagger import Tagger

        d = description
        tagger = Tagger(d.config, d.words, d.chars, d.tags, d.meta)
        tagger.buffer.data[...] = weights
    _worker_tagger = tagger


def _start_method() -> str:
    import multiprocessing  # here: one process (--jobs 1, the reader threads) never loads it (~4 ms)
    forkable = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    return "fork" if forkable else "spawn"


def _pack(sentences: list) -> tuple[bool, list]:
    """A task's sentences as they travel to a worker: TextLines as ``(text, line, words, starts, ends, breaks)``
    tuples (pickling a list of Token tuples costs twice as much), anything else as it is."""
    if not all(type(sentence) is TextLine for sentence in sentences):
        return False, sentences
    return True, [(s.text, s.line, list(map(_TEXT, t)), list(map(_START, t)), list(map(_END_OFFSET, t)), s.breaks)
                  for s in sentences for t in (s.tokens,)]


def _unpack(packed: tuple[bool, list]) -> list:
    lines, sentences = packed
    if not lines:
        return sentences
    return [TextLine(text, list(map(Token._make, zip(words, starts, ends))), line, breaks)
            for text, line, words, starts, ends, breaks in sentences]


_TEXT, _START, _END_OFFSET = (operator.itemgetter(i) for i in range(3))  # the fields of a Token


def _tag_in_worker(packed: tuple[bool, list], scheme: str, batch_size: int, confidence: bool, render) -> list:
    """Tag a task's sentences (packed by `_pack`): Tagged each, or each rendered by ``render``."""
    from .tagger import tokenized

    tagger = _worker_tagger
    sentences = [tokenized(sentence) for sentence in _unpack(packed)]                # RawLines tokenised here
    tagged = tagger._tag_window(tagger._prepare(sentences, "<input>"), scheme, batch_size, confidence)
    return tagged if render is None else list(map(render, sentences, tagged))


class WorkerPool:
    """``jobs`` processes, each with a copy of ``tagger`` and one BLAS thread, started by ``with``.

    Parameters
    ----------
    tagger : Tagger
        A forked worker shares it; a spawned one is sent its description and weights once.
    jobs : int
    in_flight : int, optional
        Windows sent to the workers and not yet returned, at most (default 2): bounds memory.

    start_method : {"fork", "spawn"}, optional
        Default: ``"fork"`` where it exists and this process runs one thread (the workers start at once,
        sharing the loaded model; BLAS is capped at one thread in each), else ``"spawn"``: fresh
        interpreters that load numpy under the one-thread environment set here (a fork beside other
        threads could inherit a lock one of them holds).

    Leaving the ``with`` block by an exception (Ctrl-C, a closed output) terminates the workers at once.
    """

    def __init__(self, tagger: Tagger, jobs: int, in_flight: int | None = None, start_method: str | None = None):
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self.tagger, self.jobs, self.start_method = tagger, jobs, start_method
        self.in_flight = max(1, in_flight or 2)
        self._pool = None

    def __enter__(self) -> WorkerPool:
        import multiprocessing
        method = self.start_method or _start_method()
        context = multiprocessing.get_context(method)
        initargs = ((self.tagger, None, None) if method == "fork"
                    else (None, self.tagger.description, self.tagger.buffer.data))
        saved = {name: os.environ.get(name) for name in ONE_THREAD}
        os.environ.update(ONE_THREAD)
        # An ignored SIGINT is inherited through exec: Ctrl-C reaches only this process, even while the
        # workers start (a signal handler can only be set in the main thread).
        in_main = threading.current_thread() is threading.main_thread()
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            self._pool = context.Pool(self.jobs, _start_worker, initargs)
        finally:
            if in_main:
                signal.signal(signal.SIGINT, handler)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()

    def map(self, windows: Iterable[list], scheme: str, batch_size: int, confidence: bool, source: str = "<input>",
            render=None) -> Iterator[list[Tagged] | str]:
        """The results of each window of sentences, in order (see `Tagger.tag_windows`, which documents
        ``render``: the workers call it, and return text).

        A window is checked (sentence lengths) and cut into tasks here by `nertag.tagger.task_plan`, as one
        process cuts it (so the results are the same, bit for bit); the workers take tasks as they become
        free. An empty window (the input is idle, see `read_ahead`) returns every result held.
        """
        pending: collections.deque = collections.deque()  # (window, [(indices, AsyncResult)])
        windows = iter(windows)
        while True:
            try:
                window = next(windows)
                lengths = self.tagger._lengths(window, source)
            except StopIteration:
                break
            except Exception:  # bad input: what came before it is still returned, as in one process
                while pending:
                    yield _collect(*pending.popleft(), render)
                raise
            if not window:
                while pending:
                    yield _collect(*pending.popleft(), render)
                yield "" if render is not None else []
                continue
            pending.append(self._submit(window, lengths, scheme, batch_size, confidence, render))
            while pending and (len(pending) >= self.in_flight or all(task.ready() for _, task in pending[0][1])):
                yield _collect(*pending.popleft(), render)
        while pending:
            yield _collect(*pending.popleft(), render)

    def _submit(self, window: list, lengths: list[int], scheme: str, batch_size: int, confidence: bool,
                render) -> tuple[list, list]:
        from .tagger import task_plan

        tasks = []
        for indices in task_plan(lengths, batch_size):
            tasks.append((indices, self._pool.apply_async(
                _tag_in_worker, (_pack([window[i] for i in indices]), scheme, batch_size, confidence, render))))
        return window, tasks


def _collect(window: list, tasks: list, render) -> list[Tagged] | str:
    """The results of one window: its tasks' results put back in the window's order."""
    from .tagger import Tagged, tokenized

    results: list = [None] * len(window)
    for indices, task in tasks:
        for i, result in zip(indices, task.get()):
            results[i] = result
    for i, result in enumerate(results):
        if result is None:  # an empty sentence: in no task
            results[i] = Tagged([], [], []) if render is None else render(tokenized(window[i]), Tagged([], [], []))
    return results if render is None else "".join(results)
