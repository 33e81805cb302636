"""Dispatch MOSI/MOSEI feature sources to their format readers (MMSA/MulT pickles, .csd files)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from unimse_hf.data.schema import MODALITIES

from .csd import read_csd, read_segments
from .features import FeatureTable, load_feature_pickle
from .msa_pickles import detect_msa_pickle_format, read_msa_pickle
from .report import ReadReport

#: ``feature_format`` values for MOSI/MOSEI; ``"unimse"`` (``*_data_0610.pkl``) uses the MulT layout.
MSA_FEATURE_FORMATS: tuple[str, ...] = ("mmsa", "mult", "unimse", "csd")


def load_msa_features(
    features: str | Path | Mapping[str, str | Path],
    feature_format: str | None,
    report: ReadReport,
    feature_set: str | None = None,
    segments: str | Path | None = None,
) -> list[FeatureTable]:
    """Feature tables from ``features``.

    Args:
        features: a pickle path (MMSA / MulT / UniMSE layouts, both modalities in one file), or a mapping
            ``{"acoustic": path, "visual": path}`` of per-modality ``.csd`` files.
        feature_format: one of :data:`MSA_FEATURE_FORMATS`, or ``None`` to detect it (``.csd`` suffix ->
            csd, else the pickle's structure).
        report: the reader's report (sources, non-finite values, unmatched entries).
        feature_set: name for the ``*_feature_set`` columns; default ``"{format}:{file stem}"`` for pickles,
            ``"csd:{root group}"`` for .csd files.
        segments: segment tables (file or folder) for .csd files keyed by video (see ``hub_datasets.csd``).
    """
    if feature_format is not None and feature_format not in MSA_FEATURE_FORMATS:
        raise ValueError(f"feature_format must be one of {MSA_FEATURE_FORMATS} or None, got {feature_format!r}")
    if isinstance(features, Mapping):
        unknown = [m for m in features if m not in MODALITIES]
        if unknown:
            raise ValueError(f"features keys must be among {MODALITIES}, got {sorted(features)}")
        segment_table = read_segments(segments) if segments is not None else None
        tables = []
        for modality, path in features.items():
            if feature_format not in (None, "csd") or Path(path).suffix != ".csd":
                raise ValueError(
                    f"per-modality features must be .csd files (feature_format 'csd'), got {str(path)!r} "
                    f"with feature_format={feature_format!r}"
                )
            report.sources[modality] = str(path)
            tables.append(read_csd(path, modality, report, feature_set, segment_table))
        return tables
    path = Path(features)
    if feature_format == "csd" or path.suffix == ".csd":
        raise ValueError(
            f"a .csd file holds one modality: pass features={{'acoustic': ..., 'visual': ...}}, got {str(path)!r}"
        )
    data, layout, name = load_feature_pickle(
        path,
        feature_format,
        MSA_FEATURE_FORMATS,
        detect_msa_pickle_format,
        report,
        feature_set,
        layouts={"unimse": "mult"},
    )
    return read_msa_pickle(data, layout, str(path), name, report)
