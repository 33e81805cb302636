"""Universal label format/parse, label sets and the gold references (docs/method.md, docs/differences.md)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from unimse_hf.labels import (
    CORPORA,
    IEMOCAP_ABBREVIATIONS,
    IEMOCAP_EMOTIONS,
    MELD_EMOTIONS,
    POLARITIES,
    UniversalLabel,
    format_score,
    format_universal_label,
    parse_universal_label,
    polarity_from_iemocap,
    polarity_from_score,
    reference_arrays,
)


def test_label_sets():
    assert len(POLARITIES) == 3 and len(MELD_EMOTIONS) == 7 and len(IEMOCAP_EMOTIONS) == 6
    assert set(IEMOCAP_ABBREVIATIONS.values()) == set(IEMOCAP_EMOTIONS)
    assert IEMOCAP_ABBREVIATIONS["hap"] == "joy" and IEMOCAP_ABBREVIATIONS["fru"] == "frustrated"


@pytest.mark.parametrize(("score", "polarity"), [(-0.2, "negative"), (0.0, "neutral"), (1.4, "positive")])
def test_polarity_from_score(score, polarity):
    assert polarity_from_score(score) == polarity


@pytest.mark.parametrize(
    ("emotion", "polarity"),
    [("neu", "neutral"), ("hap", "positive"), ("excited", "positive"), ("fru", "negative"), ("sad", "negative")],
)
def test_polarity_from_iemocap(emotion, polarity):
    assert polarity_from_iemocap(emotion) == polarity


# ------------------------------------------------------------------------------------------------ format
def test_format_default_one_decimal():
    assert format_universal_label("negative", -1.2, "sadness", "sadness") == "negative,-1.2,sadness,sadness"
    assert format_universal_label("positive", 0.6666666865348816, "joy", "excited") == "positive,0.7,joy,excited"


def test_format_maps_iemocap_abbreviations_to_words():
    assert format_universal_label("negative", -1.2, "sadness", "sad") == "negative,-1.2,sadness,sadness"
    assert format_universal_label("positive", 2, "joy", "exc") == "positive,2.0,joy,excited"


def test_format_precision_and_negative_zero():
    assert format_universal_label("neutral", -0.04, "neutral", "neu") == "neutral,0.0,neutral,neutral"
    assert format_universal_label("positive", 1.23456, "joy", "hap", precision=3) == "positive,1.235,joy,joy"
    assert format_universal_label("positive", 1.6, "joy", "hap", precision=0) == "positive,2,joy,joy"
    # precision=None: the official unrounded float strings (docs/differences.md#score-precision)
    official = format_universal_label("positive", 0.6666666865348816, "joy", "exc", precision=None)
    assert official == "positive,0.6666666865348816,joy,excited"
    assert format_score(np.float32(0.6666666865348816), precision=None) == "0.6666666865348816"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(polarity="Positive"), ValueError, "polarity must be one of"),
        (dict(polarity=None), TypeError, "polarity must be a str"),
        (dict(meld_emotion="excited"), ValueError, "meld_emotion must be one of"),
        (dict(iemocap_emotion="surprise"), ValueError, "iemocap_emotion must be one of"),
        (dict(iemocap_emotion="sur"), ValueError, "got 'sur'"),
        (dict(score=float("nan")), ValueError, "score must be a finite real number"),
        (dict(score=float("-inf")), ValueError, "score must be a finite real number"),
        (dict(score="1.0"), ValueError, "score must be a finite real number, got '1.0'"),
        (dict(score=True), ValueError, "score must be a finite real number"),
        (dict(precision=-1), ValueError, "precision must be a non-negative int or None, got -1"),
        (dict(precision=1.5), ValueError, "precision must be"),
    ],
)
def test_format_rejects_bad_inputs(kwargs, error, message):
    args = dict(polarity="positive", score=1.0, meld_emotion="joy", iemocap_emotion="joy") | kwargs
    precision = args.pop("precision", 1)
    with pytest.raises(error, match=message):
        format_universal_label(**args, precision=precision)


# ------------------------------------------------------------------------------------------------ parse
def _fields(label: UniversalLabel):
    return (label.polarity, label.score, label.meld_emotion, label.iemocap_emotion)


def _flags(label: UniversalLabel):
    return (label.polarity_valid, label.score_valid, label.meld_emotion_valid, label.iemocap_emotion_valid)


def test_parse_well_formed():
    label = parse_universal_label("negative,-1.2,sadness,sadness")
    assert _fields(label) == ("negative", -1.2, "sadness", "sadness")
    assert _flags(label) == (True, True, True, True) and label.num_fields == 4 and label.is_well_formed


def test_parse_official_float_string():
    label = parse_universal_label("positive,0.6666666865348816,joy,excited")
    assert label.score == 0.6666666865348816 and label.is_well_formed


def test_parse_extra_spaces_and_case():
    label = parse_universal_label("  Negative ,  -2.3333332538604736 , Anger,  FRUSTRATED  ")
    assert _fields(label) == ("negative", -2.3333332538604736, "anger", "frustrated") and label.is_well_formed


def test_parse_missing_fields():
    label = parse_universal_label("positive,1.4")
    assert _fields(label) == ("positive", 1.4, "neutral", "neutral")
    assert _flags(label) == (True, True, False, False) and label.num_fields == 2 and not label.is_well_formed
    label = parse_universal_label("positive,1.4,joy")  # generation cut by max_length
    assert label.meld_emotion == "joy" and label.meld_emotion_valid and not label.iemocap_emotion_valid


def test_parse_extra_fields_are_ignored_but_reported():
    label = parse_universal_label("positive,1.0,joy,excited,anger")
    assert _fields(label) == ("positive", 1.0, "joy", "excited")
    assert all(_flags(label)) and label.num_fields == 5 and not label.is_well_formed


@pytest.mark.parametrize("score", ["abc", "1.2.3", "", "nan", "inf", "-inf", "1e999", "0x1p3"])
def test_parse_non_numeric_score_falls_back_to_zero(score):
    label = parse_universal_label(f"negative,{score},anger,anger")
    assert label.score == 0.0 and not label.score_valid
    assert label.polarity == "negative" and label.polarity_valid


def test_parse_abbreviated_emotions_are_mapped_and_recognised():
    label = parse_universal_label("negative,-1.0,ang,fru")
    assert (label.meld_emotion, label.iemocap_emotion) == ("anger", "frustrated")
    assert label.meld_emotion_valid and label.iemocap_emotion_valid
    label = parse_universal_label("positive,1.0,happy,hap")
    assert (label.meld_emotion, label.iemocap_emotion) == ("joy", "joy") and label.is_well_formed
    # the official post-processing cases: sad -> sadness, frust -> frustrated
    label = parse_universal_label("negative,-1.0,sad,frust")
    assert (label.meld_emotion, label.iemocap_emotion) == ("sadness", "frustrated") and label.is_well_formed


def test_parse_emotion_substring_guess_is_flagged():
    label = parse_universal_label("negative,-1.0,sa,frustrat")
    assert (label.meld_emotion, label.iemocap_emotion) == ("sadness", "frustrated")
    assert not label.meld_emotion_valid and not label.iemocap_emotion_valid
    label = parse_universal_label("positive,1.0,joyful,very excited")
    assert (label.meld_emotion, label.iemocap_emotion) == ("joy", "excited")


def test_parse_unknown_emotion_falls_back_to_neutral():
    label = parse_universal_label("positive,1.0,love,surprise")  # surprise is not an IEMOCAP class
    assert (label.meld_emotion, label.iemocap_emotion) == ("neutral", "neutral")
    assert not label.meld_emotion_valid and not label.iemocap_emotion_valid
    # field of the wrong label set: 'excited' is IEMOCAP only
    label = parse_universal_label("positive,1.0,excited,excited")
    assert label.meld_emotion == "neutral" and not label.meld_emotion_valid and label.iemocap_emotion_valid


def test_parse_bad_polarity_uses_the_score_sign():
    label = parse_universal_label("good,-1.5,anger,anger")
    assert label.polarity == "negative" and not label.polarity_valid
    assert parse_universal_label("good,x,anger,anger").polarity == "neutral"


@pytest.mark.parametrize("text", ["", "   ", None, ",,,", "positive joy", "<pad>"])
def test_parse_empty_or_garbage(text):
    label = parse_universal_label(text)
    assert _fields(label) == (label.polarity, 0.0, "neutral", "neutral")
    assert not label.is_well_formed and not label.score_valid


def test_parse_single_number_is_a_score():
    """The official MSA dev/test label is ``str(score)``; a float prediction breaks the official parser."""
    for value in ("-1.8", -1.8):
        label = parse_universal_label(value)
        assert label.score == -1.8 and label.score_valid and label.polarity == "negative"
        assert label.num_fields == 1 and not label.is_well_formed


def test_parse_never_raises_on_odd_objects():
    for value in (object(), 3, [1, 2], b"positive,1.0,joy,joy", float("nan")):
        assert isinstance(parse_universal_label(value), UniversalLabel)


valid_labels = st.tuples(
    st.sampled_from(POLARITIES),
    st.floats(min_value=-3.0, max_value=3.0, allow_nan=False),
    st.sampled_from(MELD_EMOTIONS),
    st.sampled_from(IEMOCAP_EMOTIONS + tuple(IEMOCAP_ABBREVIATIONS)),
    st.integers(min_value=0, max_value=6),
)


@given(valid_labels)
def test_parse_inverts_format_up_to_precision(label):
    polarity, score, meld, iemocap, precision = label
    parsed = parse_universal_label(format_universal_label(polarity, score, meld, iemocap, precision=precision))
    assert parsed.is_well_formed
    assert (parsed.polarity, parsed.meld_emotion) == (polarity, meld)
    assert parsed.iemocap_emotion == IEMOCAP_ABBREVIATIONS.get(iemocap, iemocap)
    assert math.isclose(parsed.score, score, abs_tol=0.5 * 10**-precision + 1e-12)


@given(st.sampled_from(POLARITIES), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(MELD_EMOTIONS))
def test_parse_inverts_unrounded_format_exactly(polarity, score, meld):
    parsed = parse_universal_label(format_universal_label(polarity, score, meld, "neu", precision=None))
    assert parsed.score == score and parsed.is_well_formed


@given(st.text(max_size=40))
def test_parse_never_raises_on_any_text(text):
    label = parse_universal_label(text)
    assert label.polarity in POLARITIES and label.meld_emotion in MELD_EMOTIONS
    assert label.iemocap_emotion in IEMOCAP_EMOTIONS and math.isfinite(label.score)


# ------------------------------------------------------------------------------------------------ references
def test_reference_arrays_take_only_gold_fields():
    rows = [
        {"corpus": "mosi", "score": -1.2, "score_origin": "gold", "meld_emotion": "sadness",
         "meld_emotion_origin": "pseudo", "iemocap_emotion": "sadness", "iemocap_emotion_origin": "pseudo"},
        {"corpus": "meld", "score": 0.0, "score_origin": "pseudo", "meld_emotion": "joy",
         "meld_emotion_origin": "gold", "iemocap_emotion": None, "iemocap_emotion_origin": "missing"},
        {"corpus": "iemocap", "iemocap_emotion": "fru"},  # no origin column: a set value counts as gold
        {"text": "no corpus"},
    ]  # fmt: skip
    refs = reference_arrays(rows)
    assert refs["corpus_id"].tolist() == [CORPORA.index("mosi"), CORPORA.index("meld"), CORPORA.index("iemocap"), -1]
    assert refs["gold_score"][0] == -1.2 and np.isnan(refs["gold_score"][1:]).all()
    assert refs["gold_meld_emotion"].tolist() == [-1, MELD_EMOTIONS.index("joy"), -1, -1]
    assert refs["gold_iemocap_emotion"].tolist() == [-1, -1, IEMOCAP_EMOTIONS.index("frustrated"), -1]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"corpus": "sst2"}, r"rows\[0\]\['corpus'\] must be one of"),
        ({"corpus": "meld", "meld_emotion": "happy"}, r"rows\[0\]\['meld_emotion'\] must be one of"),
        ({"corpus": "mosi", "score": "1.0"}, r"rows\[0\]\['score'\] must be a finite number"),
        ({"corpus": "mosi", "score": float("nan")}, r"rows\[0\]\['score'\] must be a finite number"),
    ],
)
def test_reference_arrays_reject_bad_rows(row, message):
    with pytest.raises(ValueError, match=message):
        reference_arrays([row])


def test_official_meld_v4_labels_parse_and_shorten():
    """Real data: the official MELD training ULs parse; the 257 rows whose IEMOCAP pseudo-label is
    outside the 6 classes are flagged; one decimal brings every target under the 20-token generation limit."""
    import csv

    from conftest import SHARED_DATA, TOKENIZER_DIR
    from transformers import AutoTokenizer

    source = SHARED_DATA / "meld" / "unimse_universal_labels" / "train_sent_emo_v4.csv"
    if not source.exists():
        pytest.skip(f"official v4 labels not found at {source} (only present in the development checkout)")
    with open(source, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    official = [f"{r['Sentiment']},{r['score_label']},{r['Emotion']},{r['iemocap_label']}" for r in rows]
    parsed = [parse_universal_label(text) for text in official]
    bad = [p for p in parsed if not p.is_well_formed]
    assert len(rows) == 9990 and len(bad) == 257 and not any(p.iemocap_emotion_valid for p in bad)
    for row, label in zip(rows, parsed, strict=True):
        assert label.score == float(row["score_label"]) and label.meld_emotion == row["Emotion"]
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)

    def lengths(texts):
        return [len(ids) for ids in tokenizer(texts)["input_ids"]]

    assert sum(n >= 20 for n in lengths(official)) == 668  # docs/differences.md#score-precision
    rounded = [format_universal_label(p.polarity, p.score, p.meld_emotion, p.iemocap_emotion) for p in parsed]
    assert max(lengths(rounded)) < 20
