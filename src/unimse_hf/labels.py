"""Label sets, polarity rules and the universal label (UL) of UniMSE (paper §3.2, label formalization).

The universal label is the T5 target string ``"{polarity},{score},{meld_emotion},{iemocap_emotion}"``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

POLARITIES: tuple[str, ...] = ("positive", "negative", "neutral")
MELD_EMOTIONS: tuple[str, ...] = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
IEMOCAP_EMOTIONS: tuple[str, ...] = ("joy", "sadness", "neutral", "frustrated", "anger", "excited")
#: The four label fields of a unified-dataset row, in column order (the UL writes them as polarity, score,
#: meld_emotion, iemocap_emotion: :func:`format_universal_label` takes them by name).
LABEL_FIELDS: tuple[str, ...] = ("score", "polarity", "meld_emotion", "iemocap_emotion")
#: The label set of each categorical field (``score`` is a number): what is evaluated, pseudo-labelled and parsed.
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "polarity": POLARITIES,
    "meld_emotion": MELD_EMOTIONS,
    "iemocap_emotion": IEMOCAP_EMOTIONS,
}
# IEMOCAP majority-label abbreviations of the 6 evaluated classes -> the words used in the UL.
IEMOCAP_ABBREVIATIONS: dict[str, str] = {
    "hap": "joy",
    "sad": "sadness",
    "neu": "neutral",
    "fru": "frustrated",
    "ang": "anger",
    "exc": "excited",
}


def polarity_from_score(score: float) -> str:
    """MOSI/MOSEI polarity: ``<0`` negative, ``>0`` positive, ``=0`` neutral (the official rule)."""
    if not isinstance(score, (int, float)) or isinstance(score, bool) or math.isnan(score):
        raise ValueError(f"score must be a finite number, got {score!r}")
    if score > 0:
        return "positive"
    if score < 0:
        return "negative"
    return "neutral"


def polarity_from_iemocap(emotion: str) -> str:
    """IEMOCAP polarity from the gold emotion (word or abbreviation): neutral -> neutral,
    joy/excited -> positive, everything else -> negative (the official rule)."""
    word = IEMOCAP_ABBREVIATIONS.get(emotion, emotion)
    if word == "neutral":
        return "neutral"
    if word in ("joy", "excited"):
        return "positive"
    return "negative"


def normalize_polarity(sentiment: str) -> str:
    """MELD's gold ``Sentiment`` (or an MMSA ``annotation``) -> one of :data:`POLARITIES`."""
    word = str(sentiment).strip().lower()
    if word not in POLARITIES:
        raise ValueError(f"sentiment must be one of {POLARITIES} (any case), got {sentiment!r}")
    return word


# --------------------------------------------------------------------------------------------------
# Universal label (UL): format and parse
# --------------------------------------------------------------------------------------------------

#: Emotion fallback of :func:`parse_universal_label` when a field matches nothing (unimse-hf docs, differences.md).
FALLBACK_EMOTION = "neutral"
#: Polarity fallback when the polarity field is unusable and the score is unusable too.
FALLBACK_POLARITY = "neutral"
#: Score fallback for a missing or non-numeric score field (official behaviour).
FALLBACK_SCORE = 0.0

# Known spellings a generation (or a corpus file) may use for an emotion word, beyond the
# IEMOCAP abbreviations.  Only applied when the target is in the field's label set.
EMOTION_ALIASES: dict[str, str] = {
    **IEMOCAP_ABBREVIATIONS,
    "happy": "joy",
    "happiness": "joy",
    "angry": "anger",
    "frust": "frustrated",
    "frustration": "frustrated",
    "excitement": "excited",
    "sur": "surprise",
    "surprised": "surprise",
    "dis": "disgust",
    "disgusted": "disgust",
    "fea": "fear",
    "fearful": "fear",
}


@dataclass(frozen=True)
class UniversalLabel:
    """A parsed universal label.

    Each ``*_valid`` flag says whether that field was recognised as written (any case, surrounding
    spaces ignored; emotion abbreviations/aliases such as ``hap`` or ``happy`` count as recognised).
    A ``False`` flag means the value is a fallback: a substring guess or ``neutral`` for emotions,
    ``0.0`` for the score, and the score's sign (else ``neutral``) for the polarity.
    ``num_fields`` is the number of comma-separated fields found (4 for a well-formed label).
    """

    polarity: str
    score: float
    meld_emotion: str
    iemocap_emotion: str
    polarity_valid: bool = True
    score_valid: bool = True
    meld_emotion_valid: bool = True
    iemocap_emotion_valid: bool = True
    num_fields: int = 4

    @property
    def is_well_formed(self) -> bool:
        """Exactly four fields, each recognised."""
        return self.num_fields == 4 and all(
            (self.polarity_valid, self.score_valid, self.meld_emotion_valid, self.iemocap_emotion_valid)
        )


def _check_choice(name: str, value: object, choices: tuple[str, ...], extra: dict[str, str] | None = None) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {choices}, got {type(value).__name__} {value!r}")
    if value in choices:
        return value
    if extra is not None and value in extra:
        return extra[value]
    allowed = choices if extra is None else choices + tuple(extra)
    raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def format_score(score: float, precision: int | None = 1) -> str:
    """Write a score for the UL: ``precision`` decimals (``-0.0`` written ``0.0``), or, with
    ``precision=None``, Python's shortest ``repr`` of the float (the official unrounded style)."""
    if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(score):
        raise ValueError(f"score must be a finite real number, got {score!r}")
    if precision is None:
        return str(float(score))
    if isinstance(precision, bool) or not isinstance(precision, int) or precision < 0:
        raise ValueError(f"precision must be a non-negative int or None, got {precision!r}")
    text = f"{float(score):.{precision}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def format_universal_label(
    polarity: str,
    score: float,
    meld_emotion: str,
    iemocap_emotion: str,
    *,
    precision: int | None = 1,
) -> str:
    """Build the UL target ``"{polarity},{score},{meld_emotion},{iemocap_emotion}"`` (paper §3.2).

    Args:
        polarity: one of :data:`POLARITIES`.
        score: sentiment score (finite); written with ``precision`` decimals (see :func:`format_score`).
        meld_emotion: one of :data:`MELD_EMOTIONS`.
        iemocap_emotion: one of :data:`IEMOCAP_EMOTIONS` or an abbreviation of
            :data:`IEMOCAP_ABBREVIATIONS` (written as the word, as the official ``label_mapping``).
        precision: decimals of the score; ``None`` keeps the full float (official targets).

    Raises:
        ValueError / TypeError naming the offending argument.
    """
    polarity = _check_choice("polarity", polarity, POLARITIES)
    meld_emotion = _check_choice("meld_emotion", meld_emotion, MELD_EMOTIONS)
    iemocap_emotion = _check_choice("iemocap_emotion", iemocap_emotion, IEMOCAP_EMOTIONS, IEMOCAP_ABBREVIATIONS)
    return f"{polarity},{format_score(score, precision)},{meld_emotion},{iemocap_emotion}"


def parse_score(text: str) -> float | None:
    """A finite float from ``text`` (spaces ignored), or ``None`` when it is not one."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def match_label(text: str, labels: tuple[str, ...]) -> tuple[str, bool]:
    """Map a generated field to a label of ``labels``: ``(label, recognised)``.

    Order (unimse-hf docs: differences.md): exact word (any case, spaces stripped) or known alias/abbreviation
    (:data:`EMOTION_ALIASES`) -> recognised; else the single label that the field is a prefix of
    or that the field contains (``"sa"`` -> ``sadness``, ``"joyful"`` -> ``joy``) -> not
    recognised; else :data:`FALLBACK_EMOTION` (or ``labels[0]`` when ``neutral`` is not a label)
    -> not recognised.
    """
    word = text.strip().lower()
    if word in labels:
        return word, True
    alias = EMOTION_ALIASES.get(word)
    if alias in labels:
        return alias, True
    if word:
        candidates = [label for label in labels if label.startswith(word) or label in word]
        if len(candidates) == 1:
            return candidates[0], False
    return (FALLBACK_EMOTION if FALLBACK_EMOTION in labels else labels[0]), False


def parse_universal_label(text: object) -> UniversalLabel:
    """Parse a generated (or official) UL string.  Never raises.

    Fields are split on ``,`` and stripped.  Field 0 is the polarity, 1 the score, 2 the MELD emotion,
    3 the IEMOCAP emotion; missing fields get fallbacks and extra fields are ignored (both show in
    ``num_fields``).  A text that is a single number (the official MSA dev/test label style) is read as
    the score.  Non-string input (``None``, a float) is converted with ``str`` first (``None`` -> ``""``).
    See :class:`UniversalLabel` for the fallbacks and validity flags.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    fields = [field.strip() for field in text.split(",")]
    num_fields = len(fields) if text.strip() else 0
    if num_fields == 1 and parse_score(fields[0]) is not None:
        fields = ["", fields[0]]
    fields += [""] * (4 - len(fields))

    score = parse_score(fields[1])
    score_valid = score is not None
    score = score if score is not None else FALLBACK_SCORE

    polarity_word = fields[0].lower()
    polarity_valid = polarity_word in POLARITIES
    if not polarity_valid:
        polarity_word = polarity_from_score(score) if score_valid else FALLBACK_POLARITY

    meld, meld_valid = match_label(fields[2], MELD_EMOTIONS)
    iemocap, iemocap_valid = match_label(fields[3], IEMOCAP_EMOTIONS)
    return UniversalLabel(
        polarity=polarity_word,
        score=score,
        meld_emotion=meld,
        iemocap_emotion=iemocap,
        polarity_valid=polarity_valid,
        score_valid=score_valid,
        meld_emotion_valid=meld_valid,
        iemocap_emotion_valid=iemocap_valid,
        num_fields=num_fields,
    )


# --------------------------------------------------------------------------------------------------
# Corpora and the gold references scored for each (the official evaluation)
# --------------------------------------------------------------------------------------------------

CORPORA: tuple[str, ...] = ("mosi", "mosei", "meld", "iemocap")
#: The UL field scored for each corpus: MSA on the score, MELD / IEMOCAP on their own emotion field.
CORPUS_FIELDS: dict[str, str] = {
    "mosi": "score",
    "mosei": "score",
    "meld": "meld_emotion",
    "iemocap": "iemocap_emotion",
}
#: Keys of :func:`reference_arrays` (and of the collator's metadata tensors).
REFERENCE_KEYS: tuple[str, ...] = ("corpus_id", "gold_score", "gold_meld_emotion", "gold_iemocap_emotion")


def _gold_value(row: Mapping[str, object], field: str) -> object:
    """``row[field]`` when set and gold (``{field}_origin`` is ``"gold"`` or absent), else ``None``."""
    value = row.get(field)
    return value if value is not None and row.get(f"{field}_origin", "gold") == "gold" else None


def reference_arrays(rows: Sequence[Mapping[str, object]]) -> dict[str, np.ndarray]:
    """Encode the corpus and the gold fields of unified-dataset rows as numbers (for tensors and metrics).

    A field counts as gold when its value is set and its ``{field}_origin`` column is ``"gold"`` or absent
    (pseudo-labels are never used as references).

    Returns:
        ``corpus_id`` int64 ``(n,)`` index into :data:`CORPORA` (-1 when ``corpus`` is absent or None);
        ``gold_score`` float64 ``(n,)`` (NaN when missing); ``gold_meld_emotion`` / ``gold_iemocap_emotion``
        int64 ``(n,)`` indices into :data:`MELD_EMOTIONS` / :data:`IEMOCAP_EMOTIONS` (-1 when missing).

    Raises:
        ValueError naming the row and column of an unknown corpus or emotion, or a non-numeric score.
    """
    n = len(rows)
    out = {
        "corpus_id": np.full(n, -1, dtype=np.int64),
        "gold_score": np.full(n, np.nan, dtype=np.float64),
        "gold_meld_emotion": np.full(n, -1, dtype=np.int64),
        "gold_iemocap_emotion": np.full(n, -1, dtype=np.int64),
    }
    for i, row in enumerate(rows):
        corpus = row.get("corpus")
        if corpus is not None:
            if corpus not in CORPORA:
                raise ValueError(f"rows[{i}]['corpus'] must be one of {CORPORA}, got {corpus!r}")
            out["corpus_id"][i] = CORPORA.index(corpus)
        score = _gold_value(row, "score")
        if score is not None:
            if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(score):
                raise ValueError(f"rows[{i}]['score'] must be a finite number or None, got {score!r}")
            out["gold_score"][i] = float(score)
        for field, key, choices, extra in (
            ("meld_emotion", "gold_meld_emotion", MELD_EMOTIONS, None),
            ("iemocap_emotion", "gold_iemocap_emotion", IEMOCAP_EMOTIONS, IEMOCAP_ABBREVIATIONS),
        ):
            value = _gold_value(row, field)
            if value is not None:
                out[key][i] = choices.index(_check_choice(f"rows[{i}][{field!r}]", value, choices, extra))
    return out
