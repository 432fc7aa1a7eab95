"""Input is read once (issue 22): a pipe, ``/dev/stdin`` or a process substitution gives what the file gives;
CR-only line ends are line ends; a FIFO without a writer or a file without line ends is an error, not a hang.

Commands run in-process with CliRunner where that is faithful, as real processes where pipes are the point.
"""
from __future__ import annotations

import gzip
import io
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cli_results import assert_error, nertag
from probes import PYTHON, TRAIN, assert_process_error, run

from nertag.data._lines import byte_lines, iter_lines, readable
from nertag.data.conll import load_conll


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    """Files over 64 KiB (more than one read block): space- and TAB-separated (words with spaces), gzipped."""
    directory = tmp_path_factory.mktemp("corpora")
    text = ("-DOCSTART- O\n\n" + TRAIN.read_text()) * 5
    spaced = directory / "spaced.conll"
    spaced.write_text(text)
    tabbed = directory / "tabbed.conll"
    tabbed.write_text("".join(line.replace(" ", "\t").replace("\t", " of\t", 1) if line.strip() and
                              not line.startswith("-DOCSTART-") else line for line in text.splitlines(True)))
    zipped = directory / "spaced.conll.gz"
    zipped.write_bytes(gzip.compress(text.encode(), mtime=0))
    return {"spaced": spaced, "tabbed": tabbed, "gzipped": zipped}




@pytest.mark.parametrize("kind", ["spaced", "tabbed", "gzipped"])
def test_a_pipe_gives_what_the_file_gives(corpora, kind, model):
    path = corpora[kind]
    assert path.stat().st_size > 1 << 16 or kind == "gzipped"
    m = f"{PYTHON} -m nertag"
    tag = f"tag --model {model} --input-format conll"
    commands = {
        "tag": (f"{m} {tag} --input {path}",
                [f"cat {path} | {m} {tag} --input /dev/stdin", f"{m} {tag} --input <(cat {path})",
                 f"cat {path} | {m} {tag} --input -"]),
        "convert": (f"{m} convert {path} --to bioes",
                    [f"cat {path} | {m} convert /dev/stdin --to bioes", f"cat {path} | {m} convert - --to bioes",
                     f"{m} convert <(cat {path}) --to bioes"]),
    }
    with ThreadPoolExecutor(4) as pool:  # the processes run side by side: each is mostly nertag's start-up
        outcomes = {command: pool.submit(run, command) for reference, piped in commands.values()
                    for command in (reference, *piped)}
    for reference, piped in commands.values():
        expected = outcomes[reference].result()
        assert expected.returncode == 0, expected.stderr
        if kind == "tabbed":
            assert b" of\t" in expected.stdout
        assert expected.stdout.count(b"-DOCSTART-") == 5
        for command in piped:
            got = outcomes[command].result()
            assert (got.returncode, got.stdout) == (0, expected.stdout), (command, got.stderr)


def test_detection_reads_nothing_twice():
    """Gzip magic and line ends are learnt from bytes read once, even when they come one at a time."""
    text = TRAIN.read_bytes()
    for data in (text, gzip.compress(text), text.replace(b"\n", b"\r\n"), text.replace(b"\n", b"\r")):
        stream = io.BytesIO(data)
        lines = list(byte_lines(readable(lambda n: stream.read(min(n, 1)), "x"), "x"))
        assert b"".join(lines).replace(b"\r\n", b"\n") == text


@pytest.mark.parametrize("end", [b"\r", b"\r\n"])
def test_cr_only_and_crlf_line_ends_are_line_ends(tmp_path, end):
    path = tmp_path / "mac.conll"
    path.write_bytes(TRAIN.read_bytes().replace(b"\n", end))
    assert [line for _, line in iter_lines(path)] == TRAIN.read_text().splitlines()
    got, expected = load_conll(path), load_conll(TRAIN)
    assert [(s.words, s.tags, s.line) for s in got] == [(s.words, s.tags, s.line) for s in expected]
    converted = nertag("convert", path, "--to", "bioes")
    assert (converted.exit_code, converted.stdout) == (0, nertag("convert", TRAIN, "--to", "bioes").stdout)


def test_a_file_without_line_ends_is_refused_not_read_into_memory(tmp_path):
    result = run(f"{PYTHON} -m nertag tag --input /dev/zero --input-format conll")
    assert_process_error(result, "/dev/zero:1: expected lines of text, found a line longer than")
    result = run(f"{PYTHON} -m nertag convert /dev/zero --to bioes")
    assert_process_error(result, "/dev/zero:1:")


def test_a_fifo_without_a_writer_is_an_error_not_a_hang(tmp_path, monkeypatch):
    fifo = tmp_path / "data.conll"
    os.mkfifo(fifo)
    monkeypatch.setenv("NERTAG_FIFO_TIMEOUT", "0.3")
    started = time.monotonic()
    assert_error(nertag("convert", fifo, "--to", "bioes"), f"{fifo}: a FIFO that no process wrote to")
    assert time.monotonic() - started < 10


def test_a_fifo_whose_writer_comes_later_is_read_whole(tmp_path, monkeypatch):
    fifo = tmp_path / "data.conll"
    os.mkfifo(fifo)
    monkeypatch.setenv("NERTAG_FIFO_TIMEOUT", "20")

    def write():
        time.sleep(0.3)
        fifo.write_bytes(TRAIN.read_bytes())

    writer = threading.Thread(target=write)
    writer.start()
    result = nertag("convert", fifo, "--to", "bioes")
    writer.join()
    assert (result.exit_code, result.stdout) == (0, nertag("convert", TRAIN, "--to", "bioes").stdout)
