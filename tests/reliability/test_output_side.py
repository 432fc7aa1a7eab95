"""The output side (issue 22): closed or full standard output and a full disk are one line naming the file,
and the previous file is kept.
"""
from __future__ import annotations

import json

import pytest
from probes import PYTHON, TRAIN, assert_process_error, run

from nertag import files, model_dir
from nertag.model_dir import ModelDir


def test_closed_or_full_standard_output_is_one_line(tmp_path, model):
    m = f"{PYTHON} -m nertag"
    assert_process_error(run(f"echo John | {m} tag >&-"), "<stdout>: standard output is closed")
    assert_process_error(run(f"echo John | {m} tag > /dev/full"), "<stdout>: No space left on device")
    assert_process_error(run(f"{m} convert {TRAIN} --to bioes > /dev/full"), "<stdout>: No space left on device")
    assert_process_error(run(f"{m} convert {TRAIN} --to bioes -o /dev/full"), "/dev/full: No space left on device")
    for command in (f"eval --data {TRAIN} --model {model}", f"info --model {model}"):  # (printed by typer.echo)
        assert_process_error(run(f"{m} {command} > /dev/full"), "<stdout>: No space left on device")


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "meta.json"
    files.write_json(path, {"old": True})

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError) as error:
        files.write_json(path, {"new": True})
    assert error.value.filename == str(path) and error.value.strerror == "No space left on device"
    assert json.loads(path.read_text()) == {"old": True} and list(tmp_path.iterdir()) == [path]


def test_a_full_disk_when_taking_the_lock_names_the_lock_file_and_leaves_none(tmp_path, monkeypatch):
    directory = ModelDir(tmp_path / "run")

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_dir.os, "write", full)
    with pytest.raises(OSError) as error:
        with directory.locked():
            pass
    assert error.value.filename == str(directory.lock_file) and error.value.strerror == "No space left on device"
    assert not directory.lock_file.exists()
