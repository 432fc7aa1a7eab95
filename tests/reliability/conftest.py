"""The model the reliability probes damage: built once, copied by each test that changes it."""
from pathlib import Path

import pytest
from probes import TRAIN

from nertag.config import Config
from nertag.data.conll import load_conll
from nertag.model_dir import ModelDir
from nertag.train import build_tagger


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> Path:
    """An untrained tiny model (loading it is all these probes need)."""
    directory = tmp_path_factory.mktemp("hostile") / "model"
    tagger = build_tagger(Config(hidden=4, char_dim=2, char_hidden=2, word_dim=4), load_conll(TRAIN),
                          log=lambda _: None)
    ModelDir(directory).save(tagger)
    return directory
