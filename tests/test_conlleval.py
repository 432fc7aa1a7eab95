"""`nertag eval --output` writes what conlleval.pl scores as `nertag eval` does.

The scorer is the `conlleval` package, a line-for-line Python port of conlleval.pl (same column check,
same chunk rules). The files: the bundled sample, layouts without any -DOCSTART- line and with CoNLL-2002's
``-DOCSTART- -DOCSTART- O``, a TAB file with spaces in tokens, and CoNLL-2003 eng.testb where present.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nertag.cli import app

conlleval = pytest.importorskip("conlleval")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
DEV = FIXTURES / "wikigold_dev30.conll"
TESTB = ROOT.parent / "shared" / "data" / "conll2003" / "eng.testb"


def eval_with_output(gold: Path, out: Path) -> dict:
    result = CliRunner().invoke(app, ["eval", "--conll", str(gold), "--json", "--output", str(out)])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def conlleval_scores(path: Path, delimiter: str | None) -> dict:
    lines = path.read_text(encoding="utf-8").splitlines()
    if delimiter == "\t":  # conlleval.pl -d "\t" splits a blank line into no fields, the port into one
        lines = [" ".join(field.replace(" ", "_") for field in line.split("\t")) if line else "" for line in lines]
    return conlleval.evaluate(lines)["overall"]["chunks"]


def assert_same_scores(gold: Path, tmp_path: Path, delimiter: str | None = None) -> None:
    ours = eval_with_output(gold, tmp_path / "predicted.conll")
    theirs = conlleval_scores(tmp_path / "predicted.conll", delimiter)
    assert theirs["stats"]["gold"] == ours["overall"]["support"]
    assert theirs["evals"]["f1"] * 100 == pytest.approx(ours["overall"]["f1"], abs=1e-9)


def variants(tmp_path: Path) -> dict[str, tuple[Path, str | None]]:
    """The sample in several layouts: name -> (file, conlleval delimiter)."""
    text = DEV.read_text()
    blocks = [b for b in text.split("\n\n") if b.strip() and not b.startswith("-DOCSTART-")]
    plain = "\n\n".join(blocks) + "\n"
    with_middle_column = "\n".join(line.replace(" ", " x ") for line in plain.split("\n"))  # word POS tag
    files = {
        "as bundled": (text, None),
        "no -DOCSTART-": (plain, None),
        "CoNLL-2002 -DOCSTART-": ("-DOCSTART- -DOCSTART- O\n" + with_middle_column.replace(
            "\n\n", "\n\n-DOCSTART- -DOCSTART- O\n", 3), None),
        "TAB, spaces in tokens": ("\n".join("\t".join([f"{line.split()[0]} x", *line.split()[1:]]) if line else ""
                                            for line in plain.split("\n")), "\t"),
    }
    out = {}
    for name, (content, delimiter) in files.items():
        path = tmp_path / (name.replace(" ", "_").replace(",", "") + ".conll")
        path.write_text(content, encoding="utf-8")
        out[name] = (path, delimiter)
    return out


@pytest.mark.parametrize("name", ["as bundled", "no -DOCSTART-", "CoNLL-2002 -DOCSTART-", "TAB, spaces in tokens"])
def test_conlleval_scores_the_output_as_nertag_eval_does(name, tmp_path):
    path, delimiter = variants(tmp_path)[name]
    assert_same_scores(path, tmp_path, delimiter)
    written = (tmp_path / "predicted.conll").read_text()
    read = path.read_text()
    assert written.count("-DOCSTART-") == read.count("-DOCSTART-")  # none invented, none dropped


@pytest.mark.skipif(not TESTB.exists(), reason="CoNLL-2003 is not beside the checkout (../shared/data)")
def test_conlleval_on_conll2003_testb(tmp_path):
    assert_same_scores(TESTB, tmp_path)
