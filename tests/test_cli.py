"""The application, driven as a user drives it: `nertag train / eval / tag / convert / info` (issue 6).

A tiny model (8 GRU units, 100 WikiGold sentences) trains in about a second, once per module. Scores of
such a model depend on the machine's floating point, so the tests check relations (the best epoch is
the one kept, the scores printed are the scores of the model on disk), never particular numbers.
Outputs whose content must be known exactly come from a crafted model that tags every token S-PER.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_results import nertag, ok

from nertag.config import Config
from nertag.data.conll import load_conll, read_conll
from nertag.data.schemes import convert, detect_scheme
from nertag.evaluate import entity_scores
from nertag.model_dir import ModelDir, bundled_model, load_weights
from nertag.tagger import Tagger
from nertag.train import build_tagger

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAIN = FIXTURES / "wikigold_train100.conll"
DEV = FIXTURES / "wikigold_dev30.conll"
TINY = ["--hidden", "8", "--char-dim", "4", "--char-hidden", "4", "--word-dim", "8", "--no-progress"]
COMMANDS = ["train", "eval", "tag", "convert", "info"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str]:
    """A model trained by `nertag train` with early stopping (Adam, so that dev F1 moves in a few epochs)."""
    directory = tmp_path_factory.mktemp("cli") / "model"
    result = ok(nertag("train", "--conll", TRAIN, "--dev", DEV, "--model-dir", directory, *TINY,
                       "--optimizer", "adam", "--lr", "0.05", "--epochs", "8", "--patience", "2"))
    return directory, result.stdout


@pytest.fixture(scope="module")
def model(trained) -> Path:
    return trained[0]


@pytest.fixture(scope="module")
def per_model(tmp_path_factory) -> Path:
    """A crafted model that tags every token S-PER (learned scheme BIOES, output scheme IOB1)."""
    directory = tmp_path_factory.mktemp("per") / "model"
    config = Config(hidden=4, char_dim=3, char_hidden=2, word_dim=4)
    tagger = build_tagger(config, load_conll(TRAIN), log=lambda _: None)
    tagger.net.project.p["W"][...] = 0
    tagger.net.project.p["b"][tagger.tags.index("S-PER")] = 50.0
    ModelDir(directory).save(tagger)
    return directory


# -- help --------------------------------------------------------------------------------------------------
def test_help_on_every_command():
    top = ok(nertag("--help")).stdout
    for command in COMMANDS:
        assert command in top
        text = ok(nertag(command, "--help")).stdout
        assert "Usage:" in text and "--help" in text
    assert "--resume" in nertag("train", "--help").stdout and "--patience" in nertag("train", "--help").stdout
    bare = nertag()
    assert "Usage:" in bare.stdout and isinstance(bare.exception, (SystemExit, type(None)))  # help, no traceback


# -- train ---------------------------------------------------------------------------------------------------
def test_train_writes_model_checkpoint_and_metrics_per_epoch(trained):
    model, output = trained
    for name in ("config.json", "vocab.json", "meta.json", "weights.npz", "checkpoint.npz", "metrics.jsonl"):
        assert (model / name).is_file(), name
    assert not [p.name for p in model.iterdir() if p.name.endswith(".tmp")]
    rows = [json.loads(line) for line in (model / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        assert set(r["dev"]) == {"precision", "recall", "f1"} and r["loss"] > 0 and r["lr"] > 0
        assert f"epoch {r['epoch']}: loss {r['loss']:.4f}" in output
        assert f"dev P/R/F1 {r['dev']['precision']:.2f}/{r['dev']['recall']:.2f}/{r['dev']['f1']:.2f}" in output
    config = json.loads((model / "config.json").read_text())
    assert (config["hidden"], config["char_dim"], config["optimizer"]) == (8, 4, "adam")
    # the checkpoint is that of the last epoch and loads into the model
    tagger = Tagger.from_files(model)
    extra = load_weights(model / "checkpoint.npz", tagger.buffer.named(), "checkpoint")
    state = json.loads(str(extra["state"]))
    assert (state["epoch"], state["batch"]) == (len(rows), 0) and state["history"] == rows
    assert state["data_rng"]["bit_generator"] == state["noise_rng"]["bit_generator"] == "PCG64"
    assert "opt/t" in extra and int(extra["opt/t"]) == len(rows) * 10  # 100 sentences, batches of 10


def test_train_keeps_the_best_epoch_and_stops_early(trained):
    model, output = trained
    rows = [json.loads(line) for line in (model / "metrics.jsonl").read_text().splitlines()]
    f1 = [r["dev"]["f1"] for r in rows]
    meta = json.loads((model / "meta.json").read_text())
    if max(f1) > 0:
        best = f1.index(max(f1)) + 1
        assert meta["best_epoch"] == meta["saved_epoch"] == best
        assert f"best dev F1 {max(f1):.2f} at epoch {best}" in output
    else:  # no epoch has a real score (the tiny model finds no entity): none is best, the newest is kept
        best = len(rows)
        assert meta["best_epoch"] is None and meta["saved_epoch"] == best and "no dev F1 above 0" in output
    assert meta["scores"]["dev"] == rows[best - 1]["dev"]
    if len(rows) < 8:  # stopped early: the last `patience` epochs did not improve
        assert "early-stopped after" in output and len(rows) - (meta["best_epoch"] or 0) == 2
    else:
        assert "finished after 8 epochs" in output
    # weights.npz is the best epoch's model: it scores on dev what metrics.jsonl says
    scores = json.loads(ok(nertag("eval", "--conll", DEV, "--model", model, "--json")).stdout)
    assert round(scores["overall"]["f1"], 2) == max(f1)


def test_train_without_dev_keeps_the_last_epoch_and_shows_progress(tmp_path):
    args = [a for a in TINY if a != "--no-progress"]
    result = ok(nertag("train", "--train", TRAIN, "--model", tmp_path / "m", *args, "--epochs", "2", "--progress"))
    assert "finished after 2 epochs" in result.stdout
    assert "epoch 1:" in result.stderr and "/10 [" in result.stderr and "batch/s" in result.stderr  # a bar
    assert json.loads((tmp_path / "m" / "meta.json").read_text())["best_epoch"] == 2
    # not a terminal: no bar, one line per epoch
    plain = ok(nertag("train", "-t", TRAIN, "-m", tmp_path / "m", *args, "--epochs", "2", "--overwrite"))
    assert plain.stderr == "" and [line.split(":")[0] for line in plain.stdout.splitlines()] == [
        "epoch 1", "epoch 2", "finished after 2 epochs; model in " + str(tmp_path / "m")]
    quiet = ok(nertag("train", "-t", TRAIN, "-m", tmp_path / "m", *args, "--epochs", "1", "--overwrite", "-q"))
    assert quiet.stdout.splitlines() == ["finished after 1 epochs; model in " + str(tmp_path / "m")]
    verbose = ok(nertag("train", "-t", TRAIN, "-t", DEV, "-m", tmp_path / "m", *args, "--epochs", "1",
                        "--overwrite", "--verbose")).stdout
    assert f"{TRAIN}: 100 sentences" in verbose and f"{DEV}: 30 sentences" in verbose and "configuration: {" in verbose


def test_train_concatenates_repeated_training_files_and_refuses_to_overwrite_unasked(tmp_path):
    one = ok(nertag("train", "--train", TRAIN, "--train", DEV, "--model", tmp_path / "m", *TINY, "--epochs", "1"))
    assert "finished after 1 epochs" in one.stdout
    vocab = json.loads((tmp_path / "m" / "vocab.json").read_text())
    dev_words = {w for s in load_conll(DEV) for w in s.words if not any(c.isdigit() for c in w)} - {
        w for s in load_conll(TRAIN) for w in s.words}  # (digits are normalised for lookup)
    assert dev_words and dev_words <= set(vocab["words"]["tokens"])  # the second file was read too
    again = nertag("train", "--train", TRAIN, "--model", tmp_path / "m", *TINY, "--epochs", "1")
    assert again.exit_code == 2 and "--overwrite replaces the files a run writes" in again.stderr
    assert ok(nertag("train", "--conll", TRAIN, "--model-dir", tmp_path / "m", *TINY, "--epochs", "1",
                     "--overwrite")).exit_code == 0


def test_usage_errors_are_one_line_and_threads_go_anywhere(model):
    for args in (["train", "--trian", TRAIN], ["tag", "--no-such"], ["nonsense"], ["eval"]):
        result = nertag(*args)
        assert result.exit_code == 2 and result.stderr.startswith("nertag: error: "), result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
    assert ok(nertag("tag", "--model", model, "--threads", "1", input="a\n")).stdout
    assert nertag("tag", "--model", model, "--threads", "0", input="a\n").exit_code == 2


def test_train_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        ok(nertag("train", "--conll", TRAIN, "--model-dir", tmp_path / "m", *TINY, "--epochs", "1"))
    finally:
        os.umask(old)
    for path in (tmp_path / "m").iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path  # not the 0600 of a temporary file


def test_train_from_a_config_file(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"hidden": 6, "char_dim": 0, "word_dim": 5, "epochs": 1}))
    ok(nertag("train", "--conll", TRAIN, "--model-dir", tmp_path / "m", "--config", tmp_path / "c.json",
              "--hidden", "7", "--ema-decay", "0.5", "--no-progress"))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (config["hidden"], config["char_dim"], config["word_dim"]) == (7, 0, 5)  # options beat the file
    assert config["ema_decay"] == 0.5


# -- eval ----------------------------------------------------------------------------------------------------
def test_eval_table_json_strict_and_predictions(model, tmp_path):
    gold = load_conll(DEV)
    table = ok(nertag("eval", "--conll", DEV, "--model", model)).stdout
    assert f"{DEV}: 30 sentences, IOB1 tags, conlleval scoring" in table
    lines = table.splitlines()
    assert lines[1].split() == ["type", "precision", "recall", "f1", "support"]
    assert [line.split()[0] for line in lines[2:]] == ["LOC", "MISC", "ORG", "PER", "overall"]

    out = tmp_path / "pred.conll"
    scores = json.loads(ok(nertag("eval", "--conll", DEV, "--model", model, "--json", "--output", out)).stdout)
    assert scores["mode"] == "conlleval" and scores["scheme"] == "IOB1"
    assert set(scores["types"]) == {"LOC", "MISC", "ORG", "PER"}
    assert scores["overall"]["support"] == sum(t["support"] for t in scores["types"].values())
    predicted = load_conll(out)  # the gold columns plus one of predictions
    assert [s.words for s in predicted] == [s.words for s in gold]
    assert [[row[1] for row in s.columns] for s in predicted] == [s.tags for s in gold]
    assert entity_scores([s.tags for s in gold], [s.tags for s in predicted], "IOB1") == {
        k: v for k, v in scores.items() if k not in ("scheme", "file")}

    strict = json.loads(ok(nertag("eval", "--conll", out, "--model", model, "--json", "--strict",
                                  "--tag-col", "1")).stdout)
    assert strict["mode"] == "strict IOB1" and strict["overall"] == scores["overall"]  # WikiGold is well formed


def test_eval_strict_counts_only_well_formed_chunks(per_model, tmp_path):
    gold = tmp_path / "gold.conll"
    gold.write_text("Ann B-PER\nKim I-PER\n\nBo B-LOC\n\nlives O\nBob I-PER\n")  # IOB2; Bob's I-PER is ill-formed
    loose = json.loads(ok(nertag("eval", "--conll", gold, "--model", per_model, "--json")).stdout)
    strict = json.loads(ok(nertag("eval", "--conll", gold, "--model", per_model, "--json", "--strict")).stdout)
    assert (loose["mode"], strict["mode"]) == ("conlleval", "strict IOB2")
    assert loose["types"]["PER"]["support"] == 2 and strict["types"]["PER"]["support"] == 1
    # predicted B-PER on every token: Bob is found when conlleval reads the gold chunk, not when strict drops it
    assert loose["types"]["PER"]["recall"] == 50.0 and strict["types"]["PER"]["recall"] == 0.0
    table = ok(nertag("eval", "--conll", gold, "--model", per_model, "--strict")).stdout
    assert "IOB2 tags, strict IOB2 scoring" in table


# -- tag -----------------------------------------------------------------------------------------------------
TEXT = "John  lives in Berlin .\n\nSiemens\n"


def test_tag_conll_inline_and_jsonl_output(per_model):
    conll = ok(nertag("tag", "--model", per_model, input=TEXT)).stdout
    assert conll == "John B-PER\nlives B-PER\nin B-PER\nBerlin B-PER\n. B-PER\n\n\nSiemens B-PER\n\n"
    inline = ok(nertag("tag", "--model", per_model, "--output-format", "inline", input=TEXT)).stdout
    # the text echoed as it came, two spaces included
    assert inline.splitlines() == ["[PER John]  [PER lives] [PER in] [PER Berlin] [PER .]", "", "[PER Siemens]"]
    lines = ok(nertag("tag", "--model", per_model, "--output-format", "jsonl", input=TEXT)).stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["text"] for r in records] == TEXT.splitlines()
    first = records[0]
    assert first["tokens"] == ["John", "lives", "in", "Berlin", "."]
    assert first["entities"][1] == {"text": "lives", "type": "PER", "start": 6, "end": 11, "token_start": 1,
                                    "token_end": 2, "confidence": 1.0}
    for r in records:
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"]] == e["text"] and 0 <= e["confidence"] <= 1
    assert records[1] == {"text": "", "tokens": [], "tags": [], "entities": []}


def test_tag_scheme_tokenizer_and_batches(per_model, tmp_path):
    bioes = ok(nertag("tag", "--model", per_model, "--scheme", "bioes", input="a b\n")).stdout
    assert bioes == "a S-PER\nb S-PER\n\n"
    iob1 = ok(nertag("tag", "--model", per_model, "--scheme", "iob1", input="a b\n")).stdout
    assert iob1 == "a I-PER\nb B-PER\n\n"  # the default IOB2 output gives "a B-PER", as above
    rules = ok(nertag("tag", "--model", per_model, "--tokenizer", "rules", "--output-format", "inline",
                      input="Germany's U.S. office, 1,000.5\n")).stdout
    assert rules == "[PER Germany][PER 's] [PER U.S.] [PER office][PER ,] [PER 1,000.5]\n"  # the text echoed
    many = "".join(f"w{i} x\n" for i in range(70))
    (tmp_path / "in.txt").write_text(many)
    one = ok(nertag("tag", "--model", per_model, "--batch-size", "1", "--input", tmp_path / "in.txt")).stdout
    assert one == ok(nertag("tag", "--model", per_model, "--batch-size", "64", input=many)).stdout
    assert one.count("\n\n") == 70


def test_tag_conll_input_keeps_columns_and_separator(per_model, tmp_path):
    spaced = "-DOCSTART- O\n\nJohn NNP I-PER\nlives VBZ O\n\nOK UH O\n"
    out = ok(nertag("tag", "--model", per_model, "--input-format", "conll", input=spaced)).stdout
    assert out == "-DOCSTART- O O\n\nJohn NNP I-PER B-PER\nlives VBZ O B-PER\n\nOK UH O B-PER\n\n"
    tabbed = "New York\tB-LOC\t\nis\tO\tx y\n"  # TAB-separated: spaces inside fields, an empty field
    out = ok(nertag("tag", "--model", per_model, "--input-format", "conll", input=tabbed)).stdout
    assert out == "New York\tB-LOC\t\tB-PER\nis\tO\tx y\tB-PER\n\n"
    (tmp_path / "t.conll").write_text(tabbed)
    from_file = nertag("tag", "--model", per_model, "--input-format", "conll", "--input", tmp_path / "t.conll")
    assert ok(from_file).stdout == out
    words = ok(nertag("tag", "--model", per_model, "--input-format", "conll", "--word-col", "1",
                      "--output-format", "jsonl", input=spaced)).stdout
    assert [json.loads(line)["tokens"] for line in words.splitlines()] == [["NNP", "VBZ"], ["UH"]]


def test_tag_streams_line_by_line(per_model):
    """With --batch-size 1 each answer comes before the next line is written."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "nertag", "tag", "--model", str(per_model), "--batch-size", "1",
                                "--output-format", "jsonl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    try:
        for word in ("Alpha", "Beta gamma"):
            process.stdin.write(f"{word}\n".encode())
            process.stdin.flush()
            assert json.loads(process.stdout.readline())["tokens"] == word.split()
        process.stdin.close()
        assert process.wait(timeout=60) == 0 and process.stdout.read() == b""
    finally:
        process.kill()
        process.wait()


def _tag_process(model, *args) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    # As from a terminal: a shell starting the suite in the background leaves SIGINT ignored, and then
    # Python installs no KeyboardInterrupt handler, so the Ctrl-C test would wait in vain.
    return subprocess.Popen([sys.executable, "-m", "nertag", "tag", "--model", str(model), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _read_line(process, timeout: float) -> bytes:
    """The next line of the process's output, failing if none comes within ``timeout`` seconds."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return process.stdout.readline()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_tag_writes_what_has_arrived_when_the_input_pauses(per_model, jobs):
    """With the default batch and window, a line is answered while standard input stays open."""
    process = _tag_process(per_model, "--output-format", "jsonl", "--jobs", jobs)
    try:
        for word in ("Alpha", "Beta gamma"):
            process.stdin.write(f"{word}\n".encode())
            process.stdin.flush()
            assert json.loads(_read_line(process, 60))["tokens"] == word.split()  # start-up included
        process.stdin.close()
        assert process.wait(timeout=60) == 0 and process.stdout.read() == b""
    finally:
        process.kill()
        process.wait()


def _fixture_text() -> str:
    return "".join(" ".join(s.words) + "\n" for path in (TRAIN, DEV) for s in load_conll(path))


@pytest.mark.parametrize("output_format", ["conll", "inline", "jsonl"])
def test_tag_jobs_2_writes_what_jobs_1_writes(model, output_format, tmp_path):
    """Byte for byte, from text and from CoNLL, with many small windows in flight."""
    text = _fixture_text()
    (tmp_path / "in.conll").write_text(TRAIN.read_text() + "\n" + DEV.read_text())
    for source in (["--input-format", "text"], ["--input-format", "conll", "--input", tmp_path / "in.conll"]):
        args = ("tag", "--model", model, "--output-format", output_format, "--window", "9", "--batch-size", "4",
                *source)
        one = ok(nertag(*args, "--jobs", "1", input=text)).stdout
        assert ok(nertag(*args, "--jobs", "2", input=text)).stdout == one
        assert one.count("\n") >= 130 and one == ok(nertag(*args[:-4], *source, input=text)).stdout  # defaults


def test_tag_jobs_long_line_and_bad_input(model):
    long_ = " ".join(["w"] * 1001)  # the model's max_length is 1000: tagged in two pieces
    text = f"a b\n\n{long_}\nc\n"
    one = ok(nertag("tag", "--model", model, "--output-format", "jsonl", input=text)).stdout
    assert ok(nertag("tag", "--model", model, "--output-format", "jsonl", "--jobs", "2", input=text)).stdout == one
    assert [len(json.loads(r)["tags"]) for r in one.splitlines()] == [2, 0, 1001, 1]
    for data, where, message in [(b"fine line\nBer\xe9lin\n", "<stdin>:2:", "expected UTF-8 text")]:
        result = nertag("tag", "--model", model, "--jobs", "2", input=data)
        assert result.exit_code == 2 and result.stderr.splitlines() == [result.stderr.strip()], result.stderr
        assert result.stderr.startswith(f"nertag: error: {where}") and message in result.stderr


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("how", ["ctrl-c", "closed output"])
def test_tag_jobs_leave_no_workers_behind(per_model, how):
    process = _tag_process(per_model, "--jobs", "2")
    try:
        process.stdin.write(b"Alpha\n")
        process.stdin.flush()
        assert _read_line(process, 60) == b"Alpha B-PER\n"
        workers = _children(process.pid)
        assert len(workers) >= 2
        if how == "ctrl-c":
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) != 0
            assert b"Traceback" not in process.stderr.read()
        else:
            process.stdout.close()
            with contextlib.suppress(BrokenPipeError):
                for _ in range(20):
                    process.stdin.write(b"Beta\n" * 100)
                    process.stdin.flush()
                    time.sleep(0.1)
            assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 30
        while any(map(_running, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_running, workers))
    finally:
        process.kill()
        process.wait()


# -- convert, info -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["bioes", "iob2", "iob1"])
def test_convert(target, tmp_path):
    out = ok(nertag("convert", "--to", target, TRAIN)).stdout
    (tmp_path / "out.conll").write_text(out)
    original, converted = load_conll(TRAIN), load_conll(tmp_path / "out.conll")
    canonical = {"bioes": "BIOES", "iob2": "IOB2", "iob1": "IOB1"}[target]
    assert [s.words for s in converted] == [s.words for s in original]
    assert [s.tags for s in converted] == [convert(s.tags, "IOB1", canonical) for s in original]
    assert detect_scheme(s.tags for s in converted) == canonical or canonical == "IOB1"
    back = ok(nertag("convert", "--to", "iob1", "--from", target, tmp_path / "out.conll")).stdout
    assert back == TRAIN.read_text()  # IOB1 -> target -> IOB1 gives the file back, byte for byte


def test_info(model):
    info = json.loads(ok(nertag("info", "--model", model, "--json")).stdout)
    tagger = Tagger.load(model)
    assert info["model"] == str(model) and info["output_scheme"] == "IOB2"
    assert info["tags"] == tagger.tags.tokens and info["tags"][0] == "O" and "S-PER" in info["tags"]
    assert info["parameters"] == sum(a.size for a in tagger.buffer.named().values())
    assert info["config"]["hidden"] == 8
    assert info["best_epoch"] == json.loads((model / "meta.json").read_text())["best_epoch"]
    assert info["vocabulary"]["words"] == len(tagger.words)


# -- the Python API the CLI uses ------------------------------------------------------------------------------
def test_python_api(per_model, tmp_path):
    tagger = Tagger.load(per_model)
    assert tagger.tag(["John", "lives"]) == ["B-PER", "B-PER"]
    entities = tagger.tag_text("  John lives")
    assert [(e.text, e.start, e.end, e.type) for e in entities] == [("John", 2, 6, "PER"), ("lives", 7, 12, "PER")]
    tagged = list(tagger.tag_sentences([["a"], [], ["b", "c"]] * 3, batch_size=2))
    assert [t.words for t in tagged] == [["a"], [], ["b", "c"]] * 3
    assert [len(t.entities) for t in tagged] == [1, 0, 2] * 3

    from nertag.train import train
    result = train(Config(hidden=4, char_dim=0, word_dim=4, epochs=2), load_conll(TRAIN)[:20], load_conll(DEV)[:5],
                   model_dir=tmp_path / "py", progress=False, log=lambda _: None)
    assert result.status == "finished" and result.epochs == 2 and len(result.history) == 2
    assert Tagger.load(tmp_path / "py").tag(["x"]) in (["O"], ["B-PER"], ["B-LOC"], ["B-ORG"], ["B-MISC"])
    assert list(read_conll(TRAIN))[0].words[0] == "010"
    assert np.isfinite(Tagger.load(tmp_path / "py").buffer.data).all()


def test_threads_option_caps_blas_pools(per_model):
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=None):  # restore the pools whatever the command sets
        ok(nertag("--threads", "1", "info", "--model", per_model))
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    result = nertag("--threads", "0", "info", "--model", per_model)
    assert result.exit_code == 2
    assert "--threads must be at least 1, got 0" in result.output


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_option_prints_the_version_and_exits(flag):
    from nertag import __version__

    result = ok(nertag(flag))
    assert result.stdout == f"nertag {__version__}\n"
    assert ok(nertag("--threads", "0", flag)).stdout == f"nertag {__version__}\n"  # before any other option acts


def test_raw_text_with_the_bundled_model_ptb_tokens_sentences_and_echo():
    """Punctuation leaves the entities, a paragraph splits into sentences, inline echoes the text."""
    paragraph = "Tim Cook, CEO of Apple, visited London. He met Dr. Smith in Berlin on Monday."
    tagger = Tagger.load(bundled_model())
    assert [(e.text, e.type) for e in tagger.tag_text("John lives in Berlin.")] == [("John", "PER"), ("Berlin", "LOC")]
    one = ok(nertag("tag", "--sentences", "--output-format", "jsonl", input=paragraph + "\n")).stdout
    assert ok(nertag("tag", "--sentences", "--output-format", "jsonl", "--jobs", "2", input=paragraph + "\n")).stdout \
        == one  # the sentence breaks travel to the workers too
    record = json.loads(one)
    assert record["text"] == paragraph and record["tokens"][:3] == ["Tim", "Cook", ","]
    first, second = record["sentences"]
    assert first == [0, 10] and second == [10, len(record["tokens"])] and record["tokens"][9] == "."
    for e in record["entities"]:
        assert paragraph[e["start"]:e["end"]] == e["text"]
    assert {(e["text"], e["type"]) for e in record["entities"]} >= {("Tim Cook", "PER"), ("London", "LOC"),
                                                                    ("Berlin", "LOC")}
    assert [(e.text, e.start) for e in tagger.tag_text(paragraph, sentences=True)] == [
        (e["text"], e["start"]) for e in record["entities"]]
    conll = ok(nertag("tag", "--sentences", input=paragraph + "\n")).stdout
    assert [len(block.splitlines()) for block in conll.strip("\n").split("\n\n")] == [10, len(record["tokens"]) - 10]
    inline = ok(nertag("tag", "--sentences", "--output-format", "inline", input=paragraph + "\n")).stdout
    assert inline.startswith("[PER Tim Cook], ") and "of [ORG Apple], visited [LOC London]. He met " in inline
    assert inline.endswith(" in [LOC Berlin] on Monday.\n")
    assert "sentences" not in json.loads(ok(nertag("tag", "--output-format", "jsonl", input=paragraph)).stdout)


def test_info_summary_card_json_and_system(tmp_path):
    summary = ok(nertag("info")).stdout.splitlines()
    assert summary[0].startswith("model       conll2003-en (") and summary[0].endswith(", language en")
    scores = json.loads((bundled_model() / "meta.json").read_text())["scores"]
    assert any(line.startswith(f"scores      dev F1 {scores['dev']['f1']:.2f}") and
               f"test F1 {scores['test']['f1']:.2f}" in line for line in summary)
    assert any(line.startswith("trained on  eng.train (14,041 sentences)") for line in summary)
    full = json.loads(ok(nertag("info", "--json")).stdout)
    bundled_config = json.loads((bundled_model() / "config.json").read_text())
    assert full["name"] == "conll2003-en" and full["requires_nertag"] == ">=0.1"
    assert {key: full["config"][key] for key in ("cell", "hidden", "char_encoder")} == \
        {key: bundled_config[key] for key in ("cell", "hidden", "char_encoder")}
    system = ok(nertag("info", "--system")).stdout
    assert "kernel " in system and "compiled: _crf" in system and "threads" in system
    # a card of any shape (people edit meta.json) is summarised, never a traceback
    shutil.copytree(bundled_model(), tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    meta.update(training_data={"files": ["x.conll", {"path": 3}]}, scores={"dev": {"f1": "high"}}, best_epoch="?")
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    odd = ok(nertag("info", "-m", tmp_path / "m")).stdout
    assert "trained on  x.conll, 3" in odd and "scores" not in odd


def test_training_writes_a_model_card(tmp_path):
    ok(nertag("train", "-t", TRAIN, "-m", tmp_path / "m", *TINY, "--epochs", "1", "--lang", "en",
              "--data-license", "CC BY 4.0"))
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["name"] == "m" and meta["language"] == "en" and meta["requires_nertag"] == ">=0.1"
    assert meta["training_data"] == {"files": [{"path": str(TRAIN), "sentences": 100, "tokens": 2577}],
                                     "license": "CC BY 4.0"}
    assert meta["command"].startswith("nertag train -t ") and "--lang en" in meta["command"]


def test_tag_nbest_and_probabilities():
    text = "John lives in Berlin .\n\nAngela Merkel met Macron .\n"
    conll = ok(nertag("tag", "--nbest", "3", "--probabilities", input=text)).stdout
    blocks = conll.split("\n\n")
    head, *rows = blocks[0].splitlines()
    probabilities = [float(p) for p in head.split()[2:]]
    assert head.startswith("# nbest ") and len(probabilities) == 3 and probabilities == sorted(probabilities)[::-1]
    plain = ok(nertag("tag", input=text)).stdout.split("\n\n")[0].splitlines()
    assert [row.split()[:2] for row in rows] == [line.split() for line in plain]  # first sequence = the tags
    assert all(len(row.split()) == 5 and 0 <= float(row.split()[-1]) <= 1 for row in rows)
    records = [json.loads(r) for r in ok(nertag("tag", "--nbest", "2", "--probabilities", "--output-format", "jsonl",
                                                input=text)).stdout.splitlines()]
    assert records[0]["nbest"][0]["tags"] == records[0]["tags"] and len(records[0]["probabilities"]) == 5
    assert records[1]["nbest"] == [{"tags": [], "probability": 1.0}] and records[1]["probabilities"] == []
    for args in (["--nbest", "2", "--output-format", "inline"], ["--nbest", "0"], ["--probabilities", "--jobs", "2"]):
        result = nertag("tag", *args, input=text)
        assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
