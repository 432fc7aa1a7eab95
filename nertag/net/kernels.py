"""The one switch between the compiled kernels and their NumPy twins.

Every kernel module ``_x.pyx`` (Cython) has a twin ``x_numpy.py`` beside it defining the same functions
with the same signatures: the oracle of the kernel tests and a readable statement of what the kernel
computes. A layer with kernels takes ``kernel="cython"`` (the default) or ``kernel="numpy"`` and asks
:func:`select` for the module.

==============  ==================  ====================================================
compiled        NumPy twin          functions
==============  ==================  ====================================================
``_crf``        ``crf_numpy``       ``forward_backward``, ``viterbi``, ``span_log_probability``
``_recurrent``  ``recurrent_numpy`` ``gru_scan_forward``, ``gru_scan_backward``
``_lstm``       ``lstm_numpy``      ``lstm_scan_forward``, ``lstm_scan_backward``
``_embedding``  ``embedding_numpy`` ``scatter_add_rows``
``_optim``      ``optim_numpy``     ``adam_update``, ``ema_update``
==============  ==================  ====================================================
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType


def _load_cython_blas() -> None:
    """Load ``scipy.linalg.cython_blas``, whose BLAS the scans call, without ``scipy.linalg`` itself.

    Importing a submodule first runs its package's ``__init__``; that of ``scipy.linalg`` imports all of
    SciPy's linear algebra (about 0.2 s, two thirds of a one-sentence ``nertag tag``), none of which the
    kernels use. The extension module is loaded from its file under its own name instead; a later
    ``import scipy.linalg`` runs normally and finds it in ``sys.modules``. Any surprise (another SciPy layout,
    ``scipy.linalg`` already imported) falls back to the ordinary import.
    """
    name = "scipy.linalg.cython_blas"
    if name in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        import scipy
        folder = os.path.join(os.path.dirname(scipy.__file__), "linalg")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "cython_blas" + suffix)
            if os.path.isfile(path):
                break
        else:
            return
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except Exception:                                          # the ordinary import will say what is wrong
        sys.modules.pop(name, None)


_load_cython_blas()

from . import _crf, _embedding, _optim, _recurrent, crf_numpy, embedding_numpy, optim_numpy, recurrent_numpy  # noqa: E402,E501
from . import _lstm, lstm_numpy  # noqa: E402

KERNELS = ("cython", "numpy")

_MODULES = {
    "crf": (_crf, crf_numpy),
    "recurrent": (_recurrent, recurrent_numpy),
    "lstm": (_lstm, lstm_numpy),
    "embedding": (_embedding, embedding_numpy),
    "optim": (_optim, optim_numpy),
}


def select(module: str, kernel: str) -> ModuleType:
    """The compiled module ``_<module>`` (``kernel="cython"``) or its twin ``<module>_numpy`` ("numpy")."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {list(KERNELS)}, got {kernel!r}")
    return _MODULES[module][KERNELS.index(kernel)]
