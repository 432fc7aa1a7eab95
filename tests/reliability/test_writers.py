"""One writer at a time, and readers see whole models (issue 22): a second training into a directory is
refused naming the holder, a dead run's lock is taken over, and a reader never loads a half-written model.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from cli_results import assert_error, nertag
from probes import PYTHON, ROOT, TINY, TRAIN

from nertag import model_dir
from nertag.errors import NertagError
from nertag.model_dir import ModelDir
from nertag.tagger import Tagger


def start_training(directory: Path, *extra: str) -> subprocess.Popen:
    """A long training run in its own process, writing ``directory`` (returned once it holds the lock)."""
    args = [PYTHON, "-m", "nertag", "train", "--conll", str(TRAIN), "--model", str(directory), *TINY,
            "--epochs", "1000", "--patience", "1000", *extra]
    process = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while ModelDir(directory).holder() is None:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return process


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_ones_lock_is_taken_over(tmp_path):
    directory = tmp_path / "run"
    first = start_training(directory)
    try:
        assert ModelDir(directory).holder() == first.pid
        while not (directory / "checkpoint.npz").exists():
            time.sleep(0.05)
        # (the run's files; not its temporary files, which come and go as the running training writes)
        before = sorted(p.name for p in directory.iterdir() if not p.name.endswith(".tmp"))
        for args in (["--resume", directory], ["--model", directory, "--overwrite"], ["--model", directory]):
            result = nertag("train", "--conll", TRAIN, *TINY, "--epochs", "1", *args)
            assert_error(result, f"{directory}: a training run (process {first.pid}) is writing")
        assert set(before) <= {p.name for p in directory.iterdir()}  # --overwrite removed nothing
        with pytest.raises(NertagError, match=f"process {first.pid}"):
            with ModelDir(directory).locked():
                pass
    finally:
        first.kill()
        first.wait()
    assert (directory / ".nertag.lock").exists() and ModelDir(directory).holder() is None  # stale
    result = nertag("train", "--conll", TRAIN, "--resume", directory, "--epochs", "1", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert not (directory / ".nertag.lock").exists()


def test_readers_never_see_a_half_written_model(tmp_path):
    directory = tmp_path / "run"
    writer = start_training(directory, "--checkpoint-seconds", "0")
    try:
        deadline = time.monotonic() + 60
        while not (directory / "weights.npz").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        loads, saves = 0, set()
        stop = time.monotonic() + 4
        while time.monotonic() < stop or len(saves) < 2:
            assert time.monotonic() < deadline
            saves.add((directory / "weights.npz").stat().st_mtime_ns)
            tagger = Tagger.load(directory)
            assert len(tagger.tag(["John", "lives", "in", "Berlin"])) == 4
            loads += 1
        assert loads > 5 and len(saves) >= 2
    finally:
        writer.terminate()
        writer.wait(30)
    assert not list(directory.glob(".*.tmp"))


# Windows has no fcntl: the lock is msvcrt's. Here a stand-in msvcrt (POSIX record locks, which like Windows'
# lock a byte range and die with their process) runs the same code in processes that cannot import fcntl.
WITHOUT_FCNTL = """
import fcntl, subprocess, sys, types  # (subprocess first: it takes an importable msvcrt for Windows)
sys.modules["fcntl"] = None
def locking(fd, mode, nbytes):
    fcntl.lockf(fd, fcntl.LOCK_UN if mode == msvcrt.LK_UNLCK else fcntl.LOCK_EX | fcntl.LOCK_NB, nbytes, 0, 1)
msvcrt = types.SimpleNamespace(LK_NBLCK=2, LK_UNLCK=0, locking=locking)
sys.modules["msvcrt"] = msvcrt
from nertag.errors import NertagError
from nertag.model_dir import ModelDir, fcntl as imported
assert imported is None
directory = ModelDir(sys.argv[1])
if sys.argv[2] == "hold":
    with directory.locked():
        print("locked", flush=True)
        sys.stdin.read()
else:
    try:
        with directory.locked():
            print("not locked")
    except NertagError as e:
        print(directory.holder(), e)
"""


def test_without_fcntl_the_lock_is_msvcrts(tmp_path):
    directory = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([PYTHON, "-c", WITHOUT_FCNTL, str(directory), "hold"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        assert (directory / ".nertag.lock").read_text() == f"{holder.pid}\n"
        second = subprocess.run([PYTHON, "-c", WITHOUT_FCNTL, str(directory), "try"], capture_output=True,
                                env=env, text=True, timeout=60)
        assert second.stdout.startswith(f"{holder.pid} {directory}: a training run (process {holder.pid}) is "
                                        f"writing this model directory"), second
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0 and not directory.exists()  # lock file removed, empty directory too
    again = subprocess.run([PYTHON, "-c", WITHOUT_FCNTL, str(directory), "try"], capture_output=True, env=env,
                           text=True, timeout=60)
    assert again.stdout == "not locked\n", again


def test_with_no_lock_at_all_writers_still_work(tmp_path, monkeypatch):
    monkeypatch.setattr(model_dir, "LOCKING", False)
    directory = ModelDir(tmp_path / "run")
    with directory.locked():
        assert directory.path.is_dir() and not directory.lock_file.exists() and directory.holder() is None


def test_a_run_does_not_overwrite_files_it_did_not_write(tmp_path):
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "config.json").write_text('{"mine": 1}')
    (directory / "metrics.jsonl").write_text("my notes\n")
    (directory / "notes.txt").write_text("kept")
    result = nertag("train", "--conll", TRAIN, "--model-dir", directory, *TINY, "--epochs", "1")
    assert_error(result, f"{directory}: holds a file of its own (config.json)", "--overwrite replaces the files")
    assert (directory / "config.json").read_text() == '{"mine": 1}'
    assert (directory / "metrics.jsonl").read_text() == "my notes\n"
    result = nertag("train", "--conll", TRAIN, "--model-dir", directory, *TINY, "--epochs", "1", "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert "mine" not in (directory / "config.json").read_text() and (directory / "notes.txt").read_text() == "kept"
