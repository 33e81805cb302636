"""A restricted unpickler for untrusted feature pickles: numpy arrays and plain containers only.

``pickle.load`` runs whatever callables a file names, so a feature pickle from the internet could run code.
:class:`RestrictedUnpickler` resolves only the globals that numpy arrays, numpy scalars and plain Python
containers need (for pickles written by numpy 1.x and 2.x at protocols 0-5, Python 2 pickles included) and
raises :class:`pickle.UnpicklingError` naming any other ``module.name``, before it is imported or called.
"""

from __future__ import annotations

import _codecs
import builtins
import collections
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:  # numpy >= 2 (and the 1.26 shims)
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy < 1.26
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

_BUILTIN_NAMES: frozenset[str] = frozenset(
    {
        "list",
        "dict",
        "tuple",
        "set",
        "frozenset",
        "bytes",
        "bytearray",
        "str",
        "int",
        "float",
        "complex",
        "bool",
        "slice",
    }
)
_LATIN1_NAMES: frozenset[str] = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1"})


def _codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol 0-2 pickles use it for ``bytes`` (latin-1 text only)."""
    if not isinstance(obj, str) or str(encoding).lower() not in _LATIN1_NAMES:
        raise pickle.UnpicklingError(
            f"refused _codecs.encode({type(obj).__name__}, {encoding!r}): only str -> latin-1 bytes is allowed"
        )
    return _codecs.encode(obj, "latin1", errors)


#: (module, name) -> the object the unpickler may hand out. numpy 1.x pickles name ``numpy.core``; numpy 2
#: pickles ``numpy._core``; both resolve to numpy 2's objects without importing the deprecated alias.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs_encode,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(_module, "scalar")] = _multiarray.scalar
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _numeric._frombuffer
for _module in ("builtins", "__builtin__"):
    for _name in _BUILTIN_NAMES:
        _ALLOWED[(_module, _name)] = getattr(builtins, _name)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only numpy arrays/scalars/dtypes and containers."""

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global; raise ``pickle.UnpicklingError`` naming ``module.name`` otherwise."""
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to unpickle global {module}.{name}: feature pickles may only hold numpy arrays, "
                "numpy scalars and plain containers (list, dict, tuple, set, str, bytes, numbers)"
            ) from None


def safe_loads(data: bytes, encoding: str = "latin1") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    ``encoding`` decodes Python 2 ``str`` objects; ``"latin1"`` is what numpy needs for Python 2 arrays.
    """
    return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()


def safe_load(path: str | Path, encoding: str = "latin1") -> Any:
    """Unpickle the file at ``path`` with :class:`RestrictedUnpickler` (see :func:`safe_loads`)."""
    with Path(path).open("rb") as handle:
        try:
            return RestrictedUnpickler(handle, encoding=encoding).load()
        except pickle.UnpicklingError as error:
            raise pickle.UnpicklingError(f"{path}: {error}") from None
