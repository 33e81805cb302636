"""Import the official UniMSE v4 universal labels as pseudo fields (the paper's exact targets).

Files (UniMSE PR #19; see docs/datasets.md#official-v4-labels):

- MOSI / MOSEI: ``<source>/unimse_universal_labels.csv`` with columns
  ``video_id, clip_id, text, score_label, annotation, meld_label, iemocap_label, mode, label_by``; matched to
  rows by id ``"{video_id}$_${clip_id}"``.
- MELD: ``<source>/unimse_universal_labels/{train,dev,test}_sent_emo_v4.csv`` with columns
  ``Dialogue_ID, Utterance_ID, Season, Episode, Speaker, Utterance, Emotion, Sentiment, score_label,
  iemocap_label``; matched by (split, dialogue, utterance), i.e. row id ``"{split}/dia{D}_utt{U}"``
  (utterance texts in v4 have their apostrophes stripped, so text is not used). Each file ends with one
  padding row whose ``Dialogue_ID`` is ``-1``: it is skipped and counted.

Only the fields missing for a row's own corpus are taken (gold fields are never overwritten); they get
origin ``"pseudo"``. IEMOCAP codes become words (``neu`` -> ``neutral``); v4 IEMOCAP codes outside the 6
evaluated classes (``sur``, ``fea``, ``dis``, ``oth``) leave the field missing and are counted (the official
``label_filter`` drops those training rows). Rows without a v4 match, and v4 rows without a
dataset row, are counted in the build report. No official file exists for IEMOCAP here.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from datasets import DatasetDict

from unimse_hf.data.columns import replace_columns
from unimse_hf.data.pseudo_labels import PSEUDO_FIELDS
from unimse_hf.data.report import BuildReport
from unimse_hf.labels import IEMOCAP_ABBREVIATIONS, MELD_EMOTIONS

from .meld import MELD_FILES, meld_id
from .mmsa_labels import mmsa_id
from .splits import SPLIT_ALIASES

STEP = "official_labels"
#: unified split -> the MELD v4 file (the official CSV names with ``_v4``)
MELD_V4_FILES: dict[str, str] = {split: f"{prefix}_sent_emo_v4.csv" for prefix, split in MELD_FILES.items()}
MSA_V4_FILE = "unimse_universal_labels.csv"
MELD_V4_COLUMNS: tuple[str, ...] = ("Dialogue_ID", "Utterance_ID", "score_label", "iemocap_label")
MSA_V4_COLUMNS: tuple[str, ...] = ("video_id", "clip_id", "meld_label", "iemocap_label", "mode")
OFFICIAL_CORPORA: tuple[str, ...] = ("mosi", "mosei", "meld")


@dataclass(frozen=True)
class OfficialLabel:
    """The v4 label fields of one row (``None`` where unusable); ``split`` is the v4 file's split."""

    split: str
    score: float | None
    meld_emotion: str | None
    iemocap_emotion: str | None


def official_label_files(corpus: str, source: str | Path) -> list[Path]:
    """The v4 CSV files of ``corpus`` under its source folder ``source`` (existence is not checked).

    ``source`` may also be a file of that folder (e.g. MOSI's ``label.csv``); its folder is used.
    """
    source = Path(source)
    source = source.parent if source.is_file() else source
    if corpus in ("mosi", "mosei"):
        return [source / MSA_V4_FILE]
    if corpus == "meld":
        return [source / "unimse_universal_labels" / name for name in MELD_V4_FILES.values()]
    raise ValueError(f"corpus must be one of {OFFICIAL_CORPORA} for official labels, got {corpus!r}")


def _iemocap_word(code: str, corpus: str, split: str, report: BuildReport) -> str | None:
    word = IEMOCAP_ABBREVIATIONS.get(code.strip())
    if word is None:
        report.add(
            "note",
            STEP,
            corpus,
            split,
            f"v4 iemocap_label {code!r} is outside the 6 evaluated classes; iemocap_emotion left missing",
        )
    return word


def _meld_word(label: str, corpus: str, split: str, report: BuildReport) -> str | None:
    word = label.strip()
    if word not in MELD_EMOTIONS:
        report.add("note", STEP, corpus, split, f"v4 meld_label {label!r} is not a MELD emotion; left missing")
        return None
    return word


def _score(text: str, corpus: str, split: str, report: BuildReport) -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        report.add("note", STEP, corpus, split, f"v4 score_label {text!r} is not a finite number; left missing")
        return None
    return value


def read_official_labels(corpus: str, source: str | Path, report: BuildReport) -> dict[str, OfficialLabel]:
    """Read the v4 labels of ``corpus`` from ``source``; returns row id -> :class:`OfficialLabel`."""
    labels: dict[str, OfficialLabel] = {}
    for path in official_label_files(corpus, source):
        if not path.is_file():
            raise FileNotFoundError(f"official v4 labels of {corpus}: expected file {path}, not found")
        meld_split = next((s for s, name in MELD_V4_FILES.items() if name == path.name), "")
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            required = MELD_V4_COLUMNS if corpus == "meld" else MSA_V4_COLUMNS
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(
                    f"{path} must have the v4 columns {required}, missing {missing} (found {reader.fieldnames})"
                )
            for rec in reader:
                if corpus == "meld":
                    split = meld_split
                    if int(rec["Dialogue_ID"]) < 0:
                        report.add("note", STEP, corpus, split, "v4 padding row (Dialogue_ID = -1) skipped")
                        continue
                    row_id = meld_id(split, int(rec["Dialogue_ID"]), int(rec["Utterance_ID"]))
                    label = OfficialLabel(
                        split,
                        _score(rec["score_label"], corpus, split, report),
                        None,
                        _iemocap_word(rec["iemocap_label"], corpus, split, report),
                    )
                else:
                    split = SPLIT_ALIASES.get(rec["mode"], rec["mode"])
                    row_id = mmsa_id(rec["video_id"], rec["clip_id"])
                    label = OfficialLabel(
                        split,
                        None,
                        _meld_word(rec["meld_label"], corpus, split, report),
                        _iemocap_word(rec["iemocap_label"], corpus, split, report),
                    )
                if row_id in labels:
                    raise ValueError(f"{path}: row id {row_id!r} appears twice")
                labels[row_id] = label
    return labels


def apply_official_labels(
    corpora: Mapping[str, DatasetDict], sources: Mapping[str, str | Path], report: BuildReport
) -> dict[str, DatasetDict]:
    """Fill the missing fields of each corpus's rows from its v4 labels (module docstring).

    Args:
        corpora: corpus name -> ``DatasetDict`` of unified-schema rows.
        sources: corpus name -> its source folder (the one holding the v4 files).
        report: receives the counts of unmatched rows, skipped padding rows and unusable v4 values.
    """
    out: dict[str, DatasetDict] = {}
    for corpus, splits in corpora.items():
        if corpus not in OFFICIAL_CORPORA:
            for split, ds in splits.items():
                report.add("note", STEP, corpus, split, "no official v4 label file for this corpus", len(ds))
            out[corpus] = splits
            continue
        labels = read_official_labels(corpus, sources[corpus], report)
        matched: set[str] = set()
        new_splits = {}
        for split, ds in splits.items():
            columns = ["id", *(n for f in PSEUDO_FIELDS for n in (f, f"{f}_origin"))]
            data = ds.select_columns(columns).to_dict()
            for i, row_id in enumerate(data["id"]):
                label = labels.get(row_id)
                if label is None:
                    report.add("note", STEP, corpus, split, "no v4 row matches this row id")
                    continue
                matched.add(row_id)
                for name in PSEUDO_FIELDS:
                    value = getattr(label, name)
                    if data[f"{name}_origin"][i] == "missing" and value is not None:
                        data[name][i], data[f"{name}_origin"][i] = value, "pseudo"
            del data["id"]
            new_splits[split] = replace_columns(ds, data)
        for row_id, label in labels.items():
            if row_id not in matched:
                report.add("note", STEP, corpus, label.split, "v4 row without a matching dataset row")
        out[corpus] = DatasetDict(new_splits)
    return out
