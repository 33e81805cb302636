"""MOSI/MOSEI rows: MMSA labels plus optional frame features, matched by id."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .features import attach_features
from .mmsa_labels import read_mmsa_labels
from .msa_features import load_msa_features
from .report import ReadReport


def read_msa(
    corpus: str,
    source: str | Path,
    features: str | Path | Mapping[str, str | Path] | None = None,
    feature_format: str | None = None,
    *,
    feature_set: str | None = None,
    segments: str | Path | None = None,
) -> tuple[list[dict], ReadReport]:
    """MOSI or MOSEI rows of the unified schema and the read report.

    Args:
        corpus: ``"mosi"`` or ``"mosei"``.
        source: the MMSA ``label.csv`` or its folder.
        features: optional feature source (see :func:`hub_datasets.msa_features.load_msa_features`).
        feature_format: ``"mmsa"``, ``"mult"``, ``"unimse"``, ``"csd"`` or ``None`` (detect).
        feature_set: name for the ``*_feature_set`` columns.
        segments: segment tables for ``.csd`` files keyed by video.
    """
    report = ReadReport(corpus)
    rows = read_mmsa_labels(corpus, source, report)
    if features is not None:
        tables = load_msa_features(features, feature_format, report, feature_set, segments)
        attach_features(rows, tables, report)
    return rows, report
