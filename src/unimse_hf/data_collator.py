"""Data collator: rows of the unified dataset -> one padded batch for the model (and, optionally, its references).

Evaluation has to score each corpus on its own field (MOSI/MOSEI on the score, MELD and IEMOCAP on their emotion
field, docs/method.md), so the corpus and gold fields must reach ``compute_metrics``. Two ways are supported:

- ``return_metadata=True``: the batch also carries the int/float tensors of :data:`~unimse_hf.labels.REFERENCE_KEYS`
  (``corpus_id``, ``gold_score``, ``gold_meld_emotion``, ``gold_iemocap_emotion``; shape ``(batch,)``). The model
  does not take them: a trainer must remove them with :func:`pop_metadata` before calling the model/``generate``
  and hand them back with the labels as ``(labels, *metadata)`` (what ``UniMSEComputeMetrics`` reads).
- ``return_metadata=False`` (default; what a stock ``Seq2SeqTrainer`` needs): the batch holds model inputs only,
  and ``UniMSEComputeMetrics(processor, eval_dataset=...)`` takes the references from the evaluation dataset,
  whose order the Trainer's evaluation loop keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .feature_extraction_unimse import MODALITIES
from .labels import CORPORA, FIELD_LABELS, REFERENCE_KEYS, parse_universal_label, reference_arrays
from .processing_unimse import UniMSEProcessor

# the row columns handed to the processor besides ``text`` and the frames (the unified schema's text columns)
_CONTEXT_COLUMNS = ("speaker", "context_before", "speakers_before", "context_after", "speakers_after")


#: keys of the target-field tensors (``return_target_fields``): the label ids of the row's universal label
TARGET_FIELD_KEYS: tuple[str, ...] = tuple(f"target_{field}" for field in FIELD_LABELS)


def pop_metadata(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Remove the tensors the model does not take (:data:`REFERENCE_KEYS`, :data:`TARGET_FIELD_KEYS`) from
    ``batch`` in place and return them."""
    return {key: batch.pop(key) for key in REFERENCE_KEYS + TARGET_FIELD_KEYS if key in batch}


def target_field_ids(targets: Sequence[str | None]) -> dict[str, torch.Tensor]:
    """Label ids of each categorical field of the targets: ``{f"target_{field}": int64 (n,)}`` indexing
    ``FIELD_LABELS[field]``, -1 where the target is missing or the field is not recognised."""
    out = {key: torch.full((len(targets),), -1, dtype=torch.long) for key in TARGET_FIELD_KEYS}
    for i, target in enumerate(targets):
        if not target:
            continue
        label = parse_universal_label(target)
        for field, names in FIELD_LABELS.items():
            if getattr(label, f"{field}_valid"):
                out[f"target_{field}"][i] = names.index(getattr(label, field))
    return out


@dataclass
class UniMSEDataCollator:
    """Collate unified-dataset rows with a :class:`UniMSEProcessor`.

    Each row gives ``text``, ``corpus``, ``speaker``, ``context_before``/``speakers_before``,
    ``context_after``/``speakers_after``, optionally ``acoustic``/``visual`` frames (``None`` or zero frames:
    none) and the ``target_column``; other columns are ignored (the reference columns are read when
    ``return_metadata``).

    Args:
        processor: builds the input text, tokenises text and targets, pads acoustic/visual frames.
        target_column: row column holding the target string (the universal label). When no row of a batch has
            one, the batch has no ``labels``; rows without one in a batch with targets get -100 labels (no loss,
            e.g. an evaluation row whose pseudo fields could not be filled: it is still generated for and scored
            on its gold field).
        return_metadata: also return the reference tensors (see the module docstring).
        speaker_corpora: the corpora whose rows keep their speaker names (the paper writes them for MELD only;
            IEMOCAP rows carry actor ids as ``speaker``). ``None``: every corpus.
        return_target_fields: also return the label ids of the target's categorical fields
            (:data:`TARGET_FIELD_KEYS`, int64 ``(batch,)``, -1 when missing), e.g. for a supervised contrastive loss.

    Returns (``__call__``): a ``dict`` with

    - ``input_ids``, ``attention_mask``: int64 ``(batch, length)``;
    - ``labels``: int64 ``(batch, target_length)``, -100 on padding and on rows without a target; only when some
      row has a target;
    - ``acoustic_features`` float32 ``(batch, frames, acoustic_dim)`` + ``acoustic_mask`` int64
      ``(batch, frames)`` (1 = real frame): only when some row has acoustic frames; ``visual_features`` +
      ``visual_mask`` likewise;
    - with ``return_metadata``: ``corpus_id`` int64, ``gold_score`` float32 (NaN when missing),
      ``gold_meld_emotion`` and ``gold_iemocap_emotion`` int64 (-1 when missing), each ``(batch,)``;
    - with ``return_target_fields``: ``target_polarity``, ``target_meld_emotion``, ``target_iemocap_emotion``
      int64 ``(batch,)``.
    """

    processor: UniMSEProcessor
    target_column: str | None = "universal_label"
    return_metadata: bool = False
    speaker_corpora: Sequence[str] | None = ("meld",)
    return_target_fields: bool = False

    def __post_init__(self):
        if self.speaker_corpora is not None:
            if isinstance(self.speaker_corpora, str) or not isinstance(self.speaker_corpora, Sequence):
                raise TypeError(
                    f"speaker_corpora must be a list of corpus names or None, got {type(self.speaker_corpora).__name__}"
                )
            unknown = [c for c in self.speaker_corpora if c not in CORPORA]
            if unknown:
                raise ValueError(f"speaker_corpora must name corpora of {CORPORA} (or be None), got {unknown}")
            self.speaker_corpora = tuple(self.speaker_corpora)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("rows must hold at least one row, got an empty batch")
        kwargs = {name: [row.get(name) for row in rows] for name in _CONTEXT_COLUMNS + MODALITIES}
        if self.speaker_corpora is not None:
            for i, row in enumerate(rows):
                if row.get("corpus") not in self.speaker_corpora:
                    kwargs["speaker"][i] = kwargs["speakers_before"][i] = kwargs["speakers_after"][i] = None
        targets = [None] * len(rows) if self.target_column is None else [row.get(self.target_column) for row in rows]
        without_target = [i for i, target in enumerate(targets) if target is None]
        if len(without_target) < len(rows):
            kwargs["text_target"] = ["" if target is None else target for target in targets]
        batch = dict(self.processor(text=[row.get("text") for row in rows], **kwargs))
        if "labels" in batch and without_target:
            batch["labels"][without_target] = -100
        if self.return_metadata:
            references = reference_arrays(rows)
            batch.update({key: torch.as_tensor(value) for key, value in references.items()})
            batch["gold_score"] = batch["gold_score"].float()
        if self.return_target_fields:
            batch.update(target_field_ids(targets))
        return batch
