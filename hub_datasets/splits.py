"""Split names: every corpus's own names mapped to the unified ``train`` / ``validation`` / ``test``."""

from __future__ import annotations

from unimse_hf.data.schema import SPLITS

#: MMSA ``mode`` values, MELD file prefixes and pickle keys -> unified split names.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "valid": "validation",
    "validation": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}


def unified_split(name: str) -> str:
    """Map a source split name (``"valid"``, ``"dev"``, ``"train"``, ...) to one of :data:`SPLITS`."""
    key = str(name).strip().lower()
    if key not in SPLIT_ALIASES:
        raise ValueError(f"split name must be one of {sorted(SPLIT_ALIASES)} (mapped to {SPLITS}), got {name!r}")
    return SPLIT_ALIASES[key]
