"""nertag: a fast named-entity tagger for CPUs, built on a small NumPy + Cython network toolkit."""
__version__ = "0.1.0"
