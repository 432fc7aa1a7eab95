"""Running `nertag` in-process and judging its outcome: shared by the CLI, reliability and hostile-file tests.

Not a test module: pytest puts this directory on ``sys.path``, so the tests import it by name.
"""
from __future__ import annotations

from typer.testing import CliRunner

from nertag.cli import app


def nertag(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def assert_error(result, *fragments: str) -> str:
    """Exit code 2, no traceback, exactly one line on stderr holding every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nertag: error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
