"""Atomic, reproducible writes and the pickle-free ``.npz`` reader (issue 9)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from nertag import files


def test_write_npz_is_reproducible_and_readable_by_numpy(tmp_path, monkeypatch):
    arrays = {"param/a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array("text"),
              "c": np.asfortranarray(np.eye(3)), "d": np.zeros((0, 4))}
    files.write_npz(tmp_path / "1.npz", arrays)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # another day, another clock
    monkeypatch.setattr(time, "localtime", lambda *a: time.struct_time((2033, 5, 18, 3, 33, 20, 2, 138, 0)))
    files.write_npz(tmp_path / "2.npz", arrays)
    assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "2.npz").read_bytes()
    with np.load(tmp_path / "1.npz", allow_pickle=False) as archive:
        assert archive.files == list(arrays)
        for name, array in arrays.items():
            assert np.array_equal(archive[name], array) and archive[name].dtype == array.dtype
    read = files.read_npz(tmp_path / "1.npz", "test arrays")
    for name, array in arrays.items():
        assert np.array_equal(read[name], array) and read[name].dtype == array.dtype and read[name].shape == array.shape
    assert read["c"].flags.f_contiguous


def test_atomic_open_leaves_the_old_file_when_a_write_fails(tmp_path):
    path = tmp_path / "x.json"
    files.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with files.atomic_open(path) as f:
            f.write('{"half": ')
            raise RuntimeError("killed")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    (tmp_path / ".x.json.1234abcd.tmp").write_text("left by a killed write")
    assert files.stale_temporary_files(tmp_path) == [tmp_path / ".x.json.1234abcd.tmp"]


def test_atomic_open_fsyncs_then_renames(tmp_path, monkeypatch):
    import os
    calls, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", Path(src).name.startswith(".x.npz.") and Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    files.write_npz(tmp_path / "x.npz", {"a": np.zeros(2)})
    assert calls[:2] == [("fsync", "file"), ("replace", "x.npz")]  # the data is on disk before it has the name
    assert calls[2:] in ([("fsync", "dir")], [])  # then the rename itself, where directories can be fsynced


def test_output_file_follows_a_symlink_and_writes_special_files_in_place(tmp_path):
    from nertag.files import output_file

    target, link = tmp_path / "target.txt", tmp_path / "link.txt"
    target.write_text("old")
    link.symlink_to(target)
    with output_file(link) as f:
        f.write("new")
    assert link.is_symlink() and target.read_text() == "new"
    with output_file("/dev/null") as f:
        f.write("nothing")
    assert Path("/dev/null").is_char_device()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    import threading
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    with output_file(fifo) as f:
        f.write("through the fifo")
    reader.join(10)
    assert got == ["through the fifo"] and fifo.is_fifo()
