"""Label sets, polarity rules and the universal label (UL) of UniMSE (spec §2).

The universal label is the T5 target string ``"{polarity},{score},{meld_emotion},{iemocap_emotion}"``.
"""

from __future__ import annotations

import math

POLARITIES: tuple[str, ...] = ("positive", "negative", "neutral")
MELD_EMOTIONS: tuple[str, ...] = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
IEMOCAP_EMOTIONS: tuple[str, ...] = ("joy", "sadness", "neutral", "frustrated", "anger", "excited")
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
    """MOSI/MOSEI polarity: ``<0`` negative, ``>0`` positive, ``=0`` neutral (spec §2.1)."""
    if not isinstance(score, (int, float)) or isinstance(score, bool) or math.isnan(score):
        raise ValueError(f"score must be a finite number, got {score!r}")
    if score > 0:
        return "positive"
    if score < 0:
        return "negative"
    return "neutral"


def polarity_from_iemocap(emotion: str) -> str:
    """IEMOCAP polarity from the gold emotion (word or abbreviation): neutral -> neutral,
    joy/excited -> positive, everything else -> negative (spec §2.1)."""
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
