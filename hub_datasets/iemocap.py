"""IEMOCAP reader: the official release folder (+ optional UniMSE / MulT feature pickles).

Layout (docs/datasets.md#label-files): ``Session1..5/dialog/transcriptions/<dialogue>.txt`` (lines
``"<turn id> [start-end]: text"``) and ``Session1..5/dialog/EmoEvaluation/<dialogue>.txt`` (a block per turn
whose first line is ``"[start - end]\\t<turn id>\\t<label>\\t[v, a, d]"``).

- Rows: turns with one of the 6 UniMSE classes (hap, sad, neu, ang, exc, fru). Other majority labels (xxx,
  sur, fea, dis, oth) are dropped and counted per label; transcription lines that are not turns are skipped
  and counted; turns without an EmoEvaluation label are dropped and counted.
- Gold: ``iemocap_emotion`` (the word: hap -> joy, ...), ``polarity`` from the emotion (as UniMSE).
- Splits: Session 5 = test. Sessions 1-4: a dialogue is validation when
  ``int(sha256("unimse-hf/iemocap-validation/" + dialogue).hexdigest()[:8], 16) % 1000 < 1000 * validation_fraction``
  (default 0.1), train otherwise; or pass ``validation_dialogues`` explicitly. Whole dialogues move together.
- Context: ``context="speaker"`` (default, as UniMSE): the same speaker's neighbouring turns of the
  dialogue, with empty speaker names (UniMSE writes none); ``context="conversation"``: the interleaved turns,
  with speakers ``"Ses01_F"``-style. Context holds every transcribed turn of the dialogue, labelled or not.
- ``speaker``: the actor, ``"Ses{session}_{F|M}"`` (the last ``F``/``M`` of the turn id).
- Ids: the turn id (``"Ses01F_impro01_F000"``); ``dialogue_id``: the transcription file stem.

IEMOCAP is licence-restricted (USC EULA): never commit real IEMOCAP files; tests write a synthetic folder.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from unimse_hf.data.schema import CONTEXT_SIZE, empty_row
from unimse_hf.labels import IEMOCAP_ABBREVIATIONS, polarity_from_iemocap

from .context import CONTEXT_COLUMNS, fill_context
from .erc_pickles import read_unimse_erc_pickle
from .features import FeatureTable, attach_features, load_feature_pickle
from .msa_pickles import detect_msa_pickle_format, read_msa_pickle
from .report import ReadReport
from .segment_ids import to_text

TURN_ID = re.compile(r"^Ses(?P<session>\d{2})[FM]_\S+_(?P<speaker>[FM])[0-9A-Z]{3}$")
_TRANSCRIPT_LINE = re.compile(r"^(?P<turn>\S+)\s*\[\s*(?P<start>[0-9.]+)\s*-\s*(?P<end>[0-9.]+)\s*\]:\s?(?P<text>.*)$")
_EVALUATION_LINE = re.compile(r"^\[(?P<start>[0-9.]+)\s*-\s*(?P<end>[0-9.]+)\]\s+(?P<turn>\S+)\s+(?P<label>\w+)\s")
#: whose turns make up a row's context: the same speaker's (UniMSE), or the whole conversation's
CONTEXT_SCOPES: tuple[str, ...] = ("speaker", "conversation")
IEMOCAP_FEATURE_FORMATS: tuple[str, ...] = ("unimse", "mult")
TEST_SESSION = 5
_VALIDATION_SALT = "unimse-hf/iemocap-validation/"


@dataclass
class _Turn:
    turn_id: str
    speaker: str
    start: float
    text: str


def is_validation_dialogue(dialogue: str, validation_fraction: float) -> bool:
    """The deterministic Session 1-4 validation rule (see the module docstring)."""
    bucket = int(hashlib.sha256((_VALIDATION_SALT + dialogue).encode()).hexdigest()[:8], 16) % 1000
    return bucket < round(1000 * validation_fraction)


def _read_transcription(path: Path, split: str, report: ReadReport) -> list[_Turn]:
    turns = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="strict").splitlines(), start=1):
        if not line.strip():
            continue
        match = _TRANSCRIPT_LINE.match(line.strip())
        turn = TURN_ID.match(match["turn"]) if match else None
        if match is None or turn is None:
            report.note(split, "transcription line is not a turn (skipped)", f"{path.name}:{number}")
            continue
        speaker = f"Ses{turn['session']}_{turn['speaker']}"
        turns.append(_Turn(match["turn"], speaker, float(match["start"]), match["text"].strip()))
    turns.sort(key=lambda t: t.start)
    return turns


def _read_evaluation(path: Path) -> dict[str, str]:
    labels = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _EVALUATION_LINE.match(line)
        if match:
            labels[match["turn"]] = match["label"]
    return labels


def read_iemocap_labels(
    source: str | Path,
    report: ReadReport,
    *,
    context: str = "speaker",
    context_size: int = CONTEXT_SIZE,
    validation_fraction: float = 0.1,
    validation_dialogues: Iterable[str] | None = None,
) -> list[dict]:
    """Rows of the unified schema (no features) from an ``IEMOCAP_full_release`` folder."""
    if context not in CONTEXT_SCOPES:
        raise ValueError(f"context must be one of {CONTEXT_SCOPES}, got {context!r}")
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
    folder = Path(source)
    sessions = sorted(p for p in folder.glob("Session[1-5]") if p.is_dir())
    if not sessions:
        raise FileNotFoundError(f"source must be the IEMOCAP release folder holding Session1..5, got {str(source)!r}")
    report.sources["labels"] = str(folder)
    chosen = set(validation_dialogues) if validation_dialogues is not None else None
    rows: list[dict] = []
    for session in sessions:
        for transcript in sorted((session / "dialog" / "transcriptions").glob("*.txt")):
            split = _dialogue_split(int(session.name[-1]), transcript.stem, chosen, validation_fraction)
            rows += _dialogue_rows(transcript, split, context, context_size, report)
    ids = [row["id"] for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{folder}: turn ids repeat across transcription files; the release layout is broken")
    return rows


def _dialogue_split(session: int, dialogue: str, chosen: set[str] | None, validation_fraction: float) -> str:
    """Session 5 is test; a Session 1-4 dialogue is validation when chosen (or by the hash rule), else train."""
    if session == TEST_SESSION:
        return "test"
    if chosen is not None:
        return "validation" if dialogue in chosen else "train"
    return "validation" if is_validation_dialogue(dialogue, validation_fraction) else "train"


def _dialogue_rows(transcript: Path, split: str, context: str, context_size: int, report: ReadReport) -> list[dict]:
    """The labelled rows of one dialogue; their context holds every transcribed turn of it, labelled or not.

    ``context="speaker"``: the same speaker's turns, with empty speaker names; ``"conversation"``: every turn.
    """
    turns = _read_transcription(transcript, split, report)
    evaluation = transcript.parents[1] / "EmoEvaluation" / transcript.name
    labels = _read_evaluation(evaluation) if evaluation.is_file() else {}
    for turn_id in sorted(set(labels) - {t.turn_id for t in turns}):
        report.note(split, "EmoEvaluation turn with no transcription line", turn_id)
    by_speaker = context == "speaker"
    windows: dict[str, list[dict]] = {}  # speaker (or "" for the whole conversation) -> context rows in turn order
    labelled: list[tuple[dict, dict]] = []  # (row, its context row)
    for turn in turns:
        row = empty_row("iemocap", split, turn.turn_id, turn.text)
        row.update(speaker=turn.speaker, dialogue_id=transcript.stem)
        context_row = dict(row, speaker="" if by_speaker else turn.speaker)
        windows.setdefault(turn.speaker if by_speaker else "", []).append(context_row)
        gold = _gold_fields(labels.get(turn.turn_id), turn.turn_id, split, evaluation.is_file(), report)
        if gold is not None:
            row.update(gold)
            labelled.append((row, context_row))
    for window_rows in windows.values():
        fill_context(window_rows, context_size)
    for row, context_row in labelled:
        row.update({key: context_row[key] for key in CONTEXT_COLUMNS})
        report.rows[split] += 1
    return [row for row, _ in labelled]


def _gold_fields(label: str | None, turn_id: str, split: str, has_evaluation: bool, report: ReadReport) -> dict | None:
    """The gold emotion and polarity of a turn's majority label, or ``None`` (dropped and counted)."""
    if label is None:
        report.drop(split, "turn has no EmoEvaluation label" if has_evaluation else "no EmoEvaluation file", turn_id)
        return None
    if label not in IEMOCAP_ABBREVIATIONS:
        report.drop(split, f"label {label!r} is not one of the 6 classes", turn_id)
        return None
    return {
        "iemocap_emotion": IEMOCAP_ABBREVIATIONS[label],
        "iemocap_emotion_origin": "gold",
        "polarity": polarity_from_iemocap(label),
        "polarity_origin": "gold",
    }


def _turn_key(key: object) -> str | None:
    text = to_text(key).strip()
    return text if TURN_ID.match(text) else None


def load_iemocap_features(
    features: str | Path, feature_format: str | None, report: ReadReport, feature_set: str | None = None
) -> list[FeatureTable]:
    """Feature tables from a UniMSE ``iemocap_data_0610.pkl`` (``"unimse"``, dict keyed by turn id) or a MulT
    ``iemocap_data*.pkl`` (``"mult"``, matched by ``id[:, 0]`` as a turn id; its 4-class ``labels`` are not
    used, the gold labels come from the release folder). ``None`` detects the layout.
    """
    data, layout, name = load_feature_pickle(
        features, feature_format, IEMOCAP_FEATURE_FORMATS, _detect_layout, report, feature_set
    )
    source = str(features)
    if layout == "unimse":
        return read_unimse_erc_pickle(data, lambda _split, key: _turn_key(key), source, name, report)
    fmt = detect_msa_pickle_format(data, source)
    return read_msa_pickle(data, fmt, source, name, report, key_to_id=_turn_key)


def _detect_layout(data: object, _source: str) -> str:
    """A UniMSE dict with ``audio``/``video`` keys, else a MulT pickle."""
    return "unimse" if isinstance(data, dict) and ("audio" in data or "video" in data) else "mult"


def read_iemocap(
    source: str | Path,
    features: str | Path | None = None,
    feature_format: str | None = None,
    *,
    feature_set: str | None = None,
    context: str = "speaker",
    context_size: int = CONTEXT_SIZE,
    validation_fraction: float = 0.1,
    validation_dialogues: Iterable[str] | None = None,
) -> tuple[list[dict], ReadReport]:
    """IEMOCAP rows of the unified schema and the read report (see the module docstring)."""
    report = ReadReport("iemocap")
    rows = read_iemocap_labels(
        source,
        report,
        context=context,
        context_size=context_size,
        validation_fraction=validation_fraction,
        validation_dialogues=validation_dialogues,
    )
    if features is not None:
        attach_features(rows, load_iemocap_features(features, feature_format, report, feature_set), report)
    return rows, report
