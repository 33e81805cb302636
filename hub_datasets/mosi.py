"""CMU-MOSI reader: MMSA ``label.csv`` (+ optional frame features matched by id)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .mmsa_labels import read_mmsa_labels
from .report import ReadReport


def read_mosi(
    source: str | Path,
    features: str | Path | Mapping[str, str | Path] | None = None,
    feature_format: str | None = None,
    *,
    feature_set: str | None = None,
    segments: str | Path | None = None,
) -> tuple[list[dict], ReadReport]:
    """MOSI rows of the unified schema and the read report (see ``hub_datasets/README.md``)."""
    report = ReadReport("mosi")
    rows = read_mmsa_labels("mosi", source, report)
    if features is not None:
        raise NotImplementedError("MOSI feature files are not supported yet")
    return rows, report
