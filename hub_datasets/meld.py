"""MELD reader: the official ``{train,dev,test}_sent_emo.csv`` files (+ optional frame features).

Rows are keyed by (split, Dialogue_ID, Utterance_ID) because the ids restart in every split: the row id is
``"{split}/dia{D}_utt{U}"`` and the dialogue id ``"{split}/dia{D}"``. Gold fields: ``meld_emotion``
(``Emotion``) and ``polarity`` (``Sentiment``). Context: the other rows of the same dialogue ordered by
Utterance_ID, with their speakers. Text is the ``Utterance`` as in the source, stripped.

Encoding: the current official CSVs are UTF-8 (typographic quotes such as ``’``). Older copies were
cp1252; a file that is not valid UTF-8 is decoded as cp1252 (noted in the report). A text holding UTF-8
mojibake (``â€™`` for ``’``) is repaired only when ``text.encode("cp1252").decode("utf-8")`` succeeds, which
is the exact inverse of how such mojibake arises; each repair is noted.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from unimse_hf.data.schema import CONTEXT_SIZE, empty_row
from unimse_hf.labels import MELD_EMOTIONS, normalize_polarity

from .context import fill_context
from .erc_pickles import read_dialoguernn_meld, read_unimse_erc_pickle
from .features import FeatureTable, attach_features, load_feature_pickle
from .report import ReadReport

#: file prefix -> unified split
MELD_FILES: dict[str, str] = {"train": "train", "dev": "validation", "test": "test"}
MELD_COLUMNS: tuple[str, ...] = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")
MELD_FEATURE_FORMATS: tuple[str, ...] = ("unimse", "dialoguernn")
_MOJIBAKE_MARKERS: tuple[str, ...] = ("â€", "Ã", "Â")


def meld_id(split: str, dialogue_id: int, utterance_id: int) -> str:
    """``"{split}/dia{D}_utt{U}"``, the MELD row id (unique across splits)."""
    return f"{split}/dia{dialogue_id}_utt{utterance_id}"


def _decode(path: Path, split: str, report: ReadReport) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.values[f"{split}: file decoded as cp1252 (not valid UTF-8)"] += 1
        return raw.decode("cp1252", errors="strict")


def _repair_mojibake(text: str) -> str | None:
    """The repaired text if ``text`` is reversible UTF-8-read-as-cp1252 mojibake, else ``None``."""
    if not any(marker in text for marker in _MOJIBAKE_MARKERS):
        return None
    try:
        fixed = text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return fixed if fixed != text else None


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def read_meld_labels(source: str | Path, report: ReadReport, context_size: int = CONTEXT_SIZE) -> list[dict]:
    """Rows of the unified schema (no features) from the folder holding the three official CSVs.

    Dropped and counted: rows whose Dialogue_ID/Utterance_ID is not an integer, whose Emotion or Sentiment is
    not a MELD label, or whose (split, dialogue, utterance) key was already seen. Dropped rows are not used
    as context of their neighbours.
    """
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(f"source must be the folder holding MELD's *_sent_emo.csv files, got {str(source)!r}")
    dialogues: dict[tuple[str, int], list[tuple[int, dict]]] = {}
    rows: list[dict] = []
    for prefix, split in MELD_FILES.items():
        path = folder / f"{prefix}_sent_emo.csv"
        if not path.is_file():
            raise FileNotFoundError(f"MELD source {str(folder)!r} lacks {path.name}")
        report.sources[f"labels:{split}"] = str(path)
        reader = csv.DictReader(io.StringIO(_decode(path, split, report), newline=""))
        missing = [c for c in MELD_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} must have the MELD columns {MELD_COLUMNS}, missing {missing}")
        seen: set[tuple[int, int]] = set()
        for line in reader:
            dia, utt = _int(line["Dialogue_ID"]), _int(line["Utterance_ID"])
            if dia is None or utt is None:
                report.drop(split, "Dialogue_ID or Utterance_ID is not an integer", f"{split}/{line.get('Sr No.')}")
                continue
            row_id = meld_id(split, dia, utt)
            emotion = (line["Emotion"] or "").strip().lower()
            if emotion not in MELD_EMOTIONS:
                report.drop(split, f"Emotion {line['Emotion']!r} is not a MELD emotion", row_id)
                continue
            try:
                polarity = normalize_polarity(line["Sentiment"] or "")
            except ValueError:
                report.drop(split, f"Sentiment {line['Sentiment']!r} is not a polarity", row_id)
                continue
            if (dia, utt) in seen:
                report.drop(split, "duplicate (Dialogue_ID, Utterance_ID)", row_id)
                continue
            seen.add((dia, utt))
            text = (line["Utterance"] or "").strip()
            repaired = _repair_mojibake(text)
            if repaired is not None:
                text = repaired
                report.note(split, "mojibake repaired (cp1252-read UTF-8)", row_id)
            if not text:
                report.note(split, "empty text", row_id)
            row = empty_row("meld", split, row_id, text)
            row.update(
                speaker=(line["Speaker"] or "").strip(),
                dialogue_id=f"{split}/dia{dia}",
                meld_emotion=emotion,
                meld_emotion_origin="gold",
                polarity=polarity,
                polarity_origin="gold",
            )
            dialogues.setdefault((split, dia), []).append((utt, row))
            rows.append(row)
            report.rows[split] += 1
    for members in dialogues.values():
        members.sort(key=lambda pair: pair[0])
        fill_context([row for _, row in members], context_size)
    return rows


def read_meld(
    source: str | Path,
    features: str | Path | None = None,
    feature_format: str | None = None,
    *,
    feature_set: str | None = None,
    context_size: int = CONTEXT_SIZE,
) -> tuple[list[dict], ReadReport]:
    """MELD rows of the unified schema and the read report (see the module docstring and README)."""
    report = ReadReport("meld")
    rows = read_meld_labels(source, report, context_size)
    if features is not None:
        attach_features(rows, load_meld_features(rows, features, feature_format, report, feature_set), report)
    return rows, report


def load_meld_features(
    rows: list[dict],
    features: str | Path,
    feature_format: str | None,
    report: ReadReport,
    feature_set: str | None = None,
) -> list[FeatureTable]:
    """Feature tables from a UniMSE (``"unimse"``) or DialogueRNN (``"dialoguernn"``) MELD pickle.

    ``feature_format=None`` detects the layout (a dict with ``audio``/``video`` keys or a 9-tuple). The default
    feature-set name is ``"{format}:{file stem}"``. See :mod:`hub_datasets.erc_pickles`.
    """
    data, layout, name = load_feature_pickle(
        features, feature_format, MELD_FEATURE_FORMATS, _detect_layout, report, feature_set
    )
    if layout == "unimse":
        return read_unimse_erc_pickle(data, _unimse_key_to_id, str(features), name, report)
    sizes = {split: 0 for split in MELD_FILES.values()}
    for row in rows:
        number = int(row["dialogue_id"].rsplit("dia", 1)[1])
        sizes[row["split"]] = max(sizes[row["split"]], number + 1)
    offsets = {"train": 0, "validation": sizes["train"], "test": sizes["train"] + sizes["validation"]}
    return [read_dialoguernn_meld(data, offsets, meld_id, str(features), name, report)]


def _detect_layout(data: object, _source: str) -> str:
    """A DialogueRNN 9-tuple, else a UniMSE dict."""
    return "dialoguernn" if isinstance(data, (tuple, list)) else "unimse"


def _unimse_key_to_id(split: str, key: str) -> str | None:
    """``"{D}_{U}"`` of ``split`` -> the MELD row id, ``None`` for any other key."""
    parts = key.split("_")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return meld_id(split, int(parts[0]), int(parts[1]))
