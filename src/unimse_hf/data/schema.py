"""The unified row schema shared by every corpus (MOSI, MOSEI, MELD, IEMOCAP).

One row = one utterance. Each label field carries an ``*_origin`` flag ("gold", "pseudo" or "missing");
readers fill only a corpus's own gold fields, the dataset builder adds pseudo-labels and the universal
label. Frame features are optional columns added only when their per-frame dim is known.

Column reference (in order):

- ``id`` (string): unique within a corpus across all splits. MOSI/MOSEI ``"{video_id}$_${clip_id}"``
  (MMSA's form), MELD ``"{split}/dia{D}_utt{U}"``, IEMOCAP the turn id (``"Ses01F_impro01_F000"``).
- ``corpus`` (string): one of :data:`CORPORA` (``unimse_hf.labels.CORPORA``).
- ``split`` (string): one of :data:`SPLITS`.
- ``text`` (string): the utterance (MOSI/MOSEI lower-cased and whitespace-normalised, as UniMSE does).
- ``speaker`` (string): "" when the corpus has none.
- ``dialogue_id`` (string): "" for MOSI/MOSEI.
- ``context_before`` / ``speakers_before`` (list of string): up to :data:`CONTEXT_SIZE` previous utterances
  of the same dialogue in order, the nearest last, and their speakers.
- ``context_after`` / ``speakers_after`` (list of string): up to :data:`CONTEXT_SIZE` next utterances,
  the nearest first, and their speakers.
- ``score`` (float32, nullable): sentiment score in [-3, 3].
- ``polarity`` (string, nullable): one of ``unimse_hf.labels.POLARITIES``.
- ``meld_emotion`` (string, nullable): one of ``unimse_hf.labels.MELD_EMOTIONS``.
- ``iemocap_emotion`` (string, nullable): one of ``unimse_hf.labels.IEMOCAP_EMOTIONS`` (words, not
  abbreviations).
- ``score_origin``, ``polarity_origin``, ``meld_emotion_origin``, ``iemocap_emotion_origin`` (string): one of
  :data:`ORIGINS`.
- ``universal_label`` (string, nullable): the T5 target, filled by the dataset builder.
- ``acoustic`` (``Array2D((None, acoustic_dim), float32)``) and ``acoustic_feature_set`` (string): only when
  ``acoustic_dim`` is given; likewise ``visual`` / ``visual_feature_set``. A row without features holds
  **zero frames**, ``no_frames(dim)`` = an empty ``(0, dim)`` array, and an empty feature-set name — not
  ``None``: in datasets 5.2 a ``None`` in a variable-length ``Array2D`` reads back as a NaN scalar and breaks
  slicing, ``to_list`` and ``map`` (zero-frame arrays round-trip through parquet in every format).
"""

from __future__ import annotations

import numpy as np
from datasets import Array2D, Dataset, DatasetDict, Features, List, Value

from ..labels import CORPORA, LABEL_FIELDS

SPLITS: tuple[str, ...] = ("train", "validation", "test")
ORIGINS: tuple[str, ...] = ("gold", "pseudo", "missing")
CONTEXT_SIZE: int = 5
#: The frame-feature columns (the model and the processor keep their own copy: they ship as Hub remote code).
MODALITIES: tuple[str, ...] = ("acoustic", "visual")


def _check_dim(name: str, dim: int | None) -> None:
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ValueError(f"{name} must be a positive int or None, got {dim!r}")


def unified_features(acoustic_dim: int | None = None, visual_dim: int | None = None) -> Features:
    """The ``datasets.Features`` of the unified schema (column order as in the module docstring).

    Args:
        acoustic_dim: per-frame dim of the ``acoustic`` column; ``None`` leaves out ``acoustic`` and
            ``acoustic_feature_set``.
        visual_dim: same for ``visual`` / ``visual_feature_set``.
    """
    _check_dim("acoustic_dim", acoustic_dim)
    _check_dim("visual_dim", visual_dim)
    string = Value("string")
    columns: dict = {
        "id": string,
        "corpus": string,
        "split": string,
        "text": string,
        "speaker": string,
        "dialogue_id": string,
        "context_before": List(string),
        "speakers_before": List(string),
        "context_after": List(string),
        "speakers_after": List(string),
    }
    for field in LABEL_FIELDS:  # score: float32; the categorical fields: their label word
        columns[field] = Value("float32") if field == "score" else string
    for field in LABEL_FIELDS:
        columns[f"{field}_origin"] = string
    columns["universal_label"] = string
    for modality, dim in (("acoustic", acoustic_dim), ("visual", visual_dim)):
        if dim is not None:
            columns[modality] = Array2D(shape=(None, dim), dtype="float32")
            columns[f"{modality}_feature_set"] = string
    return Features(columns)


def empty_row(corpus: str, split: str, row_id: str, text: str) -> dict:
    """A row with every optional field empty: no context, no labels (origins "missing"), no UL.

    Readers start from this and fill the fields they have. Feature columns are not included; a reader
    that has features adds ``acoustic``/``acoustic_feature_set`` (and visual) itself.
    """
    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {CORPORA}, got {corpus!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    row: dict = {
        "id": row_id,
        "corpus": corpus,
        "split": split,
        "text": text,
        "speaker": "",
        "dialogue_id": "",
        "context_before": [],
        "speakers_before": [],
        "context_after": [],
        "speakers_after": [],
    }
    for field in LABEL_FIELDS:
        row[field] = None
    for field in LABEL_FIELDS:
        row[f"{field}_origin"] = "missing"
    row["universal_label"] = None
    return row


def no_frames(dim: int) -> np.ndarray:
    """The ``acoustic``/``visual`` value of a row without features: an empty float32 array ``(0, dim)``."""
    _check_dim("dim", dim)
    if dim is None:
        raise ValueError("dim must be a positive int, got None")
    return np.zeros((0, dim), dtype=np.float32)


def rows_to_dataset_dict(rows: list[dict]) -> DatasetDict:
    """Unified-schema rows -> ``DatasetDict`` with every split of :data:`SPLITS` (empty when it has no rows).

    Feature dims are taken from the first row holding an array of each modality (zero-frame ``(0, d)``
    arrays included).
    """
    dims: dict[str, int | None] = {}
    for modality in MODALITIES:
        first = next((row[modality] for row in rows if row.get(modality) is not None), None)
        dims[modality] = None if first is None else int(np.asarray(first, dtype=np.float32).shape[1])
    features = unified_features(acoustic_dim=dims["acoustic"], visual_dim=dims["visual"])
    by_split: dict[str, list[dict]] = {}
    for row in rows:
        by_split.setdefault(row["split"], []).append(row)
    unknown = sorted(set(by_split) - set(SPLITS))
    if unknown:
        raise ValueError(f"rows must have split in {SPLITS}, got {unknown}")
    return DatasetDict(
        {
            split: Dataset.from_list(by_split[split], features=features)
            if split in by_split
            else Dataset.from_dict({name: [] for name in features}, features=features)
            for split in SPLITS
        }
    )
