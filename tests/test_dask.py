"""`nertag tag-corpus` and the Dask sweep on a real LocalCluster: 2 worker processes, 1 thread each.

One cluster serves the module (starting one costs seconds); the CLI reaches it by its address. The corpus is
~0.8 MB of generated text in 6 files, tagged with the small bundled WikiGold model.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

if os.environ.get("CI"):  # in CI a missing Dask fails (the test extra installs it), never skips
    import distributed  # noqa: F401
else:
    pytest.importorskip("distributed")

from cli_results import nertag, ok  # noqa: E402

from nertag.cluster import connect, run_commands  # noqa: E402
from nertag.corpus import CorpusOptions, ModelSource, finished, plan, settings_of, tag_corpus  # noqa: E402
from nertag.model_dir import bundled_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
FILES, LINES = 6, 1200


@pytest.fixture(scope="module")
def client():
    with connect("local", 2) as c:
        yield c


@pytest.fixture(scope="module")
def model():
    return bundled_model("wikigold")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Files of random sentences over the fixture's words (names, numbers, punctuation), some blank lines."""
    words = [line.split()[0] for line in (FIXTURES / "wikigold_train100.conll").read_text().splitlines()
             if line.strip() and not line.startswith("-DOCSTART-")]
    rng = random.Random(20)
    directory = tmp_path_factory.mktemp("corpus")
    for f in range(FILES):
        lines = ["" if rng.random() < 0.02 else " ".join(rng.choices(words, k=rng.randint(3, 40)))
                 for _ in range(LINES)]
        (directory / f"part{f}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def tag_reference(path: Path, model: Path, output_format: str) -> str:
    """What `nertag tag` writes for one file."""
    return ok(nertag("tag", "-m", model, "-i", path, "--output-format", output_format)).stdout


@pytest.fixture(scope="module")
def reference(corpus, model) -> dict[str, str]:
    return {p.stem: tag_reference(p, model, "jsonl") for p in sorted(corpus.glob("*.txt"))}


def outputs(directory: Path, extension: str) -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(directory.glob(f"*{extension}"))}


def test_output_identical_to_nertag_tag_and_model_loaded_once_per_worker(client, corpus, model, reference, tmp_path):
    source = ModelSource.shared(model)
    report = tag_corpus(client, [corpus], tmp_path / "out", source, CorpusOptions(output_format="jsonl"))
    assert report.ok and [o.status for o in report.outcomes] == ["tagged"] * FILES
    assert outputs(tmp_path / "out", ".jsonl") == reference
    assert sum(o.tokens for o in report.outcomes) == sum(len(json.loads(line)["tokens"])
                                                         for r in reference.values() for line in r.splitlines())
    assert len({o.worker for o in report.outcomes}) == 2  # both workers tagged

    def cached():
        from threadpoolctl import threadpool_info

        from nertag import corpus as c
        return {digest: id(t) for digest, t in c._cache.items()}, [i["num_threads"] for i in threadpool_info()]

    before = client.run(cached)
    # Another corpus, another format: the same tagger objects in the workers (loaded once, not per task).
    conll = tag_corpus(client, [corpus / "part0.txt", corpus / "part1.txt"], tmp_path / "conll", source,
                       CorpusOptions(output_format="conll"))
    assert conll.ok
    after = client.run(cached)
    for worker, (tagger_ids, blas_threads) in after.items():
        assert tagger_ids[source.digest] == before[worker][0][source.digest]
        assert set(blas_threads) <= {1}, blas_threads
    assert (tmp_path / "conll" / "part1.conll").read_text() == tag_reference(corpus / "part1.txt", model, "conll")


def test_jsonl_input_and_shipped_model_give_the_same_output(client, corpus, model, reference, tmp_path):
    (tmp_path / "jsonl").mkdir()
    text = (corpus / "part2.txt").read_text(encoding="utf-8").splitlines()
    (tmp_path / "jsonl" / "part2.jsonl").write_text(
        "".join(json.dumps({"id": i, "body": t}) + "\n" for i, t in enumerate(text)), encoding="utf-8")
    source = ModelSource.shipped(model)
    assert source.path is None and source.digest == ModelSource.shared(model).digest
    report = tag_corpus(client, [tmp_path / "jsonl"], tmp_path / "out", source,
                        CorpusOptions(input_format="jsonl", output_format="jsonl", text_field="body"))
    assert report.ok, report.outcomes
    assert (tmp_path / "out" / "part2.jsonl").read_text(encoding="utf-8") == reference["part2"]


def test_conll_input_keeps_its_columns_as_nertag_tag_does(client, model, tmp_path):
    conll = FIXTURES / "wikigold_dev30.conll"
    report = tag_corpus(client, [conll], tmp_path / "out", ModelSource.shared(model),
                        CorpusOptions(input_format="conll", scheme="bioes"))
    assert report.ok and report.outcomes[0].sentences == 30
    expected = ok(nertag("tag", "-m", model, "-i", conll, "--input-format", "conll", "--scheme", "bioes")).stdout
    assert (tmp_path / "out" / "wikigold_dev30.conll").read_text(encoding="utf-8") == expected


def test_rerun_skips_finished_partitions_and_redoes_changed_ones(client, corpus, model, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("part0", "part1", "part2"):
        (inputs / f"{name}.txt").write_bytes((corpus / f"{name}.txt").read_bytes())
    source, options = ModelSource.shared(model), CorpusOptions(output_format="inline")
    first = tag_corpus(client, [inputs], tmp_path / "out", source, options)
    assert [o.status for o in first.outcomes] == ["tagged"] * 3
    assert all(finished(p, settings_of(source, options)) for p in plan([inputs], tmp_path / "out", "inline"))
    again = tag_corpus(client, [inputs], tmp_path / "out", source, options)
    assert [o.status for o in again.outcomes] == ["skipped"] * 3
    assert [o.tokens for o in again.outcomes] == [o.tokens for o in first.outcomes]  # counted from the sidecars

    (inputs / "part1.txt").write_text("John lives in Berlin .\n", encoding="utf-8")  # a changed input
    (tmp_path / "out" / ".part2.txt.done").unlink()                                 # an unproven output
    third = tag_corpus(client, [inputs], tmp_path / "out", source, options)
    assert [o.status for o in third.outcomes] == ["skipped", "tagged", "tagged"]
    assert (tmp_path / "out" / "part1.txt").read_text() == "[PER John] lives in [LOC Berlin] .\n"
    other = tag_corpus(client, [inputs], tmp_path / "out", source, CorpusOptions(output_format="inline",
                                                                                 scheme="bioes"))
    assert [o.status for o in other.outcomes] == ["tagged"] * 3  # other settings: nothing proven finished


def test_a_bad_file_is_reported_by_name_and_the_rest_tagged(client, corpus, model, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.txt").write_bytes((corpus / "part0.txt").read_bytes())
    (inputs / "bad.txt").write_bytes(b"John lives in Berlin .\nSee \xff here .\n")
    (inputs / "broken.jsonl").write_text('{"text": "fine"}\n{"text": 3}\n', encoding="utf-8")
    (inputs / "cut.jsonl").write_text('{"text": "fine"}\n\n{"text": "cut', encoding="utf-8")
    address = client.scheduler.address
    text = nertag("tag-corpus", inputs / "good.txt", inputs / "bad.txt", "-o", tmp_path / "out", "-m", model,
                  "--scheduler", address)
    assert text.exit_code == 2, (text.stdout, text.stderr)
    progress = [line for line in text.stderr.splitlines() if not line.startswith("nertag: error: ")]
    assert len(progress) == 1 and re.fullmatch(rf"\[[12]/2\] {re.escape(str(inputs / 'good.txt'))}: "
                                               rf"[\d,]+ tokens in [\d.]+ s; [\d,]+ tokens/s", progress[0]), progress
    errors = [line for line in text.stderr.splitlines() if line.startswith("nertag: error: ")]
    assert errors[0] == (f"nertag: error: {inputs / 'bad.txt'}:2: expected UTF-8 text, found byte 0xff at byte 5 "
                         f"of the line (convert the file to UTF-8, e.g. with iconv)")
    assert errors[1] == f"nertag: error: 1 of 2 files failed: {inputs / 'bad.txt'}"
    assert "Traceback" not in text.stderr + text.stdout
    assert "2 files: 1 tagged, 0 skipped (finished before), 1 failed" in text.stdout
    assert (tmp_path / "out" / "good.conll").read_text() == tag_reference(inputs / "good.txt", model, "conll")
    assert not (tmp_path / "out" / "bad.conll").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".good.conll.done", "good.conll"]

    jsonl = nertag("tag-corpus", inputs / "broken.jsonl", "-o", tmp_path / "out2", "-m", model,
                   "--input-format", "jsonl", "--scheduler", address, "-q")
    assert jsonl.exit_code == 2
    assert jsonl.stderr.splitlines()[0] == (f"nertag: error: {inputs / 'broken.jsonl'}:2: expected a JSON object "
                                            f"with a string field 'text', got a non-string 'text' in "
                                            f"'{{\"text\": 3}}'")
    cut = nertag("tag-corpus", inputs / "cut.jsonl", "-o", tmp_path / "out3", "-m", model, "--input-format", "jsonl",
                 "--scheduler", address, "-q")
    assert cut.exit_code == 2
    assert cut.stderr.splitlines()[0].startswith(f"nertag: error: {inputs / 'cut.jsonl'}:3: damaged JSON line, "
                                                 f"not valid JSON (Unterminated string"), cut.stderr


def test_a_worker_killed_mid_run_has_its_task_retried(client, corpus, model, reference, tmp_path):
    addresses = {pid: worker for worker, pid in client.run(os.getpid).items()}
    killed: dict = {}

    def kill_a_busy_worker(outcome, done, total, rate):
        """Kill the worker that has just finished a partition: it has just begun its next one."""
        if killed or outcome.worker not in addresses:
            return
        keys = client.processing().get(addresses[outcome.worker])
        if not keys:  # (nothing left for it: try at the next partition)
            return
        killed.update(pid=outcome.worker, partitions={int(str(k).split("-")[2]) for k in keys})
        os.kill(outcome.worker, signal.SIGKILL)

    source = ModelSource.shipped(model)  # the replacement worker gets the model from the other's copy
    report = tag_corpus(client, [corpus], tmp_path / "out", source, CorpusOptions(output_format="jsonl"),
                        progress=kill_a_busy_worker)
    assert killed["partitions"]
    assert report.ok and [o.status for o in report.outcomes] == ["tagged"] * FILES
    for i in killed["partitions"]:  # those it held were tagged again, by another process
        assert report.outcomes[i].worker != killed["pid"]
    assert outputs(tmp_path / "out", ".jsonl") == reference


def test_without_dask_the_command_is_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    result = nertag("tag-corpus", FIXTURES / "README.md", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == ("nertag: error: this needs Dask, which is not installed: pip install 'nertag[dask]' "
                             "(or pip install 'dask[distributed]')\n")


def test_plan_refuses_two_inputs_writing_one_output(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("a\n")
    (tmp_path / "x.jsonl").write_text("{}\n")
    from nertag.errors import NertagError

    with pytest.raises(NertagError, match="would both write"):
        plan([tmp_path / "a" / "x.txt", tmp_path / "x.jsonl"], tmp_path / "out", "conll")
    assert [p.output.name for p in plan([tmp_path / "a"], tmp_path / "out", "conll")] == ["x.conll"]


def test_run_commands_runs_each_once_and_reports_failures(client, tmp_path):
    marks = [tmp_path / f"m{i}" for i in range(3)]
    commands = [f"echo $OMP_NUM_THREADS >> {m}" for m in marks] + ["echo oops >&2; exit 3"]
    results = run_commands(client, commands, retries=1)
    assert [r.returncode for r in results] == [0, 0, 0, None]
    assert "exit code 3: oops" in results[3].error
    assert [m.read_text() for m in marks] == ["1\n"] * 3  # one BLAS thread; run once each


def test_seed_sweep_on_dask_gives_the_table_of_local_processes(client, tmp_path):
    """scripts/reproduce_conll2003.sh on the fixtures, 2 epochs (a small fast recipe), two seeds: as two local
    processes (xargs) and as two Dask tasks, the same models bit for bit and the same table."""
    data = tmp_path / "data"
    data.mkdir()
    for name, fixture in (("eng.train", "wikigold_train100.conll"), ("eng.testa", "wikigold_dev30.conll"),
                          ("eng.testb", "wikigold_dev30.conll")):
        (data / name).symlink_to(FIXTURES / fixture)
    (tmp_path / "emb.txt").write_text("")  # the "random" variant reads no embeddings
    wrapper = tmp_path / "nertag"  # this checkout's nertag, wherever the run starts
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m nertag "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "NERTAG": str(wrapper), "PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "EPOCHS": "2",
           "TRAIN_ARGS": "--lr 0.01 --batch-size 2 --hidden 25 --char-hidden 10", "VARIANTS": "random",
           "SEEDS": "1 2", "PARALLEL": "2"}
    tables = {}
    for mode, extra in (("processes", {}), ("dask", {"SCHEDULER": client.scheduler.address})):
        done = subprocess.run(["bash", str(ROOT / "scripts" / "reproduce_conll2003.sh"), str(data),
                               str(tmp_path / "emb.txt"), str(tmp_path / mode)], env={**env, **extra},
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        tables[mode] = done.stdout
    assert tables["dask"] == tables["processes"]
    row = tables["dask"].splitlines()[2].split(" | ")
    assert row[0] == "| nertag char-BiGRU + random 100d, BiGRU-CRF" and row[3] == "2", row
    assert float(row[1].split()[0]) > 0  # the runs learned something: the table compares real scores
    for seed in ("seed1", "seed2"):
        assert (tmp_path / "dask" / "random" / seed / "model" / "weights.npz").read_bytes() == \
            (tmp_path / "processes" / "random" / seed / "model" / "weights.npz").read_bytes()


def test_a_rerun_removes_what_a_killed_run_left_half_written(client, corpus, model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    left = [out / ".part0.conll.1a2b3c4d.tmp", out / "..part0.conll.done.5e6f7a8b.tmp"]
    other = out / ".notes.txt.0a0b0c0d.tmp"  # not an output of this corpus: left alone
    for path in left + [other]:
        path.write_text("half")
    report = tag_corpus(client, [corpus / "part0.txt"], out, ModelSource.shared(model), CorpusOptions())
    assert report.ok
    assert not any(path.exists() for path in left) and other.exists()


@pytest.mark.parametrize("arguments, message", [
    (["-m", "{tmp}/nowhere"], "{tmp}/nowhere: no such model directory"),
    (["--workers", "0"], "--workers must be at least 1, got 0"),
    (["--retries", "-1"], "--retries must not be negative, got -1"),
    (["--input-format", "csv"], "--input-format must be one of text, jsonl, conll, got 'csv'"),
])
def test_bad_options_are_one_line_errors_before_any_cluster_starts(arguments, message, tmp_path):
    from cli_results import assert_error

    (tmp_path / "a.txt").write_text("John lives in Berlin .\n")
    given = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = nertag("tag-corpus", tmp_path / "a.txt", "-o", tmp_path / "out", *given)
    assert_error(result, message.replace("{tmp}", str(tmp_path)))
    assert not (tmp_path / "out").exists()
