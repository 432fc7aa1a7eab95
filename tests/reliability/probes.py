"""What the reliability tests share: the fixture corpora, running nertag as a real process, damaged copies.

Not a test module: pytest puts this directory on ``sys.path``, so the tests import it by name.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
TRAIN = FIXTURES / "wikigold_train100.conll"
DEV = FIXTURES / "wikigold_dev30.conll"
PYTHON = sys.executable
TINY = ["--hidden", "4", "--char-dim", "2", "--char-hidden", "2", "--word-dim", "4", "--no-progress"]


def run(command: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """``command`` in bash, with this checkout's nertag first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}
    return subprocess.run(["bash", "-c", command], capture_output=True, timeout=timeout, env=env, cwd=ROOT,
                          **kwargs)


def assert_process_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> str:
    """A real process's outcome: ``code``, no traceback, one ``nertag: error:`` line holding every fragment."""
    err = result.stderr.decode()
    assert result.returncode == code, (result.returncode, err)
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nertag: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def copy_of(model: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    return copy


def edited(model: Path, tmp_path: Path, name: str, edit) -> Path:
    """A copy of ``model`` whose file ``name`` holds ``edit`` of its text."""
    copy = copy_of(model, tmp_path)
    path = copy / name
    path.write_text(edit(path.read_text()))
    return copy
