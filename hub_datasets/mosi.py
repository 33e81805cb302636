"""CMU-MOSI reader: MMSA ``label.csv`` (+ optional frame features matched by id)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .msa import read_msa
from .report import ReadReport


def read_mosi(
    source: str | Path,
    features: str | Path | Mapping[str, str | Path] | None = None,
    feature_format: str | None = None,
    *,
    feature_set: str | None = None,
    segments: str | Path | None = None,
) -> tuple[list[dict], ReadReport]:
    """MOSI rows of the unified schema and the read report (see :func:`hub_datasets.msa.read_msa`)."""
    return read_msa("mosi", source, features, feature_format, feature_set=feature_set, segments=segments)
