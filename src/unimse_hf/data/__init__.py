"""The unified dataset of the UniMSE corpora, the part that needs no corpus file: the row schema, pseudo-labels,
universal labels, mixtures, frame-feature alignment and the build report.

Reading the corpora and building, writing and publishing the Hub folder live in the ``hub_datasets`` package,
which imports this one (never the reverse). Names are loaded on first access (PEP 562): ``import
unimse_hf.data.schema`` loads neither torch nor the other steps, and :class:`TextEmbedder` imports torch only
when it is built.
"""

from ..lazy_attributes import lazy_attributes

#: public name -> the submodule that defines it
_LAZY: dict[str, str] = {
    "CONTEXT_SIZE": "schema",
    "CORPORA": "schema",
    "LABEL_FIELDS": "schema",
    "MODALITIES": "schema",
    "ORIGINS": "schema",
    "SPLITS": "schema",
    "empty_row": "schema",
    "no_frames": "schema",
    "rows_to_dataset_dict": "schema",
    "unified_features": "schema",
    "BuildReport": "report",
    "POOLING_MODES": "embeddings",
    "TextEmbedder": "embeddings",
    "CONFIGS": "mixtures",
    "MIXTURES": "mixtures",
    "build_mixture": "mixtures",
    "filter_evaluated_labels": "mixtures",
    "NEUTRAL_DEFAULTS": "pseudo_labels",
    "PSEUDO_FIELDS": "pseudo_labels",
    "PseudoLabelStats": "pseudo_labels",
    "assign_pseudo_labels": "pseudo_labels",
    "nearest_neighbours": "pseudo_labels",
    "align_frame_features": "frame_features",
    "write_universal_labels": "universal_labels",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())

__all__ = sorted(_LAZY)
