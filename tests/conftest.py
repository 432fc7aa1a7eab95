"""Shared fixtures."""
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real corpora beside the repository (``../shared/data``).

    Missing, the tests that need them are skipped on a developer machine but fail under CI (env var CI
    set), where a silent skip would hide that the statistics were never checked.
    """
    if not SHARED_DATA.is_dir():
        message = f"the shared corpora are not at {SHARED_DATA}"
        if os.environ.get("CI"):
            pytest.fail(message + " (required when CI is set)")
        pytest.skip(message)
    return SHARED_DATA
