"""MMSA ``label.csv`` (MOSI, MOSEI): transcript, gold score and split per segment.

Columns ``video_id, clip_id, text, label, annotation, mode, label_by``. One row per segment; the row id is
MMSA's ``"{video_id}$_${clip_id}"``. Text is whitespace-split, lower-cased and re-joined (as UniMSE); the
polarity is ``sign(score)`` (as UniMSE), gold like the score.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from unimse_hf.data.schema import empty_row
from unimse_hf.labels import normalize_polarity, polarity_from_score

from .report import ReadReport
from .splits import SPLIT_ALIASES, unified_split

MMSA_COLUMNS: tuple[str, ...] = ("video_id", "clip_id", "text", "label", "mode")
#: MMSA id separator between video id and clip id.
MMSA_ID_SEPARATOR = "$_$"


def mmsa_id(video_id: str, clip_id: str | int) -> str:
    """``"{video_id}$_${clip_id}"``, the MOSI/MOSEI row id."""
    return f"{video_id}{MMSA_ID_SEPARATOR}{clip_id}"


def normalize_msa_text(text: str) -> str:
    """Whitespace-split, lower-case and re-join with single spaces (as UniMSE)."""
    return " ".join(text.split()).lower()


def resolve_label_csv(source: str | Path) -> Path:
    """``source`` itself if it is a file, else ``source/label.csv``."""
    path = Path(source)
    if path.is_dir():
        path = path / "label.csv"
    if not path.is_file():
        raise FileNotFoundError(f"source must be an MMSA label.csv or a folder holding one, got {str(source)!r}")
    return path


def read_mmsa_labels(corpus: str, source: str | Path, report: ReadReport) -> list[dict]:
    """Rows of the unified schema (no features) from an MMSA ``label.csv``.

    Dropped and counted: rows with an unknown ``mode``, a score that is not a finite number, or an id
    already seen. Noted (kept): scores outside [-3, 3], empty texts, and ``annotation`` values that disagree
    with ``sign(score)`` (the polarity follows the score).
    """
    path = resolve_label_csv(source)
    report.sources["labels"] = str(path)
    rows: list[dict] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in MMSA_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path} must have the MMSA columns {MMSA_COLUMNS}, missing {missing} (found {reader.fieldnames})"
            )
        for line in reader:
            row_id = mmsa_id(line["video_id"].strip(), line["clip_id"].strip())
            mode = (line["mode"] or "").strip().lower()
            if mode not in SPLIT_ALIASES:
                report.drop("", f"unknown mode {line['mode']!r}", row_id)
                continue
            split = unified_split(mode)
            try:
                score = float(line["label"])
            except (TypeError, ValueError):
                score = math.nan
            if not math.isfinite(score):
                report.drop(split, "score is not a finite number", row_id)
                continue
            if row_id in seen:
                report.drop(split, "duplicate id", row_id)
                continue
            seen.add(row_id)
            text = normalize_msa_text(line["text"] or "")
            if not text:
                report.note(split, "empty text", row_id)
            if not -3.0 <= score <= 3.0:
                report.note(split, "score outside [-3, 3]", row_id)
            polarity = polarity_from_score(score)
            annotation = (line.get("annotation") or "").strip()
            if annotation and annotation.lower() in ("positive", "negative", "neutral"):
                if normalize_polarity(annotation) != polarity:
                    report.note(split, "annotation disagrees with sign(score); polarity follows the score", row_id)
            row = empty_row(corpus, split, row_id, text)
            row.update(score=score, score_origin="gold", polarity=polarity, polarity_origin="gold")
            rows.append(row)
            report.rows[split] += 1
    return rows
