"""gentk: a plugin-based toolkit for generative models on PyTorch.

The Python API lives in `gentk.api`; this package imports nothing heavy so that the CLI starts
quickly.
"""

__version__ = "0.1.0"
