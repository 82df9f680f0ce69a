"""Types shared by the public signatures.

``ArrayLike`` names what the docstrings call array-like: NumPy arrays and
anything ``np.asarray`` takes (lists, pandas frames), and scipy sparse
matrices where a function takes them (``MLPClassifierTorch``). NumPy's own
``numpy.typing.ArrayLike`` leaves sparse matrices out, so the name is an
alias of ``Any`` that documents the argument; each function validates its
arrays at run time, as scikit-learn's do.
"""

from os import PathLike
from typing import Any, TypeAlias

__all__ = ["ArrayLike", "StrPath"]

ArrayLike: TypeAlias = Any
StrPath: TypeAlias = str | PathLike
