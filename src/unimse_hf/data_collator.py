"""Data collator: rows of the unified dataset -> one padded batch for the model (and, optionally, its references).

Evaluation has to score each corpus on its own field (MOSI/MOSEI on the score, MELD and IEMOCAP on their emotion
field, docs/method.md), so the corpus and gold fields must reach ``compute_metrics``. Two ways are supported:

- ``return_metadata=True``: the batch also carries the int/float tensors of :data:`~unimse_hf.labels.REFERENCE_KEYS`
  (``corpus_id``, ``gold_score``, ``gold_meld_emotion``, ``gold_iemocap_emotion``; shape ``(batch,)``). The model
  does not take them: a trainer must remove them with :func:`pop_metadata` before calling the model/``generate``
  and hand them back with the labels as ``(labels, *metadata)`` (what ``UniMSEComputeMetrics`` reads).
- ``return_metadata=False`` (default; what a stock ``Seq2SeqTrainer`` needs): the batch holds model inputs only,
  and ``UniMSEComputeMetrics(tokenizer, eval_dataset=...)`` takes the references from the evaluation dataset,
  whose order the Trainer's evaluation loop keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .labels import REFERENCE_KEYS, reference_arrays
from .processing_unimse import UniMSEProcessor


def pop_metadata(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Remove the reference tensors (:data:`REFERENCE_KEYS`) from ``batch`` in place and return them."""
    return {key: batch.pop(key) for key in REFERENCE_KEYS if key in batch}


@dataclass
class UniMSEDataCollator:
    """Collate unified-dataset rows with a :class:`UniMSEProcessor`.

    Args:
        processor: builds the input text, tokenises text and targets, pads acoustic/visual frames.
        target_column: row column holding the target string (the universal label). When no row of a batch has
            one, the batch has no ``labels``; rows without one in a batch with targets get -100 labels (no loss).
        return_metadata: also return the reference tensors (see the module docstring).

    Returns (``__call__``):
        ``dict`` with ``input_ids``/``attention_mask`` ``(batch, length)``, ``labels`` ``(batch, target_length)``
        (-100 on padding), ``acoustic_features`` ``(batch, frames, dim)`` + ``acoustic_mask`` ``(batch, frames)``
        and the visual pair when some row has frames, and, with ``return_metadata``, ``corpus_id`` int64,
        ``gold_score`` float32 (NaN when missing), ``gold_meld_emotion``/``gold_iemocap_emotion`` int64 (-1 when
        missing), each ``(batch,)``.
    """

    processor: UniMSEProcessor
    target_column: str | None = "universal_label"
    return_metadata: bool = False

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("rows must hold at least one row, got an empty batch")
        has_target = self.target_column is not None and any(row.get(self.target_column) is not None for row in rows)
        batch = dict(self.processor.process_rows(rows, target_column=self.target_column if has_target else None))
        if self.return_metadata:
            references = reference_arrays(rows)
            batch.update({key: torch.as_tensor(value) for key, value in references.items()})
            batch["gold_score"] = batch["gold_score"].float()
        return batch
