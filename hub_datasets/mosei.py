"""CMU-MOSEI reader: MMSA ``label.csv`` (+ optional frame features matched by id)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .mmsa_labels import read_mmsa_labels
from .report import ReadReport


def read_mosei(
    source: str | Path,
    features: str | Path | Mapping[str, str | Path] | None = None,
    feature_format: str | None = None,
    *,
    feature_set: str | None = None,
    segments: str | Path | None = None,
) -> tuple[list[dict], ReadReport]:
    """MOSEI rows of the unified schema and the read report (see ``hub_datasets/README.md``)."""
    report = ReadReport("mosei")
    rows = read_mmsa_labels("mosei", source, report)
    if features is not None:
        raise NotImplementedError("MOSEI feature files are not supported yet")
    return rows, report
