"""Mixtures and the evaluated-label filter (docs/datasets.md#mixtures)."""

import pytest
from data_helpers import make_corpora, make_row

from unimse_hf.data.mixtures import build_mixture, filter_evaluated_labels
from unimse_hf.data.report import BuildReport
from unimse_hf.data.universal_labels import write_universal_labels


def _corpus(corpus, n_train, **gold):
    rows = [
        make_row(corpus, split, f"{corpus}-{split}-{i}", "positive", **gold)
        for split, n in (("train", n_train), ("validation", 2), ("test", 3))
        for i in range(n)
    ]
    return make_corpora(rows)[corpus]


def _labelled(corpus, n_train, drop_label_of=0):
    """Every field filled; the first ``drop_label_of`` training rows lack the IEMOCAP field."""
    splits = _corpus(corpus, n_train, score=1.0, meld_emotion="joy")
    out = {}
    for split, ds in splits.items():
        values = ["excited" if split != "train" or i >= drop_label_of else None for i in range(len(ds))]
        ds = ds.remove_columns("iemocap_emotion").add_column(
            "iemocap_emotion", values, feature=ds.features["iemocap_emotion"]
        )
        out[split] = write_universal_labels(ds.select_columns(splits[split].column_names))
    return out


@pytest.fixture
def corpora():
    return {
        "mosi": _labelled("mosi", 4, drop_label_of=1),
        "mosei": _labelled("mosei", 6),
        "meld": _labelled("meld", 5, drop_label_of=2),
    }


def test_mixture_counts_and_splits(corpora):
    report = BuildReport()
    mix = build_mixture("moseld", corpora, seed=0, report=report)
    assert list(mix) == [
        "train",
        "validation_mosi",
        "validation_mosei",
        "validation_meld",
        "test_mosi",
        "test_mosei",
        "test_meld",
    ]
    assert len(mix["train"]) == (4 - 1) + 6 + (5 - 2)
    assert report.total("dropped", step="mixture", corpus="mosi") == 1
    assert report.total("dropped", step="mixture", corpus="meld") == 2
    assert all(label is not None for label in mix["train"]["universal_label"])
    assert set(mix["validation_meld"]["corpus"]) == {"meld"} and len(mix["test_mosei"]) == 3
    assert sorted(mix["train"]["id"]) == sorted(
        i
        for c in corpora
        for i, label in zip(corpora[c]["train"]["id"], corpora[c]["train"]["universal_label"], strict=True)
        if label is not None
    )


def test_mixture_shuffle_is_seeded(corpora):
    a = build_mixture("mos", corpora, seed=3)["train"]["id"]
    b = build_mixture("mos", corpora, seed=3)["train"]["id"]
    c = build_mixture("mos", corpora, seed=4)["train"]["id"]
    assert list(a) == list(b) and list(a) != list(c) and sorted(a) == sorted(c)
    assert [i.split("-")[0] for i in a] != sorted(i.split("-")[0] for i in a)  # corpora interleaved


def test_mixture_errors(corpora):
    with pytest.raises(ValueError, match="name must be one of"):
        build_mixture("mosx", corpora)
    with pytest.raises(ValueError, match=r"corpora lacks \['iemocap'\]"):
        build_mixture("moseldmp", corpora)


def test_filter_evaluated_labels_counts_drops():
    rows = [
        make_row("iemocap", "train", f"t{i}", "negative", iemocap_emotion=e)
        for i, e in enumerate(["anger", "surprise", "fear", "sadness"])
    ]
    rows.append(make_row("iemocap", "test", "t9", "negative", iemocap_emotion="other"))
    report = BuildReport()
    out = filter_evaluated_labels("iemocap", make_corpora(rows)["iemocap"], report)
    assert list(out["train"]["iemocap_emotion"]) == ["anger", "sadness"] and len(out["test"]) == 0
    assert report.total("dropped", corpus="iemocap", split="train") == 2
    assert report.total("dropped", reason="gold iemocap_emotion 'other' is outside the evaluated label set") == 1


def test_placeholders_fill_only_the_target_of_rows_missing_a_field():
    from unimse_hf.data.universal_labels import PLACEHOLDER_TARGETS

    rows = make_corpora(
        [
            make_row("meld", "train", "a", "negative", meld_emotion="anger"),
            make_row("meld", "train", "b", "positive", score=1.5),
            make_row("meld", "train", "c", None),
        ]
    )["meld"]["train"]
    report = BuildReport()
    out = write_universal_labels(rows, placeholders={"score": 0.0, "meld_emotion": "neutral",
                                                     "iemocap_emotion": "neutral"}, report=report)  # fmt: skip
    assert out["universal_label"] == ["negative,0.0,anger,neutral", "positive,1.5,neutral,neutral", None]
    # the field columns keep no placeholder: metrics read gold fields only
    assert out["score"] == [None, 1.5, None] and out["meld_emotion"] == ["anger", None, None]
    assert out["polarity"] == ["negative", "positive", None]
    assert out["iemocap_emotion"] == [None, None, None]
    assert write_universal_labels(rows)["universal_label"] == [None, None, None]
    assert PLACEHOLDER_TARGETS == {"score": 0.0, "meld_emotion": "neutral", "iemocap_emotion": "neutral"}
    notes = [record for record in report.to_records() if "placeholder" in str(record)]
    assert len(notes) == 2
    with pytest.raises(ValueError, match=r"placeholders must name fields of .*got \['emotion'\]"):
        write_universal_labels(rows, placeholders={"emotion": "joy"})
