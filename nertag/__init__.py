"""nertag: a fast named-entity tagger for CPUs, built on a small NumPy + Cython network toolkit."""
from __future__ import annotations

__version__ = "0.1.0"


def load(name_or_path: str | None = None):
    """A :class:`nertag.tagger.Tagger`: a bundled model by name (``"conll2003"``, ``"wikigold"``), a model
    directory, or by default the bundled CoNLL-2003 model.

    >>> import nertag
    >>> tagger = nertag.load()
    >>> [(e.text, e.type) for e in tagger.tag_text("John lives in Berlin.")]
    [('John', 'PER'), ('Berlin', 'LOC')]
    """
    import os

    from .model_dir import BUNDLED_NAMES, bundled_model
    from .tagger import Tagger

    if name_or_path is None or (name_or_path in BUNDLED_NAMES and not os.path.isdir(name_or_path)):
        return Tagger.load(bundled_model(name_or_path))
    return Tagger.load(name_or_path)
