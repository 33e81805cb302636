"""CMU-MultimodalSDK computational sequences (``*.csd``, HDF5; docs/datasets.md#feature-files) for MOSI/MOSEI.

Layout: one root group (the sequence name) holding ``data/<key>/features`` ``(T, d)`` and
``data/<key>/intervals`` ``(T, 2)`` (start, end seconds). Two kinds of keys are supported:

- **segment keys** ``"{video}[{clip}]"`` (CMU's sequences after ``align``/segmenting; also ``"{video}$_${clip}"``):
  each entry is one segment's frames, used as stored;
- **video keys** (the raw downloads, one entry per video): a segment table is then required (``segments=``,
  e.g. MOSI's ``segments/{train,valid,test}.tsv`` with columns ``vid, cid, start, stop``). A clip's frames are
  the frames of its video whose interval overlaps the clip's ``[start, stop)``: ``frame_start < stop`` and
  ``frame_end > start``. Clips with no overlapping frame get no features (reported as unmatched ids).

A file mixing segment and video keys is read key by key: segment keys as stored, video keys through the
segment table. The MMSA ``clip_id`` is not a row index of the .csd, so segments are never matched by order.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .features import FeatureTable, clean_frames
from .mmsa_labels import MMSA_ID_SEPARATOR, mmsa_id
from .report import ReadReport
from .segment_ids import BRACKET_SEGMENT


@dataclass(frozen=True)
class Segment:
    """One clip of a video and its time span in seconds."""

    video_id: str
    clip_id: str
    start: float
    stop: float


_SEGMENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "video_id": ("vid", "video_id"),
    "clip_id": ("cid", "clip_id"),
    "start": ("start",),
    "stop": ("stop", "end"),
}


def read_segments(paths: str | Path | Iterable[str | Path]) -> dict[str, list[Segment]]:
    """``video_id -> segments`` from segment tables (tsv or csv, a file, a folder of them, or several files).

    Columns (by name): ``vid``/``video_id``, ``cid``/``clip_id``, ``start``, ``stop``/``end``.
    """
    if isinstance(paths, (str, Path)):
        path = Path(paths)
        files = sorted([*path.glob("*.tsv"), *path.glob("*.csv")]) if path.is_dir() else [path]
    else:
        files = [Path(p) for p in paths]
    if not files:
        raise FileNotFoundError(f"segments must name segment .tsv/.csv files or a folder of them, got {paths!r}")
    by_video: dict[str, list[Segment]] = {}
    for file in files:
        with file.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if file.suffix == ".tsv" else ",")
            names = reader.fieldnames or []
            columns = {}
            for field, options in _SEGMENT_COLUMNS.items():
                match = [o for o in options if o in names]
                if not match:
                    raise ValueError(f"{file} must have a column named one of {options}, found {names}")
                columns[field] = match[0]
            for line in reader:
                segment = Segment(
                    line[columns["video_id"]].strip(),
                    line[columns["clip_id"]].strip(),
                    float(line[columns["start"]]),
                    float(line[columns["stop"]]),
                )
                by_video.setdefault(segment.video_id, []).append(segment)
    return by_video


def _segment_key(key: str) -> str | None:
    if MMSA_ID_SEPARATOR in key:
        return key
    match = BRACKET_SEGMENT.match(key)
    return mmsa_id(match["video"], match["clip"]) if match else None


def read_csd(
    path: str | Path,
    modality: str,
    report: ReadReport,
    feature_set: str | None = None,
    segments: dict[str, list[Segment]] | None = None,
) -> FeatureTable:
    """One modality's :class:`FeatureTable` from a ``.csd`` file (see the module docstring).

    Raises ``ValueError`` when the file has video keys and no ``segments`` table was given.
    """
    source = str(path)
    with h5py.File(path, "r") as handle:
        roots = list(handle.keys())
        if len(roots) != 1 or "data" not in handle[roots[0]]:
            raise ValueError(f"{source}: a .csd file must hold one root group with a 'data' group, got {roots}")
        root = roots[0]
        table = FeatureTable(modality, feature_set or f"csd:{root}")
        data = handle[root]["data"]
        for key in data:
            entry = data[key]
            features = entry["features"][()]
            row_id = _segment_key(key)
            if row_id is not None:
                table.arrays[row_id] = clean_frames(features, modality, report, "", row_id, source)
                continue
            if segments is None:
                raise ValueError(
                    f"{source}: key {key!r} is a video, not a segment ('{{video}}[{{clip}}]'); pass segments= "
                    "(segment tables with vid, cid, start, stop) to cut videos into clips"
                )
            if key not in segments:
                report.note("", f"{modality}: video in .csd has no segment in the segment table", key)
                continue
            intervals = np.asarray(entry["intervals"][()], dtype=np.float64)
            if intervals.shape != (features.shape[0], 2):
                raise ValueError(
                    f"{source}: {key}/intervals must have shape ({features.shape[0]}, 2), got {intervals.shape}"
                )
            for segment in segments[key]:
                row_id = mmsa_id(segment.video_id, segment.clip_id)
                inside = (intervals[:, 0] < segment.stop) & (intervals[:, 1] > segment.start)
                if not inside.any():
                    report.note("", f"{modality}: no .csd frame inside the segment's time span", row_id)
                    continue
                table.arrays[row_id] = clean_frames(features[inside], modality, report, "", row_id, source)
    return table
