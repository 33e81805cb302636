"""MSA and ERC metrics of UniMSE, comparable with published tables (MMSA definitions, see docs/method.md).

- :func:`msa_metrics`: MOSI/MOSEI on the score field (MAE, Pearson r, Acc-7, Acc-5, Acc-2/F1 has0 and non0).
- :func:`erc_metrics`: MELD/IEMOCAP on their emotion field (accuracy, weighted/macro F1, per-class F1, confusion).
- :class:`UniMSEComputeMetrics`: ``compute_metrics`` for ``Seq2SeqTrainer(predict_with_generate=True)``.
- :class:`UniMSEMetric`: the same functions as an offline ``evaluate.Metric`` (never ``evaluate.load``).

All rates are fractions in [0, 1], not percentages.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import evaluate
import numpy as np
from sklearn.metrics import confusion_matrix, f1_score

from .labels import (
    CORPORA,
    CORPUS_FIELDS,
    FIELD_LABELS,
    REFERENCE_KEYS,
    parse_universal_label,
    reference_arrays,
)
from .processing_unimse import decode_token_ids


def _as_scores(name: str, values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite numbers, got {int((~np.isfinite(array)).sum())} NaN/inf values")
    return array


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r (``np.corrcoef``); NaN when either side is constant (r is undefined)."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def _binary(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Accuracy and weighted F1 of boolean arrays (NaN when empty)."""
    if truth.size == 0:
        return math.nan, math.nan
    return float(np.mean(truth == pred)), float(f1_score(truth, pred, average="weighted", zero_division=0))


def msa_metrics(preds: Sequence[float], labels: Sequence[float]) -> dict[str, float]:
    """MOSI/MOSEI metrics of predicted vs. gold sentiment scores (MMSA ``eval_mosei_senti``).

    Args:
        preds: predicted scores ``(n,)``.
        labels: gold scores ``(n,)`` in [-3, 3].

    Returns:
        ``mae`` (mean |p - y|, unclipped); ``corr`` (Pearson r, NaN if a side is constant); ``acc7``/``acc5``
        (``round(clip(p, ±3))`` vs. ``round(clip(y, ±3))``, resp. ±2, NumPy round-half-even); ``acc2_has0`` /
        ``f1_has0`` (``y >= 0`` vs. ``p >= 0`` on all samples, weighted F1); ``acc2_non0`` / ``f1_non0``
        (``y > 0`` vs. ``p > 0`` on samples with ``y != 0``; NaN when every ``y`` is 0).
    """
    p = _as_scores("preds", preds)
    y = _as_scores("labels", labels)
    if p.shape != y.shape:
        raise ValueError(f"preds and labels must have the same length, got {p.size} and {y.size}")
    if y.size == 0:
        raise ValueError("preds and labels are empty: need at least one sample")
    acc2_has0, f1_has0 = _binary(y >= 0, p >= 0)
    nonzero = y != 0
    acc2_non0, f1_non0 = _binary(y[nonzero] > 0, p[nonzero] > 0)
    return {
        "mae": float(np.mean(np.abs(p - y))),
        "corr": _pearson(p, y),
        "acc7": float(np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(y, -3, 3)))),
        "acc5": float(np.mean(np.round(np.clip(p, -2, 2)) == np.round(np.clip(y, -2, 2)))),
        "acc2_has0": acc2_has0,
        "f1_has0": f1_has0,
        "acc2_non0": acc2_non0,
        "f1_non0": f1_non0,
    }


def erc_metrics(
    preds: Sequence[str], labels: Sequence[str], label_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """MELD/IEMOCAP metrics of predicted vs. gold emotion words.

    Args:
        preds, labels: emotion words ``(n,)``.
        label_names: the class list (order of ``per_class_f1`` and ``confusion_matrix``); default: the sorted
            union of the words in ``labels`` and ``preds``.

    Returns:
        ``accuracy``; ``weighted_f1`` (support-weighted over ``label_names``, as ``classification_report``'s
        weighted avg); ``macro_f1`` (unweighted mean over the classes of ``label_names`` that occur in
        ``labels`` or ``preds``); ``per_class_f1`` ``{name: f1}``; ``confusion_matrix`` (list of rows: true class,
        columns: predicted class, in ``label_names`` order; predictions outside ``label_names`` are not in it but
        count as errors in every other number); ``label_names``.
    """
    preds = [str(p) for p in preds]
    labels = [str(y) for y in labels]
    if len(preds) != len(labels):
        raise ValueError(f"preds and labels must have the same length, got {len(preds)} and {len(labels)}")
    if not labels:
        raise ValueError("preds and labels are empty: need at least one sample")
    names = sorted(set(labels) | set(preds)) if label_names is None else list(label_names)
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise ValueError(f"labels contain {unknown}, which are not in label_names {names}")
    present = [name for name in names if name in set(labels) | set(preds)]
    per_class = f1_score(labels, preds, labels=names, average=None, zero_division=0)
    return {
        "accuracy": float(np.mean(np.asarray(preds) == np.asarray(labels))),
        "weighted_f1": float(f1_score(labels, preds, labels=names, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(labels, preds, labels=present, average="macro", zero_division=0)),
        "per_class_f1": {name: float(v) for name, v in zip(names, per_class, strict=True)},
        "confusion_matrix": confusion_matrix(labels, preds, labels=names).tolist(),
        "label_names": names,
    }


def corpus_metrics(
    corpus: str,
    predictions: Sequence[Any],
    references: Mapping[str, np.ndarray],
    details: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Score parsed predictions of one corpus on its own field (docs/method.md): flat ``{metric: value}``.

    Args:
        corpus: one of :data:`CORPORA`.
        predictions: :class:`~unimse_hf.labels.UniversalLabel` per sample ``(n,)``.
        references: :func:`~unimse_hf.labels.reference_arrays` of the same samples.
        details: a dict that receives the non-scalar ERC results (``confusion_matrix``, ``label_names``) of an
            ERC corpus with scored samples; left as it is otherwise.

    Returns:
        :func:`msa_metrics` or :func:`erc_metrics` numbers (ERC: per-class F1 as ``f1_<class>``), plus
        ``num_samples`` (scored), ``malformed`` (scored samples whose own field was not recognised) and
        ``no_reference`` (samples skipped because their gold field is missing).
    """
    field = CORPUS_FIELDS[corpus]
    if field == "score":
        gold = references["gold_score"]
        keep = ~np.isnan(gold)
    else:
        gold = references[f"gold_{field}"]
        keep = gold >= 0
    kept = [p for p, k in zip(predictions, keep, strict=True) if k]
    counts = {
        "num_samples": len(kept),
        "malformed": sum(not getattr(p, f"{field}_valid") for p in kept),
        "no_reference": int((~keep).sum()),
    }
    if not kept:
        return counts
    if field == "score":
        return {**msa_metrics([p.score for p in kept], gold[keep]), **counts}
    names = FIELD_LABELS[field]
    scores = erc_metrics([getattr(p, field) for p in kept], [names[i] for i in gold[keep]], label_names=names)
    per_class = {f"f1_{name}": value for name, value in scores["per_class_f1"].items()}
    if details is not None:
        details.update(confusion_matrix=scores["confusion_matrix"], label_names=scores["label_names"])
    return {key: scores[key] for key in ("accuracy", "weighted_f1", "macro_f1")} | per_class | counts


class UniMSEComputeMetrics:
    """``compute_metrics`` for ``Seq2SeqTrainer(predict_with_generate=True)``.

    It decodes the generated ids, parses each into a :class:`~unimse_hf.labels.UniversalLabel`, groups the
    samples by corpus and scores each corpus on its own field. References come from, in order:

    1. ``eval_pred.label_ids`` as a tuple ``(labels, corpus_id, gold_score, gold_meld_emotion,
       gold_iemocap_emotion)``, what a trainer returns after :func:`~unimse_hf.data_collator.pop_metadata`;
    2. ``eval_dataset`` (rows of the unified dataset, in the evaluation order: a Trainer evaluates sequentially);
    3. ``corpus`` (all samples of that corpus) with the gold field parsed from the label ids (the universal
       label; its score has the label's precision, so MSA numbers are approximate in this mode).

    Args:
        processing_class: the processor (or a bare tokenizer) whose tokenizer decodes the ids.
        eval_dataset: rows (``datasets.Dataset`` or list of dicts) with ``corpus``, ``score``, ``meld_emotion``,
            ``iemocap_emotion`` and optionally their ``*_origin`` columns.
        corpus: the corpus of every sample, for mode 3.

    Returns (``__call__``):
        scalars ``"{corpus}_{metric}"`` for each corpus present (see :func:`corpus_metrics`), plus ``malformed``
        (generations that are not a well-formed 4-field UL) and ``num_samples``.

    Attributes:
        last_confusion_matrices: ``{corpus: (matrix, label_names)}`` of the ERC corpora scored by the last call
            (rows: true class, columns: predicted class; kept out of the returned scalars, which the Trainer logs).
    """

    def __init__(self, processing_class, eval_dataset: Any = None, corpus: str | None = None):
        if corpus is not None and corpus not in CORPORA:
            raise ValueError(f"corpus must be one of {CORPORA} or None, got {corpus!r}")
        self.tokenizer = getattr(processing_class, "tokenizer", processing_class)  # a processor's tokenizer decodes
        self.corpus = corpus
        self.references = None
        self.last_confusion_matrices: dict[str, tuple[list[list[int]], list[str]]] = {}
        if eval_dataset is not None:
            columns = ["corpus", "score", "meld_emotion", "iemocap_emotion"]
            if isinstance(eval_dataset, datasets.Dataset):
                present = [c for c in eval_dataset.column_names if c in columns or c.removesuffix("_origin") in columns]
                eval_dataset = eval_dataset.select_columns(present).to_list()
            self.references = reference_arrays(eval_dataset)

    def _decode(self, ids: Any) -> list[str]:
        return decode_token_ids(self.tokenizer, ids)

    def _references(self, label_ids: Any, n: int) -> dict[str, np.ndarray]:
        if isinstance(label_ids, (tuple, list)) and len(label_ids) == 1 + len(REFERENCE_KEYS):
            metadata = zip(REFERENCE_KEYS, label_ids[1:], strict=True)
            return {key: np.asarray(value).reshape(-1) for key, value in metadata}
        if self.references is not None:
            if len(self.references["corpus_id"]) != n:
                raise ValueError(
                    f"eval_dataset has {len(self.references['corpus_id'])} rows but {n} predictions came back: "
                    f"pass the dataset that is being evaluated"
                )
            return self.references
        if self.corpus is None or label_ids is None:
            raise ValueError(
                "no references: give eval_dataset= or corpus=, or return (labels, *metadata) from the trainer"
            )
        gold = [parse_universal_label(text) for text in self._decode(label_ids)]
        rows = [
            {"corpus": self.corpus, "score": g.score, "meld_emotion": g.meld_emotion,
             "iemocap_emotion": g.iemocap_emotion}
            for g in gold
        ]  # fmt: skip
        return reference_arrays(rows)

    def __call__(self, eval_pred) -> dict[str, float]:
        predictions = eval_pred.predictions
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        parsed = [parse_universal_label(text) for text in self._decode(predictions)]
        references = self._references(eval_pred.label_ids, len(parsed))
        results: dict[str, float] = {
            "num_samples": len(parsed),
            "malformed": sum(not p.is_well_formed for p in parsed),
        }
        self.last_confusion_matrices = {}
        corpus_ids = references["corpus_id"]
        unknown = int((corpus_ids < 0).sum())
        if unknown:
            warnings.warn(f"{unknown} evaluation samples have no corpus and are not scored", stacklevel=2)
        for index, corpus in enumerate(CORPORA):
            selected = np.flatnonzero(corpus_ids == index)
            if selected.size == 0:
                continue
            subset = {key: np.asarray(value)[selected] for key, value in references.items()}
            details: dict[str, Any] = {}
            scores = corpus_metrics(corpus, [parsed[i] for i in selected], subset, details)
            if details:
                self.last_confusion_matrices[corpus] = (details["confusion_matrix"], details["label_names"])
            results.update({f"{corpus}_{key}": value for key, value in scores.items()})
        return results


class UniMSEMetric(evaluate.Metric):
    """:func:`msa_metrics` / :func:`erc_metrics` as an ``evaluate.Metric`` that works offline.

    ``UniMSEMetric("msa").compute(predictions=[...scores], references=[...scores])`` or
    ``UniMSEMetric("erc").compute(predictions=[...words], references=[...words], label_names=MELD_EMOTIONS)``.
    Build it directly; ``evaluate.load`` would look for a script on the Hub.
    """

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name not in ("msa", "erc"):
            raise ValueError(f"config_name must be 'msa' or 'erc', got {self.config_name!r}")
        value = datasets.Value("float64" if self.config_name == "msa" else "string")
        return evaluate.MetricInfo(
            description="UniMSE metrics: MSA (MAE, Corr, Acc-7/5/2, F1; MMSA definitions) or ERC (accuracy, F1).",
            citation="Hu et al., UniMSE, EMNLP 2022.",
            inputs_description="predictions/references: scores (msa) or emotion words (erc).",
            features=datasets.Features({"predictions": value, "references": value}),
        )

    def _compute(self, predictions, references, label_names: Sequence[str] | None = None) -> dict[str, Any]:
        if self.config_name == "msa":
            return msa_metrics(predictions, references)
        return erc_metrics(predictions, references, label_names=label_names)
