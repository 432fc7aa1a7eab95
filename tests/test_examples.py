"""The examples run, a few epochs each, and their training loss falls."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, argv, fall", [
    ("mlp_classifier", ["--epochs", "30"], 0.6),
    ("mlp_regression", ["--epochs", "40"], 0.3),
    ("mlp_regression", ["--epochs", "40", "--batch-size", "0"], 0.9),   # full batch: 40 steps only
    ("char_lm", ["--epochs", "3", "--hidden", "32", "--sample", "20"], 0.9),
    ("char_lm", ["--epochs", "3", "--hidden", "32", "--sample", "0", "--cell", "lstm"], 0.9),
])
def test_the_loss_falls(name, argv, fall):
    lines = []
    result = example(name).main(argv, log=lines.append)
    losses = [row["loss"] for row in result.history]
    assert len(losses) >= 3 and np.all(np.isfinite(losses))
    assert losses[-1] < fall * losses[0], losses
    assert any(line.startswith("epoch 1: loss ") for line in lines)


def test_the_language_model_beats_a_uniform_guess_and_samples_its_alphabet():
    lines = []
    module = example("char_lm")
    result = module.main(["--epochs", "3", "--hidden", "32", "--sample", "30"], log=lines.append)
    text = module.TEXT.read_text(encoding="utf-8")
    assert result.history[-1]["loss_per_char"] < np.log(len(set(text)))
    sample = lines[-1]
    assert sample.startswith("It is a truth") and len(sample) == len("It is a truth") + 30
    assert set(sample) <= set(text)


def test_the_bundled_text_is_small_and_says_where_it_comes_from():
    text = (EXAMPLES / "data" / "pride_and_prejudice_ch1.txt").read_text(encoding="utf-8")
    assert 2000 < len(text) < 20000 and text.startswith("It is a truth universally acknowledged")
    assert "Pride and Prejudice" in (EXAMPLES / "README.md").read_text(encoding="utf-8")
