"""What a training run leaves behind, to compare runs: shared by test_train.py and reliability/test_signals.py.

Not a test module: pytest puts this directory on ``sys.path``, so the two import it by name.
"""
from __future__ import annotations

import json
from pathlib import Path

import nertag.files

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAIN_PATH = FIXTURES / "wikigold_train100.conll"
DEV_PATH = FIXTURES / "wikigold_dev30.conll"
TIMING = ("seconds", "tokens_per_s", "epoch_seconds")
MODEL_FILES = ("config.json", "vocab.json", "meta.json", "weights.npz")
RUN_NAMING = ("name", "command")  # meta.json fields that name the directory and the command, not the model


def untimed(value):
    """`value` without wall-clock fields, which no two runs share."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def outcome(model_dir: Path) -> dict:
    """Everything a run leaves that must not depend on interruptions: model files byte for byte, the
    checkpoint's arrays and state, the metrics (all without wall-clock times)."""
    result = {name: (model_dir / name).read_bytes() for name in MODEL_FILES}
    # The card names the run: its directory and its command line, which two runs being compared differ in.
    meta = {k: v for k, v in json.loads(result["meta.json"]).items() if k not in RUN_NAMING}
    result["meta.json"] = json.dumps(meta).encode()
    arrays = nertag.files.read_npz(model_dir / "checkpoint.npz", "checkpoint")
    state = json.loads(str(arrays.pop("state")))
    result["checkpoint"] = {k: v.tobytes() for k, v in arrays.items()}
    result["state"] = untimed(state)
    result["metrics"] = untimed([json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()])
    return result


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], key
