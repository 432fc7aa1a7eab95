"""The one switch between the compiled kernels and their NumPy twins.

Every kernel module ``_x.pyx`` (Cython) has a twin ``x_numpy.py`` beside it defining the same functions
with the same signatures: the oracle of the kernel tests and a readable statement of what the kernel
computes. A layer with kernels takes ``kernel="cython"`` (the default) or ``kernel="numpy"`` and asks
:func:`select` for the module.

==============  ==================  ====================================================
compiled        NumPy twin          functions
==============  ==================  ====================================================
``_crf``        ``crf_numpy``       ``forward_backward``, ``viterbi``
``_recurrent``  ``recurrent_numpy`` ``gru_scan_forward``, ``gru_scan_backward``
``_embedding``  ``embedding_numpy`` ``scatter_add_rows``
==============  ==================  ====================================================
"""
from __future__ import annotations

from types import ModuleType

from . import _crf, _embedding, _recurrent, crf_numpy, embedding_numpy, recurrent_numpy

KERNELS = ("cython", "numpy")

_MODULES = {
    "crf": (_crf, crf_numpy),
    "recurrent": (_recurrent, recurrent_numpy),
    "embedding": (_embedding, embedding_numpy),
}


def select(module: str, kernel: str) -> ModuleType:
    """The compiled module ``_<module>`` (``kernel="cython"``) or its twin ``<module>_numpy`` ("numpy")."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {list(KERNELS)}, got {kernel!r}")
    return _MODULES[module][KERNELS.index(kernel)]
