"""Build the Cython kernels: every ``nertag/**/_*.pyx`` becomes an extension module."""
import sys
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

sources = sorted(Path("nertag").rglob("_*.pyx"))
# Without the kernels the package imports but cannot tag: refuse rather than build a pure-Python wheel.
if not sources:
    raise SystemExit("setup.py: no nertag/**/_*.pyx found in " + str(Path.cwd())
                     + ": the Cython sources of the kernels are missing (an sdist built without them?)")

extensions = [
    Extension(
        ".".join(pyx.with_suffix("").parts),
        [str(pyx)],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # _optim's sqrt must be one vector instruction: without errno to set for a negative argument it is
        # (the values are the same; GCC ignores "no-math-errno" in a source pragma).
        extra_compile_args=["-O3"] + (["-fno-math-errno"] if pyx.stem == "_optim" else []),
    )
    for pyx in sources
]
# Python's own CFLAGS carry -g, which makes the modules about five times their size: keep the symbols
# (profilers and backtraces name the kernels' functions) and drop the debug sections at link time.
if sys.platform.startswith("linux"):
    for extension in extensions:
        extension.extra_link_args.append("-Wl,--strip-debug")

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)
