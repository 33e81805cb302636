"""Unified schema, pseudo-labels, mixtures and Hub publishing for the UniMSE corpora."""

from .build import CONFIGS, BuildResult, build_dataset, read_corpus, rows_to_dataset_dict
from .embeddings import POOLING_MODES, TextEmbedder
from .hub_folder import build_card, read_build_infos, write_config
from .mixtures import MIXTURES, build_mixture, filter_evaluated_labels
from .official_labels import apply_official_labels, read_official_labels
from .pseudo_labels import NEUTRAL_DEFAULTS, PSEUDO_FIELDS, PseudoLabelStats, assign_pseudo_labels, nearest_neighbours
from .publish import push_hub_folder
from .report import BuildReport
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
from .universal_labels import write_universal_labels

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
    "CONFIGS",
    "BuildResult",
    "build_dataset",
    "read_corpus",
    "rows_to_dataset_dict",
    "POOLING_MODES",
    "TextEmbedder",
    "build_card",
    "read_build_infos",
    "write_config",
    "MIXTURES",
    "build_mixture",
    "filter_evaluated_labels",
    "apply_official_labels",
    "read_official_labels",
    "push_hub_folder",
    "NEUTRAL_DEFAULTS",
    "PSEUDO_FIELDS",
    "PseudoLabelStats",
    "assign_pseudo_labels",
    "nearest_neighbours",
    "BuildReport",
    "write_universal_labels",
]
