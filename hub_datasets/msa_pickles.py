"""MOSI/MOSEI feature pickles: MMSA ``Processed/*.pkl`` and MulT/CMU/UniMSE ``*_data*.pkl`` (docs/datasets.md).

Both are ``{"train"|"valid"|"test": {...}}`` with ``audio`` ``(N, L_a, d_a)`` and ``vision`` ``(N, L_v, d_v)``.

- MMSA: ``id`` ``(N,)`` strings ``"{video}$_${clip}"``; unaligned files add ``audio_lengths`` /
  ``vision_lengths``: the first ``length`` frames are kept (MMSA packs them right-padded). Without lengths
  (aligned files) the left-padding rule (docs/datasets.md#length-rule) applies.
- MulT (UniMSE's ``{mosi,mosei}_data_0610.pkl`` too): ``id`` ``(N, 3)``; ``id[:, 0]`` is the segment
  (``"{video}_{clip}"`` or ``"{video}[{clip}]"``); the left-padding rule applies.

Non-finite values become 0 before lengths are computed (MMSA's audio holds ``-inf``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .features import MODALITY_NAMES, FeatureTable, clean_frames, trim_left_padding
from .report import ReadReport
from .segment_ids import segment_row_id, to_text
from .splits import unified_split

PICKLE_SPLITS: tuple[str, ...] = ("train", "valid", "test")
MSA_PICKLE_FORMATS: tuple[str, ...] = ("mmsa", "mult")


def detect_msa_pickle_format(data: object, source: str) -> str:
    """``"mmsa"`` (1-D string ids) or ``"mult"`` (``(N, 3)`` ids) from the loaded pickle's structure."""
    if not isinstance(data, dict) or not any(split in data for split in PICKLE_SPLITS):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{source}: an MSA feature pickle must be a dict with keys {PICKLE_SPLITS}, got {found}")
    split = next(s for s in PICKLE_SPLITS if s in data)
    ids = np.asarray(data[split].get("id")) if isinstance(data[split], dict) else None
    if ids is None or ids.ndim not in (1, 2):
        raise ValueError(f"{source}: {split!r} must hold an 'id' array of shape (N,) or (N, 3)")
    return "mmsa" if ids.ndim == 1 else "mult"


def read_msa_pickle(
    data: dict,
    fmt: str,
    source: str,
    feature_set: str,
    report: ReadReport,
    key_to_id: Callable[[object], str | None] = segment_row_id,
) -> list[FeatureTable]:
    """Feature tables (acoustic and/or visual) from a loaded MMSA (``fmt="mmsa"``) or MulT (``"mult"``) pickle.

    ``key_to_id`` maps a file id (``id[i]`` or ``id[i, 0]``) to the row id, ``None`` when it names no row; the
    default parses MOSI/MOSEI segment ids (the IEMOCAP reader passes a turn-id parser for ``iemocap_data*.pkl``).
    """
    if fmt not in MSA_PICKLE_FORMATS:
        raise ValueError(f"fmt must be one of {MSA_PICKLE_FORMATS}, got {fmt!r}")
    tables: dict[str, FeatureTable] = {}
    for source_split in PICKLE_SPLITS:
        if source_split not in data:
            continue
        part = data[source_split]
        split = unified_split(source_split)
        raw_ids = np.asarray(part["id"])
        keys = raw_ids if fmt == "mmsa" else raw_ids[:, 0]
        row_ids = []
        for position, key in enumerate(keys):
            row_id = key_to_id(key)
            if row_id is None:
                row_id = to_text(key)
                report.note(split, f"feature id {row_id!r} names no row (kept under that key)", row_id)
            row_ids.append((position, row_id))
        for file_key in ("audio", "vision"):
            if file_key not in part:
                continue
            modality = MODALITY_NAMES[file_key]
            table = tables.setdefault(modality, FeatureTable(modality, feature_set))
            arrays = part[file_key]
            lengths = part.get(f"{file_key}_lengths")
            if len(arrays) != len(row_ids) or (lengths is not None and len(lengths) != len(row_ids)):
                raise ValueError(
                    f"{source}: {source_split}/{file_key} has {len(arrays)} entries"
                    f"{'' if lengths is None else f' and {len(lengths)} lengths'}, 'id' has {len(row_ids)}"
                )
            for position, row_id in row_ids:
                if row_id in table.arrays:
                    report.note(split, f"{modality}: duplicate feature id (first kept)", row_id)
                    continue
                frames = clean_frames(arrays[position], modality, report, split, row_id, source)
                if lengths is None:
                    frames = trim_left_padding(frames, modality, report, split, row_id)
                else:
                    frames = _first_frames(frames, int(lengths[position]), modality, report, split, row_id)
                table.arrays[row_id] = frames
                table.splits[row_id] = split
    return list(tables.values())


def _first_frames(
    frames: np.ndarray, length: int, modality: str, report: ReadReport, split: str, row_id: str
) -> np.ndarray:
    """The first ``length`` frames (MMSA unaligned lengths); length 0 keeps one frame, too long keeps all."""
    if length < 1:
        report.note(split, f"{modality}: length {length} < 1 (kept one frame)", row_id)
        return frames[:1].copy()
    if length > frames.shape[0]:
        report.note(split, f"{modality}: length exceeds the stored frames (kept all)", row_id)
    return frames[:length]
