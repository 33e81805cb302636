"""PEP 562 lazy attributes for a package ``__init__``: each public name loads from its submodule on first use, so
importing the package (or one light submodule of it) does not import everything, torch included."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_attributes(
    package: str, names: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``names`` map to the submodule that defines each.

    Args:
        package: the package's ``__name__``.
        names: public name -> submodule (relative to ``package``) that defines it.
        namespace: the package's ``globals()``; a loaded name is stored there, so later lookups skip ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{names[name]}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
