"""MSA/ERC metrics (MMSA definitions, docs/method.md), compute_metrics for the Trainer, the evaluate.Metric."""

import math

import numpy as np
import pytest
from conftest import TOKENIZER_DIR
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, classification_report, f1_score
from transformers import AutoTokenizer, EvalPrediction

from unimse_hf.labels import MELD_EMOTIONS
from unimse_hf.metrics import UniMSEComputeMetrics, UniMSEMetric, erc_metrics, msa_metrics

# ------------------------------------------------------------------------------------------------ MSA
PREDS = [2.6, -0.4, 0.5, -1.5, 0.0, 1.2, -3.4, 0.3]
GOLD = [3.0, -0.6, 0.0, -1.5, 0.0, 0.8, -2.8, -0.2]  # two gold zeros (samples 2 and 4)

# Worked by hand:
#   |p - y| = .4 .2 .5 0 0 .4 .6 .5 -> MAE 2.6 / 8
#   round(clip(p, 3)) = 3 -0 0 -2 0 1 -3 0 ; round(clip(y, 3)) = 3 -1 0 -2 0 1 -3 -0 -> 7/8 (Acc-5 the same)
#   has0: y >= 0 = T F T F T T F F ; p >= 0 = T F T F T T F T -> 7/8
#         F1(True) = 2*.8*1/1.8 = 8/9, F1(False) = 2*1*.75/1.75 = 6/7, 4 samples each -> (8/9 + 6/7) / 2
#   non0 (drop samples 2, 4): y > 0 = T F F T F F ; p > 0 = T F F T F T -> 5/6
#         F1(True) = 2*(2/3)*1/(5/3) = .8 (support 2), F1(False) = 6/7 (support 4) -> (2*.8 + 4*6/7) / 6
HAND = {
    "mae": 2.6 / 8,
    "acc7": 7 / 8,
    "acc5": 7 / 8,
    "acc2_has0": 7 / 8,
    "f1_has0": (8 / 9 + 6 / 7) / 2,
    "acc2_non0": 5 / 6,
    "f1_non0": (2 * 0.8 + 4 * 6 / 7) / 6,
}


def test_msa_hand_computed_fixture():
    result = msa_metrics(PREDS, GOLD)
    assert set(result) == {"mae", "corr", "acc7", "acc5", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0"}
    for key, value in HAND.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key
    assert result["corr"] == pytest.approx(pearsonr(PREDS, GOLD).statistic, abs=1e-12)


def test_has0_and_non0_differ_on_gold_zeros():
    # gold zeros predicted negative: wrong under has0 (0 counts as non-negative), not scored under non0
    result = msa_metrics([-0.2, -0.1, 1.0, -1.0], [0.0, 0.0, 2.0, -2.0])
    assert result["acc2_has0"] == 0.5 and result["acc2_non0"] == 1.0 and result["f1_non0"] == 1.0
    # a prediction of exactly 0 is positive under has0 (>= 0) and negative under non0 (> 0)
    result = msa_metrics([0.0, 0.0], [1.0, -1.0])
    assert result["acc2_has0"] == 0.5 and result["acc2_non0"] == 0.5
    # every gold score is 0: non0 is undefined (NaN), has0 still scores all samples
    result = msa_metrics([0.3, -0.3], [0.0, 0.0])
    assert result["acc2_has0"] == 0.5 and math.isnan(result["acc2_non0"]) and math.isnan(result["f1_non0"])


def test_acc7_rounds_half_to_even_after_clipping():
    preds = [0.5, 1.5, 2.5, -0.5, -2.5, 3.5, -3.5]
    # half-to-even: 0, 2, 2, -0, -2, and the clipped 3, -3 (half-up would give 1, 2, 3, 0, -2, ...)
    gold = [0.0, 2.0, 2.0, 0.0, -2.0, 3.0, -3.0]
    assert msa_metrics(preds, gold)["acc7"] == 1.0
    assert msa_metrics(preds, [1.0, 2.0, 3.0, 0.0, -2.0, 3.0, -3.0])["acc7"] == pytest.approx(5 / 7)
    # Acc-5 clips to ±2 first: 2.5, 3.5 -> 2; -2.5, -3.5 -> -2
    assert msa_metrics([2.5, 3.5, -2.5, -3.5], [2.0, 2.9, -2.0, -3.0])["acc5"] == 1.0
    assert msa_metrics([2.5, 3.5], [3.0, 3.0])["acc7"] == 0.5  # 2.5 -> 2 != 3; 3.5 -> clip 3 == 3


def test_msa_matches_independent_sklearn_scipy():
    rng = np.random.default_rng(0)
    y = np.round(rng.uniform(-3, 3, 300) * 3) / 3  # MOSEI-like thirds, some exact zeros
    y[:20] = 0.0
    p = y + rng.normal(0, 0.8, 300)
    result = msa_metrics(p.tolist(), y.tolist())
    nz = y != 0
    expected = {
        "mae": float(np.abs(p - y).mean()),
        "corr": pearsonr(p, y).statistic,
        "acc7": accuracy_score(np.round(np.clip(y, -3, 3)), np.round(np.clip(p, -3, 3))),
        "acc5": accuracy_score(np.round(np.clip(y, -2, 2)), np.round(np.clip(p, -2, 2))),
        "acc2_has0": accuracy_score(y >= 0, p >= 0),
        "f1_has0": f1_score(y >= 0, p >= 0, average="weighted"),
        "acc2_non0": accuracy_score(y[nz] > 0, p[nz] > 0),
        "f1_non0": f1_score(y[nz] > 0, p[nz] > 0, average="weighted"),
    }
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-12), key
    assert all(0 <= result[k] <= 1 for k in expected if k != "mae")


def test_msa_corr_of_constant_predictions_is_nan():
    assert math.isnan(msa_metrics([1.0, 1.0, 1.0], [0.5, -1.0, 2.0])["corr"])


@pytest.mark.parametrize(
    ("preds", "labels", "message"),
    [
        ([1.0], [1.0, 2.0], "preds and labels must have the same length, got 1 and 2"),
        ([], [], "empty"),
        ([float("nan")], [1.0], "preds must be finite numbers"),
        ([1.0], [float("inf")], "labels must be finite numbers"),
    ],
)
def test_msa_rejects_bad_inputs(preds, labels, message):
    with pytest.raises(ValueError, match=message):
        msa_metrics(preds, labels)


# ------------------------------------------------------------------------------------------------ ERC
def test_erc_hand_computed_fixture():
    preds = ["joy", "neutral", "anger", "anger", "sadness"]
    gold = ["joy", "anger", "anger", "neutral", "sadness"]
    result = erc_metrics(preds, gold, label_names=MELD_EMOTIONS)
    # F1: joy 1, neutral 0, anger 1/2 (P = R = 1/2), sadness 1; supports 1, 1, 2, 1
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["weighted_f1"] == pytest.approx((1 + 0 + 2 * 0.5 + 1) / 5)
    assert result["macro_f1"] == pytest.approx((1 + 0 + 0.5 + 1) / 4)  # classes absent from both are left out
    assert result["per_class_f1"] == {"neutral": 0.0, "joy": 1.0, "surprise": 0.0, "anger": 0.5,
                                      "sadness": 1.0, "disgust": 0.0, "fear": 0.0}  # fmt: skip
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (7, 7) and cm.sum() == 5 and np.trace(cm) == 3
    assert cm[MELD_EMOTIONS.index("anger"), MELD_EMOTIONS.index("neutral")] == 1
    # rows are the true class, columns the predicted one
    cm = np.array(erc_metrics(["joy", "joy"], ["anger", "joy"], label_names=MELD_EMOTIONS)["confusion_matrix"])
    assert cm[MELD_EMOTIONS.index("anger"), MELD_EMOTIONS.index("joy")] == 1
    assert cm[MELD_EMOTIONS.index("joy"), MELD_EMOTIONS.index("anger")] == 0
    assert result["label_names"] == list(MELD_EMOTIONS)


def test_erc_matches_sklearn_classification_report():
    rng = np.random.default_rng(1)
    gold = rng.choice(MELD_EMOTIONS, 200, p=[0.45, 0.15, 0.12, 0.12, 0.08, 0.04, 0.04]).tolist()
    preds = [g if rng.random() < 0.6 else rng.choice(MELD_EMOTIONS) for g in gold]
    result = erc_metrics(preds, gold, label_names=MELD_EMOTIONS)
    report = classification_report(gold, preds, output_dict=True, zero_division=0)
    assert result["accuracy"] == pytest.approx(report["accuracy"])
    assert result["weighted_f1"] == pytest.approx(report["weighted avg"]["f1-score"])
    assert result["macro_f1"] == pytest.approx(report["macro avg"]["f1-score"])
    for name in MELD_EMOTIONS:
        assert result["per_class_f1"][name] == pytest.approx(report[name]["f1-score"])


def test_erc_default_label_names_and_errors():
    result = erc_metrics(["b", "a"], ["a", "a"])
    assert result["label_names"] == ["a", "b"] and result["accuracy"] == 0.5
    with pytest.raises(ValueError, match=r"labels contain \['happy'\], which are not in label_names"):
        erc_metrics(["joy"], ["happy"], label_names=MELD_EMOTIONS)
    with pytest.raises(ValueError, match="same length"):
        erc_metrics(["joy"], [], label_names=MELD_EMOTIONS)


# ------------------------------------------------------------------------------------------------ evaluate.Metric
def test_evaluate_metric_subclass_works_offline():
    msa = UniMSEMetric("msa")
    result = msa.compute(predictions=PREDS, references=GOLD)
    assert result["acc7"] == pytest.approx(HAND["acc7"]) and result["f1_non0"] == pytest.approx(HAND["f1_non0"])
    erc = UniMSEMetric("erc")
    for p, y in zip(["joy", "anger"], ["joy", "neutral"], strict=True):
        erc.add(prediction=p, reference=y)
    assert erc.compute(label_names=MELD_EMOTIONS)["accuracy"] == 0.5
    with pytest.raises(ValueError, match="config_name must be 'msa' or 'erc'"):
        UniMSEMetric("acc")


# ------------------------------------------------------------------------------------------------ compute_metrics
@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def _ids(tokenizer, texts, pad=-100):
    encoded = tokenizer(texts)["input_ids"]
    width = max(map(len, encoded)) + 2
    return np.array([[0] + ids + [pad] * (width - len(ids) - 1) for ids in encoded])  # decoder start 0 in front


GENERATED = [
    "positive,1.5,joy,excited",  # mosi, gold 1.2
    "negative,-0.5,anger,anger",  # mosi, gold -1.0
    "positive,0.3",  # mosi, cut generation (malformed, but its score is readable), gold 0.0
    "neutral,0.0,neutral,neutral",  # meld, gold neutral
    "negative,-1.0,anger",  # meld, gold sadness (malformed: no IEMOCAP field)
    "negative,-1.0,sadness,frustrated",  # iemocap, gold frustrated
    "garbage",  # iemocap, gold anger: malformed, falls back to neutral
]
ROWS = [
    {"corpus": "mosi", "score": 1.2, "meld_emotion": "joy", "meld_emotion_origin": "pseudo"},
    {"corpus": "mosi", "score": -1.0},
    {"corpus": "mosi", "score": 0.0},
    {"corpus": "meld", "meld_emotion": "neutral", "score": 0.0, "score_origin": "pseudo"},
    {"corpus": "meld", "meld_emotion": "sadness"},
    {"corpus": "iemocap", "iemocap_emotion": "fru"},
    {"corpus": "iemocap", "iemocap_emotion": "anger"},
]


def _check_grouped(result):
    assert result["num_samples"] == 7 and result["malformed"] == 3
    assert result["mosi_num_samples"] == 3 and result["mosi_malformed"] == 0
    expected = msa_metrics([1.5, -0.5, 0.3], [1.2, -1.0, 0.0])
    for key, value in expected.items():
        assert result[f"mosi_{key}"] == pytest.approx(value), key
    assert result["meld_accuracy"] == 0.5 and result["meld_num_samples"] == 2
    assert result["iemocap_accuracy"] == 0.5 and result["iemocap_malformed"] == 1
    assert result["iemocap_f1_frustrated"] == 1.0
    assert not any(key.startswith("mosei_") for key in result)
    assert all(isinstance(value, (int, float)) for value in result.values())  # loggable scalars only


def test_compute_metrics_with_eval_dataset(tokenizer):
    import datasets

    dataset = datasets.Dataset.from_list(
        [{"text": "t", "corpus": r["corpus"], "score": r.get("score"), "meld_emotion": r.get("meld_emotion"),
          "iemocap_emotion": r.get("iemocap_emotion"),
          "meld_emotion_origin": r.get("meld_emotion_origin", "gold"), "score_origin": r.get("score_origin", "gold")}
         for r in ROWS]
    )  # fmt: skip
    compute = UniMSEComputeMetrics(processing_class=tokenizer, eval_dataset=dataset)
    labels = _ids(tokenizer, ["x"] * 7)
    _check_grouped(compute(EvalPrediction(predictions=_ids(tokenizer, GENERATED), label_ids=labels)))
    with pytest.raises(ValueError, match="eval_dataset has 7 rows but 2 predictions came back"):
        compute(EvalPrediction(predictions=_ids(tokenizer, GENERATED[:2]), label_ids=labels[:2]))


def test_compute_metrics_with_metadata_from_the_trainer(tokenizer):
    from unimse_hf.labels import reference_arrays

    refs = reference_arrays(ROWS)
    label_ids = (_ids(tokenizer, ["x"] * 7), *(refs[k] for k in refs))
    compute = UniMSEComputeMetrics(tokenizer)
    _check_grouped(compute(EvalPrediction(predictions=(_ids(tokenizer, GENERATED), None), label_ids=label_ids)))


def test_compute_metrics_single_corpus_reads_gold_from_labels(tokenizer):
    compute = UniMSEComputeMetrics(tokenizer, corpus="meld")
    gold = ["neutral,0.0,neutral,neutral", "negative,-1.0,sadness,sadness"]
    result = compute(EvalPrediction(predictions=_ids(tokenizer, GENERATED[3:5]), label_ids=_ids(tokenizer, gold)))
    assert result["meld_accuracy"] == 0.5 and result["meld_num_samples"] == 2 and result["malformed"] == 1
    with pytest.raises(ValueError, match="no references: give eval_dataset= or corpus="):
        UniMSEComputeMetrics(tokenizer)(EvalPrediction(predictions=_ids(tokenizer, gold), label_ids=None))
    with pytest.raises(ValueError, match="corpus must be one of"):
        UniMSEComputeMetrics(tokenizer, corpus="sst2")
