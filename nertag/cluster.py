"""A Dask cluster to run on: an existing one by its scheduler's address, or one started on this machine.

Dask (``pip install 'nertag[dask]'``) is optional: nothing here imports it until it is used, and
`require_dask` turns its absence into a one-line error. Every worker is meant to run one task at a time
with one BLAS thread: tagging and training are a stream of small matrix products, and N processes with one
thread each beat one process with N threads (see :mod:`nertag.parallel`). A local cluster is started so; on
a real cluster start the workers with ``--nthreads 1`` (the nanny sets ``OMP_NUM_THREADS=1`` and its kin
before a worker's BLAS loads, Dask's default ``distributed.nanny.pre-spawn-environ``), and the tasks cap
BLAS at one thread again with threadpoolctl.
"""
from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .errors import NertagError

LOCAL = "local"  # the scheduler "address" that starts a cluster on this machine


def require_dask() -> None:
    """A NertagError saying how to install Dask when ``dask.distributed`` cannot be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise NertagError("this needs Dask, which is not installed: pip install 'nertag[dask]' "
                          "(or pip install 'dask[distributed]')") from None


@contextlib.contextmanager
def connect(scheduler: str, workers: int = 2) -> Iterator:
    """A ``distributed.Client`` of the cluster at ``scheduler`` (``tcp://host:8786``, a scheduler file's
    path ending in ``.json``), or of a `LOCAL` one of ``workers`` processes with one thread each, closed
    (and the local cluster stopped) on leaving.
    """
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler == LOCAL:
        import dask

        if workers < 1:
            raise NertagError(f"--workers must be at least 1, got {workers}")
        # Processes, one thread each. The dashboard on any free port (8787 may be taken). Without the
        # workers' statistical profiler, which samples the tagging thread's stack every 10 ms: one file of
        # 3,000 lines took a worker 1.09-1.35 s with it, 0.94-1.05 s without (in-process 0.96-1.13 s; a busy
        # machine, two runs each). The nanny hands this config on to the workers.
        with dask.config.set({"distributed.worker.profile.enabled": False}), \
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                             silence_logs=40) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = (Client(scheduler_file=scheduler, timeout="30s") if scheduler.endswith(".json")
                  else Client(scheduler, timeout="30s"))
    except (OSError, TimeoutError) as e:
        raise NertagError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    with client:
        yield client


# -- runs of a sweep: shell commands, one per worker at a time ------------------------------------------------
@dataclass(frozen=True)
class CommandResult:
    """How one command of a sweep ended: its exit code (None: it could not be run) and error text."""

    command: str
    returncode: int | None
    seconds: float
    error: str = ""


def run_command(command: str) -> CommandResult:
    """Run ``command`` with ``bash -c`` where this is called (a Dask worker), stdout and stderr kept by it.

    The command itself says where its output goes (the sweep's runs write logs beside their models).
    """
    start = time.perf_counter()
    try:
        done = subprocess.run(["bash", "-c", command], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as e:
        return CommandResult(command, None, time.perf_counter() - start, str(e))
    tail = done.stderr.strip().splitlines()[-3:]
    return CommandResult(command, done.returncode, time.perf_counter() - start, " / ".join(tail))


def run_commands(client, commands: Sequence[str], retries: int = 1,
                 progress: Callable[[CommandResult, int, int], None] | None = None) -> list[CommandResult]:
    """Run shell ``commands`` as Dask tasks, each on one worker (a one-thread worker runs one at a time).

    A command whose worker dies is run again by the scheduler; one that exits non-zero is retried
    ``retries`` times (the sweep's runs resume from their checkpoints). Returns the last result of each
    command, in the order given; ``progress(result, done, total)`` is called as each ends.
    """
    from distributed import as_completed

    # pure=False: two equal commands are two runs; each its own key, so that none waits for another.
    futures = {client.submit(_checked, c, pure=False, retries=retries): i for i, c in enumerate(commands)}
    results: list[CommandResult | None] = [None] * len(commands)
    for n, future in enumerate(as_completed(futures), 1):
        i = futures[future]
        if future.status == "error":
            error = future.exception()
            results[i] = CommandResult(commands[i], None, 0.0, f"{type(error).__name__}: {error}")
        else:
            results[i] = future.result()
        if progress is not None:
            progress(results[i], n, len(commands))
    return results


class CommandFailed(Exception):
    """A sweep's command exited non-zero (raised in the worker, so that Dask retries it)."""


def _checked(command: str) -> CommandResult:
    result = run_command(command)
    if result.returncode != 0:
        raise CommandFailed(f"exit code {result.returncode}: {result.error}")
    return result
