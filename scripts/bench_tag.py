#!/usr/bin/env python3
"""End-to-end tagging speed of `nertag tag`, side by side with spaCy and sklearn-crfsuite, in one run.

Every contender runs as a whole process with one BLAS/OpenMP thread on the same text (eng.testb, one sentence
per line, whitespace-separated), in alternating rounds, and the medians are compared as ratios. The script also
measures this machine's one-thread float32 GEMM peak and the bundled model's FLOP per token, which bound how
fast any implementation of the model can tag, and reports the fraction of that bound `nertag tag` reaches.

    python scripts/bench_tag.py --conll ../shared/data/conll2003/eng.testb --train ../shared/data/conll2003/eng.train

spaCy and sklearn-crfsuite are benchmark-only: install them beside nertag in a separate environment
(`pip install spacy sklearn-crfsuite`); a contender that is not installed is reported as skipped.
Each contender runs once untimed first, its bytecode kept in a temporary PYTHONPYCACHEPREFIX, so that no process
compiles modules while it is timed (a checkout has no __pycache__ of its own when PYTHONDONTWRITEBYTECODE is set).
The spaCy contender is a blank English pipeline with spaCy's default (efficiency) NER model, trained briefly
on eng.train: its speed is compared, not its accuracy. The crfsuite contender uses ordinary word features.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# -- data ------------------------------------------------------------------------------------------------------
def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    """(words, IOB2 tags) per sentence of a CoNLL file (word first, tag last), -DOCSTART- skipped."""
    sentences, words, tags = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((words, to_iob2(tags)))
            words, tags = [], []
            continue
        words.append(fields[0])
        tags.append(fields[-1])
    return sentences


def to_iob2(tags: list[str]) -> list[str]:
    """IOB1 (an I- may open an entity) to IOB2 (every entity opens with B-); IOB2 input is unchanged."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


# -- timing ----------------------------------------------------------------------------------------------------
def run_process(command: list[str], text_path: Path, pycache: Path | None = None) -> float:
    """Wall seconds of one whole process reading `text_path` on standard input; its output is discarded.

    With `pycache`, compiled bytecode is kept there (PYTHONPYCACHEPREFIX), whatever PYTHONDONTWRITEBYTECODE says:
    after one run a checkout starts as an installed package does, not compiling its modules each time.
    """
    env = {**os.environ, **ONE_THREAD}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    with text_path.open("rb") as stdin:
        started = time.perf_counter()
        done = subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench_tag: {' '.join(command)} failed:\n{done.stderr.decode(errors='replace')}")
    return seconds


def gemm_peak(size: int = 1024, rounds: int = 5) -> float:
    """Sustained one-thread float32 GFLOP/s of np.matmul at a square size (median of timing windows)."""
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    c = np.empty_like(a)
    with threadpool_limits(1):
        np.matmul(a, b, out=c)
        rates = []
        for _ in range(rounds):
            n, started = 0, time.perf_counter()
            while time.perf_counter() - started < 0.3:
                np.matmul(a, b, out=c)
                n += 1
            rates.append(2 * size ** 3 * n / (time.perf_counter() - started) / 1e9)
    return statistics.median(rates)


def unmet_requirements() -> list[str]:
    """nertag's runtime dependencies that this Python lacks or has at a version pyproject.toml excludes (a
    typer outside its pin, for one, adds ~0.1 s to every start-up and would skew the figures)."""
    import tomllib
    from importlib import metadata
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return ["(packaging is not installed: versions not checked)"]
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    unmet = []
    for requirement in map(Requirement, project["dependencies"]):
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{requirement.name} missing")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            unmet.append(f"{requirement.name} {version} (nertag wants {requirement.specifier})")
    return unmet


def blas_kernels() -> str:
    from threadpoolctl import threadpool_info
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                     for i in threadpool_info() if i.get("user_api") == "blas")


# -- the model's cost ------------------------------------------------------------------------------------------
def flop_per_token(model_dir: Path, n_tags: int, chars_per_token: float) -> dict:
    """FLOP (2 per multiply-add) to tag one token: word BiGRU/BiLSTM, character encoder, dense, Viterbi."""
    config = json.loads((model_dir / "config.json").read_text())
    H, Hc, Dc = config["hidden"], config["char_hidden"], config["char_dim"]
    cell, char_encoder = config.get("cell", "gru"), config.get("char_encoder", "gru")
    gates = {"gru": 3, "lstm": 4}
    char_features = 0 if Dc == 0 else Hc if char_encoder == "cnn" else 2 * Hc
    D = config["word_dim"] + char_features
    if Dc == 0:
        char_cost = 0.0
    elif char_encoder == "cnn":                             # one window of Dc-d characters per filter
        char_cost = 2 * config.get("char_window", 3) * Dc * Hc * chars_per_token
    else:                                                   # 2 directions, input and recurrent products
        char_cost = 2 * 2 * (Dc + Hc) * gates[char_encoder] * Hc * chars_per_token
    parts = {
        f"word Bi{cell.upper()}": 2 * 2 * (D + H) * gates[cell] * H,
        f"char {'CNN' if char_encoder == 'cnn' else 'Bi' + char_encoder.upper()}": char_cost,
        "dense": 2 * 2 * H * n_tags,
        "Viterbi": 2 * n_tags * n_tags,
    }
    parts["total"] = sum(parts.values())
    return parts


# -- contenders other than nertag, each a whole process: `bench_tag.py --serve KIND MODEL < text` --------------
def serve(kind: str, model: str) -> None:
    lines = [line.split() for line in sys.stdin.read().splitlines()]
    if kind == "spacy":
        import spacy
        from spacy.tokens import Doc
        nlp = spacy.load(model)
        docs = (Doc(nlp.vocab, words=words) for words in lines if words)
        out = ["|".join(f"{e.start}:{e.end}:{e.label_}" for e in doc.ents) for doc in nlp.pipe(docs)]
    else:
        import sklearn_crfsuite
        crf = sklearn_crfsuite.CRF(model_filename=model)
        out = [" ".join(crf.predict_single(word_features(words))) for words in lines if words]
    sys.stdout.write("\n".join(out) + "\n")


def word_features(words: list[str]) -> list[dict]:
    """Ordinary CRF word features: the word, its shape, affixes and its neighbours (sklearn-crfsuite's tutorial)."""
    rows = []
    for i, w in enumerate(words):
        row = {"bias": 1.0, "lower": w.lower(), "suffix3": w[-3:], "suffix2": w[-2:], "prefix3": w[:3],
               "istitle": w.istitle(), "isupper": w.isupper(), "isdigit": w.isdigit()}
        for offset, name in ((-1, "prev"), (1, "next")):
            if 0 <= i + offset < len(words):
                v = words[i + offset]
                row.update({f"{name}.lower": v.lower(), f"{name}.istitle": v.istitle(), f"{name}.isupper": v.isupper()})
            else:
                row[f"{name}.none"] = True
        rows.append(row)
    return rows


def train_spacy(train, directory: Path, sentences: int, seed: int) -> Path | None:
    try:
        import spacy
        from spacy.tokens import Doc
        from spacy.training import Example, iob_to_biluo, biluo_tags_to_spans
    except ImportError:
        return None
    spacy.util.fix_random_seed(seed)
    nlp = spacy.blank("en")
    nlp.add_pipe("ner")  # spaCy's default NER model: HashEmbedCNN tok2vec (width 96, depth 4) + transition parser
    examples = []
    for words, tags in train[:sentences]:
        doc = Doc(nlp.vocab, words=words)
        gold = Doc(nlp.vocab, words=words)
        gold.ents = biluo_tags_to_spans(gold, iob_to_biluo(tags))
        examples.append(Example(doc, gold))
    optimizer = nlp.initialize(lambda: examples)
    for batch in spacy.util.minibatch(examples, size=32):
        nlp.update(batch, sgd=optimizer, drop=0.2)
    path = directory / "spacy"
    nlp.to_disk(path)
    return path


def train_crfsuite(train, directory: Path, sentences: int) -> Path | None:
    try:
        import sklearn_crfsuite
    except ImportError:
        return None
    path = directory / "crfsuite.model"
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=50, model_filename=str(path))
    crf.fit([word_features(w) for w, _ in train[:sentences]], [t for _, t in train[:sentences]])
    return path


def nertag_command(*args: str, source: Path | None = None) -> list[str]:
    """`python -m nertag tag ARGS`, of the installed nertag or of the checkout ``source``."""
    if source is None:
        return [sys.executable, "-m", "nertag", "tag", *args]
    code = f"import sys; sys.path.insert(0, {str(source)!r}); from nertag.cli import app; app()"
    return [sys.executable, "-c", code, "tag", *args]


def nertag_has_option(option: str) -> bool:
    help_text = subprocess.run(nertag_command("--help"), capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
    return option in help_text.stdout


# -- main -----------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"
    parser.add_argument("--conll", type=Path, default=shared / "eng.testb", help="text to tag (CoNLL file)")
    parser.add_argument("--train", type=Path, default=shared / "eng.train", help="training data of the contenders")
    parser.add_argument("--model", type=Path, default=None, help="nertag model directory (default: bundled)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--spacy-sentences", type=int, default=2000, help="eng.train sentences for spaCy's one epoch")
    parser.add_argument("--crf-sentences", type=int, default=14041, help="eng.train sentences for crfsuite")
    parser.add_argument("--compare", type=Path, help="also time `nertag tag` of this checkout (e.g. an older commit)")
    parser.add_argument("--compare-model", type=Path, help="also time `nertag tag` with this model directory")
    parser.add_argument("--batch-sizes", default="", help="also time `nertag tag --batch-size B` for these B "
                                                          "(comma-separated, e.g. 32,64,256)")
    parser.add_argument("--repeat", type=int, default=1, help="tag the text this many times over in one process "
                                                              "(a longer input: throughput beside the start-up)")
    parser.add_argument("--skip", default="", help="contenders not to run: spacy,crfsuite (comma-separated)")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return

    from nertag.model_dir import bundled_model
    model_dir = args.model or bundled_model()
    sentences = read_conll(args.conll) * max(1, args.repeat)
    n_tokens = sum(len(w) for w, _ in sentences)
    chars = sum(len(word) for w, _ in sentences for word in w) / n_tokens
    n_tags = len(json.loads((model_dir / "vocab.json").read_text())["tags"]["tokens"])
    times = f" ({args.repeat} times over)" if args.repeat > 1 else ""
    print(f"text: {args.conll}{times} as {len(sentences)} lines, {n_tokens} tokens; model {model_dir}")
    print(f"BLAS: {blas_kernels()}; one thread per process ({', '.join(f'{k}=1' for k in ONE_THREAD)})")
    for problem in unmet_requirements():
        print(f"WARNING: this Python's {problem}: nertag's figures are not what an install gives")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        text_path, one_path = tmp / "text.txt", tmp / "one.txt"
        text_path.write_text("".join(" ".join(w) + "\n" for w, _ in sentences), encoding="utf-8")
        one_path.write_text("John lives in Berlin .\n", encoding="utf-8")
        model_args = ["--model", str(model_dir)]
        other_model = f"nertag tag, model {args.compare_model}"       # its directory: model dirs share names
        contenders = {"nertag tag": nertag_command(*model_args)}
        if args.compare:
            contenders[f"nertag tag of {args.compare}"] = nertag_command(*model_args, source=args.compare.resolve())
        if args.compare_model:
            contenders[other_model] = nertag_command("--model", str(args.compare_model))
        for size in filter(None, args.batch_sizes.split(",")):
            contenders[f"nertag tag --batch-size {int(size)}"] = nertag_command(*model_args, "--batch-size", size)
        if nertag_has_option("--jobs"):
            contenders["nertag tag --jobs 2"] = nertag_command(*model_args, "--jobs", "2")
        train = read_conll(args.train)
        skip = set(filter(None, args.skip.split(",")))
        for name, make, kind in (("spaCy efficiency NER", lambda: train_spacy(train, tmp, args.spacy_sentences, 0), "spacy"),
                                 ("sklearn-crfsuite", lambda: train_crfsuite(train, tmp, args.crf_sentences), "crfsuite")):
            if kind in skip:
                continue
            trained = make()
            if trained is None:
                print(f"{name}: skipped (not installed)")
            else:
                contenders[name] = [sys.executable, __file__, "--serve", kind, str(trained)]
        start_up = {"nertag tag, one sentence": nertag_command(*model_args),
                    "nertag --help": [sys.executable, "-m", "nertag", "--help"]}

        seconds: dict[str, list[float]] = {name: [] for name in [*contenders, *start_up]}
        pycache = tmp / "pycache"
        for command in [*contenders.values(), *start_up.values()]:  # untimed: compiles and caches the bytecode
            run_process(command, one_path, pycache)
        for _ in range(args.rounds):  # alternate, so that a noisy moment hits every contender alike
            for name, command in contenders.items():
                seconds[name].append(run_process(command, text_path, pycache))
            for name, command in start_up.items():
                seconds[name].append(run_process(command, one_path, pycache))
        peak = gemm_peak()

    median = {name: statistics.median(s) for name, s in seconds.items()}
    ours = n_tokens / median["nertag tag"]
    cost = flop_per_token(model_dir, n_tags, chars)
    bound = peak * 1e9 / cost["total"]
    print(f"\nwhole process on {n_tokens} tokens, medians of {args.rounds} alternating rounds:")
    print(f"{'contender':<34}{'seconds':>9}{'tokens/s':>11}{'nertag / it':>13}")
    for name in contenders:
        rate = n_tokens / median[name]
        print(f"{name:<34}{median[name]:>9.2f}{rate:>11,.0f}{ours / rate:>12.2f}x")
    for name in start_up:
        print(f"{name:<34}{median[name]:>9.2f}")
    print(f"\nFLOP per token of the model: {cost['total']:,.0f} ("
          + ", ".join(f"{k} {v:,.0f}" for k, v in cost.items() if k != "total")
          + f"; {chars:.2f} characters per token)")
    print(f"GEMM peak, float32, 1 thread, 1024^3: {peak:.1f} GFLOP/s -> bound {bound:,.0f} tokens/s; "
          f"nertag tag reaches {100 * ours / bound:.0f}% of it")
    if args.compare_model:
        other = flop_per_token(args.compare_model, n_tags, chars)["total"]
        rate = n_tokens / median[other_model]
        print(f"model {args.compare_model}: {other:,.0f} FLOP per token -> bound {peak * 1e9 / other:,.0f} "
              f"tokens/s; it reaches {100 * rate * other / (peak * 1e9):.0f}% of it")
    if "nertag tag --jobs 2" in median:
        one, two, start = median["nertag tag"], median["nertag tag --jobs 2"], median["nertag tag, one sentence"]
        print(f"--jobs 2 against --jobs 1: {one / two:.2f}x whole process; {(one - start) / (two - start):.2f}x "
              f"after the start-up ({start:.2f} s, the one-sentence run, which workers cannot share)")


if __name__ == "__main__":
    main()
