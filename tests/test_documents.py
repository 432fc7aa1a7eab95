"""Real corpora through the commands: documents, delimiters and every line survive `convert`, `tag` and
`eval --output` (CoNLL-2003, WikiGold, WNUT-17 from ../shared/data; skipped where they are absent)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nertag.cli import app

CORPORA = ["conll2003/eng.testa", "wikigold/wikigold.conll.txt", "wnut17/emerging.dev.conll"]


def run(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def token_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip() and not line.startswith("-DOCSTART-")]


@pytest.mark.parametrize("name", CORPORA)
def test_tag_conll_keeps_every_line_and_document(shared_data, name):
    path = shared_data / name
    original = path.read_text(encoding="utf-8")
    delimiter = "\t" if "\t" in token_lines(original)[0] else " "
    out = run("tag", "--input-format", "conll", "--input", path)
    assert [line.rsplit(delimiter, 1)[0] for line in token_lines(out)] == token_lines(original)
    docstarts = [line for line in original.split("\n") if line.startswith("-DOCSTART-")]
    assert [line for line in out.split("\n") if line.startswith("-DOCSTART-")] == [d + delimiter + "O" for d in docstarts]


@pytest.mark.parametrize("name", CORPORA)
def test_convert_there_and_back_reproduces_the_file(shared_data, name, tmp_path):
    path = shared_data / name
    scheme = "iob2" if name.startswith("wnut17") else "iob1"
    (tmp_path / "bioes.conll").write_text(run("convert", "--to", "bioes", path), encoding="utf-8")
    back = run("convert", "--to", scheme, tmp_path / "bioes.conll")
    original = path.read_text(encoding="utf-8")
    assert token_lines(back) == token_lines(original)
    assert [line for line in back.split("\n") if line.startswith("-DOCSTART-")] == [
        line for line in original.split("\n") if line.startswith("-DOCSTART-")]
    assert back.rstrip("\n").endswith(original.rstrip("\n").split("\n")[-1])  # WikiGold ends on -DOCSTART-
