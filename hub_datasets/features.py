"""Frame features of one modality, keyed by row id, and their attachment to reader rows.

Every feature-format loader returns :class:`FeatureTable` objects; :func:`attach_features` matches them to
rows **by id** (never by position), fills ``acoustic``/``visual`` and the ``*_feature_set`` columns, and
reports ids that are in the labels but not in the features (kept with zero frames) and feature entries with no
label row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unimse_hf.data.schema import MODALITIES, no_frames

from .report import ReadReport
from .safe_pickle import safe_load

#: Source-file key -> unified modality name.
MODALITY_NAMES: dict[str, str] = {
    "audio": "acoustic",
    "acoustic": "acoustic",
    "vision": "visual",
    "video": "visual",
    "visual": "visual",
}


@dataclass
class FeatureTable:
    """Frame sequences of one modality from one feature file.

    Attributes:
        modality: ``"acoustic"`` or ``"visual"``.
        feature_set: the name written to ``<modality>_feature_set`` (e.g. ``"mmsa-aligned_50"``).
        arrays: row id -> ``(T, d)`` float32 array, already cleaned (finite) and trimmed.
        splits: row id -> the unified split the file puts it in (when the file has splits).
    """

    modality: str
    feature_set: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    splits: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")


def load_feature_pickle(
    path: str | Path,
    feature_format: str | None,
    formats: tuple[str, ...],
    detect: Callable[[object, str], str],
    report: ReadReport,
    feature_set: str | None = None,
    *,
    layouts: Mapping[str, str] | None = None,
) -> tuple[object, str, str]:
    """Load a feature pickle (restricted unpickler), detect its layout and check it against ``feature_format``.

    Args:
        path: the pickle; recorded as ``report.sources["features"]``.
        feature_format: the format asked for, or ``None`` to take the detected layout.
        formats: the ``feature_format`` values the reader accepts.
        detect: ``(data, source) -> layout`` from the loaded object's structure.
        report: the reader's report.
        feature_set: the ``*_feature_set`` name; default ``"{feature_format or layout}:{file stem}"``.
        layouts: format -> its layout where the two names differ (MOSI/MOSEI ``"unimse"`` files are ``"mult"``).

    Returns:
        ``(data, layout, feature-set name)``.
    """
    if feature_format not in (None, *formats):
        raise ValueError(f"feature_format must be one of {formats} or None, got {feature_format!r}")
    path = Path(path)
    data = safe_load(path)
    layout = detect(data, str(path))
    expected = (layouts or {}).get(feature_format, feature_format)
    if expected is not None and expected != layout:
        raise ValueError(f"feature_format={feature_format!r} but {path} has the {layout!r} layout")
    report.sources["features"] = str(path)
    return data, layout, feature_set or f"{feature_format or layout}:{path.stem}"


def clean_frames(frames: object, modality: str, report: ReadReport, split: str, row_id: str, source: str) -> np.ndarray:
    """``frames`` as a finite float32 ``(T, d)`` array: NaN and ±inf become 0, counted in ``report``.

    A 1-D vector becomes one frame ``(1, d)``. Raises ``ValueError`` for any other rank.
    """
    array = np.asarray(frames, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(
            f"{source}: {modality} features of {row_id!r} must be 2-D (frames, dim), got shape {array.shape}"
        )
    bad = ~np.isfinite(array)
    n_bad = int(bad.sum())
    if n_bad:
        array = np.where(bad, np.float32(0), array)
        report.values[f"{modality}: non-finite values set to 0"] += n_bad
        report.note(split, f"{modality}: non-finite values set to 0", row_id)
    return np.ascontiguousarray(array)


def trim_left_padding(array: np.ndarray, modality: str, report: ReadReport, split: str, row_id: str) -> np.ndarray:
    """MSA length rule for left-padded arrays without lengths (docs/datasets.md#length-rule).

    ``len = T - (number of all-zero frames)``; keep the last ``len`` frames. A row whose frames are all zero
    keeps one zero frame (UniMSE's length floor of 1) and is noted.
    """
    zero_frames = int((~array.any(axis=1)).sum())
    length = array.shape[0] - zero_frames
    if length == 0:
        report.note(split, f"{modality}: all frames are zero (kept one zero frame)", row_id)
        return array[-1:].copy()
    return array[array.shape[0] - length :]


def attach_features(rows: list[dict], tables: Iterable[FeatureTable], report: ReadReport) -> dict[str, int]:
    """Match ``tables`` to ``rows`` by ``row["id"]`` and fill the feature columns in place.

    Returns ``modality -> dim``. A row without an entry keeps zero frames (``no_frames(dim)``) and an empty
    feature-set name (see ``unimse_hf.data.schema``), noted per id as ``"<modality>: no features for this id"``.
    Entries with no row are noted under ``"<modality>: features with no label row"``; an entry whose file split
    differs from the row's split is noted too. Raises ``ValueError`` when one table mixes per-frame dims or two
    tables share a modality.
    """
    dims: dict[str, int] = {}
    for table in tables:
        if table.modality in dims:
            raise ValueError(f"two feature tables for modality {table.modality!r}; pass one file per modality")
        found = {int(a.shape[1]) for a in table.arrays.values()}
        if len(found) > 1:
            raise ValueError(
                f"{table.modality} feature set {table.feature_set!r} must have one per-frame dim, got {sorted(found)}"
            )
        if not found:
            raise ValueError(f"{table.modality} feature set {table.feature_set!r} holds no arrays")
        dims[table.modality] = found.pop()
        report.feature_sets[table.modality] = table.feature_set
        matched: set[str] = set()
        for row in rows:
            array = table.arrays.get(row["id"])
            if array is None:
                row[table.modality] = no_frames(dims[table.modality])
                row[f"{table.modality}_feature_set"] = ""
                report.note(row["split"], f"{table.modality}: no features for this id", row["id"])
                continue
            row[table.modality] = array
            row[f"{table.modality}_feature_set"] = table.feature_set
            matched.add(row["id"])
            file_split = table.splits.get(row["id"])
            if file_split is not None and file_split != row["split"]:
                report.note(row["split"], f"{table.modality}: feature file puts this id in {file_split}", row["id"])
        for key in table.arrays:
            if key not in matched:
                report.note(table.splits.get(key, ""), f"{table.modality}: features with no label row", key)
    return dims
