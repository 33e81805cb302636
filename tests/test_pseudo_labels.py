"""Pseudo-labelling on hand-made embeddings (docs/method.md#pseudo-labels, docs/differences.md#pseudo-label-pools)."""

import numpy as np
import pytest
from data_helpers import LookupEmbedder, make_corpora, make_row

from unimse_hf.data.pseudo_labels import assign_pseudo_labels, nearest_neighbours
from unimse_hf.data.report import BuildReport


def _get(corpora, corpus, split, text):
    ds = corpora[corpus][split]
    return ds[list(ds["text"]).index(text)]


def test_nearest_neighbours_matches_brute_force_and_chunks():
    rng = np.random.default_rng(0)
    queries, pool = rng.normal(size=(37, 5)), rng.normal(size=(11, 5))
    index, sim = nearest_neighbours(queries, pool, max_chunk_elements=23)  # chunks of 2 queries
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    p = pool / np.linalg.norm(pool, axis=1, keepdims=True)
    brute = q @ p.T
    np.testing.assert_array_equal(index, brute.argmax(axis=1))
    np.testing.assert_allclose(sim, brute.max(axis=1), rtol=1e-5)


def test_nearest_neighbours_ties_go_to_lowest_index():
    pool = np.array([[0.0, 1.0], [2.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    index, _ = nearest_neighbours(np.array([[5.0, 0.0], [0.0, 1.0]]), pool)
    assert index.tolist() == [1, 0]


def test_nearest_neighbours_rejects_bad_shapes():
    with pytest.raises(ValueError, match="pool must hold at least one row"):
        nearest_neighbours(np.ones((2, 3)), np.ones((0, 3)))
    with pytest.raises(ValueError, match=r"\(n, d\) and \(m, d\)"):
        nearest_neighbours(np.ones((2, 3)), np.ones((4, 2)))


@pytest.fixture
def corpora():
    rows = [
        # MSA: positive, negative, neutral; one test row
        make_row("mosi", "train", "msa-pos", "positive", score=2.0),
        make_row("mosi", "train", "msa-neg", "negative", score=-1.5),
        make_row("mosi", "train", "msa-neu", "neutral", score=0.0),
        make_row("mosi", "test", "msa-test-pos", "positive", score=1.0),
        # MELD donors: a negative one identical to msa-pos (must not be picked: wrong polarity),
        # two identical positive ones (tie -> the first), and a test row identical to msa-neg
        make_row("meld", "train", "meld-neg-twin", "negative", meld_emotion="anger"),
        make_row("meld", "train", "meld-pos-a", "positive", meld_emotion="joy"),
        make_row("meld", "train", "meld-pos-b", "positive", meld_emotion="surprise"),
        make_row("meld", "train", "meld-neg", "negative", meld_emotion="sadness"),
        make_row("meld", "train", "meld-neu", "neutral", meld_emotion="neutral"),
        make_row("meld", "test", "meld-test-neg-twin", "negative", meld_emotion="fear"),
        # IEMOCAP donors: one outside the 6 classes identical to msa-pos (excluded from the pool)
        make_row("iemocap", "train", "iem-out", "positive", iemocap_emotion="surprise"),
        make_row("iemocap", "train", "iem-pos", "positive", iemocap_emotion="excited"),
        make_row("iemocap", "train", "iem-neg", "negative", iemocap_emotion="frustrated"),
        make_row("iemocap", "validation", "iem-neu", "neutral", iemocap_emotion="neutral"),
    ]
    return make_corpora(rows)


VECTORS = {
    "msa-pos": [1.0, 0.0, 0.0],
    "msa-neg": [0.0, 1.0, 0.0],
    "msa-neu": [0.0, 0.0, 1.0],
    "msa-test-pos": [0.9, 0.1, 0.0],
    "meld-neg-twin": [1.0, 0.0, 0.0],
    "meld-pos-a": [0.5, 0.5, 0.0],
    "meld-pos-b": [0.5, 0.5, 0.0],
    "meld-neg": [0.2, 0.8, 0.0],
    "meld-neu": [0.0, 0.0, 1.0],
    "meld-test-neg-twin": [0.0, 1.0, 0.0],
    "iem-out": [1.0, 0.0, 0.0],
    "iem-pos": [0.7, 0.0, 0.7],
    "iem-neg": [0.0, 0.7, 0.7],
    "iem-neu": [0.0, 0.0, 1.0],
}


def test_same_polarity_train_only_restricted_pools_and_ties(corpora):
    report = BuildReport()
    out, stats = assign_pseudo_labels(corpora, LookupEmbedder(VECTORS), report=report)
    pos = _get(out, "mosi", "train", "msa-pos")
    # the negative twin (cos 1) is skipped; the positive tie goes to the first donor; "surprise" is no donor
    assert (pos["meld_emotion"], pos["iemocap_emotion"]) == ("joy", "excited")
    assert (pos["meld_emotion_origin"], pos["iemocap_emotion_origin"], pos["score_origin"]) == (
        "pseudo",
        "pseudo",
        "gold",
    )
    neg = _get(out, "mosi", "train", "msa-neg")
    assert neg["meld_emotion"] == "sadness"  # not the identical MELD *test* row ("fear")
    assert neg["iemocap_emotion"] == "frustrated"
    # test rows are filled from the training pools too
    assert _get(out, "mosi", "test", "msa-test-pos")["meld_emotion"] == "joy"
    # MELD/IEMOCAP scores come from MSA training rows of the same polarity
    assert _get(out, "meld", "train", "meld-neg-twin")["score"] == pytest.approx(-1.5)
    assert _get(out, "meld", "test", "meld-test-neg-twin")["score"] == pytest.approx(-1.5)
    assert _get(out, "iemocap", "train", "iem-pos")["score"] == pytest.approx(2.0)
    assert _get(out, "iemocap", "train", "iem-pos")["meld_emotion"] == "joy"
    assert stats.fields["iemocap_emotion"].pool_sizes == {"positive": 1, "negative": 1}
    assert (
        report.total(
            "note", reason="not a iemocap_emotion donor: gold value 'surprise' is outside the evaluated label set"
        )
        == 1
    )


def test_neutral_rows_get_defaults_without_search(corpora):
    embedder = LookupEmbedder(VECTORS)
    out, stats = assign_pseudo_labels(corpora, embedder)
    msa = _get(out, "mosi", "train", "msa-neu")
    assert (msa["meld_emotion"], msa["iemocap_emotion"]) == ("neutral", "neutral")
    meld = _get(out, "meld", "train", "meld-neu")
    assert (meld["score"], meld["iemocap_emotion"], meld["score_origin"]) == (0.0, "neutral", "pseudo")
    iem = _get(out, "iemocap", "validation", "iem-neu")
    assert (iem["score"], iem["meld_emotion"]) == (0.0, "neutral")
    assert not {"msa-neu", "meld-neu", "iem-neu"} & embedder.seen
    assert len(embedder.calls) == 1
    assert stats.fields["score"].neutral_default == 2


def test_gold_fields_are_never_overwritten(corpora):
    out, _ = assign_pseudo_labels(corpora, LookupEmbedder(VECTORS))
    for corpus, field in (("mosi", "score"), ("meld", "meld_emotion"), ("iemocap", "iemocap_emotion")):
        for split, ds in out[corpus].items():
            assert list(ds[field]) == list(corpora[corpus][split][field])
            assert set(ds[f"{field}_origin"]) == ({"gold"} if len(ds) else set())


def test_fallbacks_are_counted():
    rows = [
        make_row("mosi", "train", "msa-pos", "positive", score=2.0),
        make_row("mosi", "train", "msa-nopol", None, score=1.0),
        make_row("meld", "train", "meld-neg", "negative", meld_emotion="anger"),
    ]
    report = BuildReport()
    out, stats = assign_pseudo_labels(
        make_corpora(rows), LookupEmbedder({t: [1.0, 0.0] for t in ("msa-pos", "meld-neg")}), report=report
    )
    pos = _get(out, "mosi", "train", "msa-pos")
    assert (pos["meld_emotion"], pos["meld_emotion_origin"]) == ("neutral", "pseudo")  # no positive MELD donor
    assert (pos["iemocap_emotion"], pos["iemocap_emotion_origin"]) == ("neutral", "pseudo")  # no IEMOCAP corpus
    assert _get(out, "mosi", "train", "msa-nopol")["meld_emotion_origin"] == "missing"
    assert report.total(reason="meld_emotion set to the neutral default: no positive meld_emotion donor") == 1
    no_corpus = "iemocap_emotion set to the neutral default: no iemocap_emotion donor corpus in this build"
    assert report.total(reason=no_corpus) == 2  # msa-pos and meld-neg (msa-nopol has no polarity)
    assert report.total(reason="meld_emotion left missing: the row has no polarity") == 1
    assert stats.fields["meld_emotion"].no_polarity_donor == 1


def test_fill_limits_the_corpora_that_change(corpora):
    out, _ = assign_pseudo_labels(corpora, LookupEmbedder(VECTORS), fill=["mosi"])
    assert list(out["meld"]["train"]["score_origin"]) == ["missing"] * 5
    assert "pseudo" in out["mosi"]["train"]["meld_emotion_origin"]
    with pytest.raises(ValueError, match="fill must name corpora"):
        assign_pseudo_labels(corpora, LookupEmbedder(VECTORS), fill=["mosei"])


def test_deterministic(corpora):
    a, _ = assign_pseudo_labels(corpora, LookupEmbedder(VECTORS))
    b, _ = assign_pseudo_labels(corpora, LookupEmbedder(VECTORS))
    for corpus in a:
        for split in a[corpus]:
            assert a[corpus][split].to_dict() == b[corpus][split].to_dict()
