"""Start-up: a command imports only what it uses (checked on ``sys.modules`` in a fresh interpreter).

Behaviour, not timing: seqeval brings scikit-learn and scipy.stats (most of a second), which only scoring
needs; the kernels need SciPy's Cython BLAS, not the rest of ``scipy.linalg``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCORING = ("seqeval", "sklearn", "scipy.stats")


def modules_after(code: str) -> set[str]:
    """The modules loaded by running ``code`` in a fresh interpreter that imports this checkout."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_probe_imports_this_checkout():
    modules = modules_after("import nertag; assert nertag.__file__.startswith(%r), nertag.__file__" % str(ROOT))
    assert "nertag" in modules


@pytest.mark.parametrize("code", [
    "import nertag.cli",
    "import nertag.tagger, nertag.train",
    "from nertag.cli import app\nfrom typer.testing import CliRunner\n"
    "assert CliRunner().invoke(app, ['--help']).exit_code == 0",
    "from nertag.cli import app\nfrom typer.testing import CliRunner\n"
    "r = CliRunner().invoke(app, ['tag'], input='John lives in Berlin .\\n')\nassert r.exit_code == 0, r.output",
])
def test_commands_that_do_not_score_do_not_import_scoring_libraries(code):
    modules = modules_after(code)
    assert not [name for name in SCORING if loaded(modules, name)]


def test_scoring_imports_seqeval_when_scores_are_computed():
    modules = modules_after("from nertag.evaluate import entity_scores\n"
                            "assert entity_scores([['B-PER']], [['B-PER']], 'IOB2')['overall']['f1'] == 100.0")
    assert loaded(modules, "seqeval")


def test_the_kernels_load_scipys_cython_blas_without_scipy_linalg():
    modules = modules_after("import nertag.net.kernels")
    assert "scipy.linalg.cython_blas" in modules
    assert "scipy.linalg" not in modules


def test_scipy_linalg_still_imports_after_the_kernels():
    modules = modules_after("import nertag.net.kernels\nimport scipy.linalg\n"
                            "from scipy.linalg import cython_blas\nimport numpy as np\n"
                            "assert np.allclose(scipy.linalg.inv(np.eye(2) * 2), np.eye(2) / 2)")
    assert "scipy.linalg" in modules


def test_field_help_equals_the_comments_tokenize_finds():
    """field_help scans the field lines itself (tokenize is slow to start); tokenize is the oracle here."""
    import dataclasses
    import inspect
    import io
    import re
    import tokenize

    from nertag.config import Config, _comment, field_help

    source = inspect.getsource(Config)
    comments = {token.start[0]: token.string.lstrip("#").strip()
                for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT}
    names = {f.name for f in dataclasses.fields(Config)}
    want = {}
    for number, line in enumerate(source.splitlines(), 1):
        declared = re.match(r"\s+(\w+)\s*:", line)
        if declared and declared.group(1) in names and number in comments:
            want[declared.group(1)] = comments[number]
    assert field_help() == want and len(want) == len(names)
    assert _comment('    x: str = "a # b"  # the comment') == "the comment"
    assert _comment("    x: str = 'it\\'s # not'  ## two hashes") == "two hashes"
    assert _comment('    x: int = 1') is None
