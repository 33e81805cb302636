"""Unified schema, pseudo-labels, mixtures and Hub publishing for the UniMSE corpora."""

from .schema import (
    CONTEXT_SIZE,
    CORPORA,
    LABEL_FIELDS,
    MODALITIES,
    ORIGINS,
    SPLITS,
    empty_row,
    no_frames,
    unified_features,
)

__all__ = [
    "CONTEXT_SIZE",
    "CORPORA",
    "LABEL_FIELDS",
    "MODALITIES",
    "ORIGINS",
    "SPLITS",
    "empty_row",
    "no_frames",
    "unified_features",
]
