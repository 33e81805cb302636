"""Readers of the public UniMSE corpora (MOSI, MOSEI, MELD, IEMOCAP), and the build and publishing of the unified
dataset from them.

Every reader has the same entry point, ``read_<corpus>(source, features=None, feature_format=None, **options)
-> (rows, report)``: ``rows`` is a list of dicts of ``unimse_hf.data.schema.unified_features`` and ``report``
a :class:`ReadReport` counting every dropped or specially handled row. :func:`build_dataset` (``unimse-hf
build-dataset``) reads corpora with them, runs the build steps of ``unimse_hf.data`` and writes (and pushes) a
Hub folder. See ``hub_datasets/README.md``.

Imports run one way: this package imports ``unimse_hf.labels`` and ``unimse_hf.data`` (never the model), and
nothing in ``unimse_hf`` but its command line imports this package. Names are loaded on first access (PEP 562),
so ``import hub_datasets.splits`` loads no reader, no build step and no Hub client.
"""

from unimse_hf.lazy_attributes import lazy_attributes

#: public name -> the submodule that defines it
_LAZY: dict[str, str] = {
    "READERS": "readers",
    "ReadReport": "report",
    "read_iemocap": "iemocap",
    "read_meld": "meld",
    "read_mosei": "mosei",
    "read_mosi": "mosi",
    "safe_load": "safe_pickle",
    "BuildResult": "build",
    "build_dataset": "build",
    "read_corpus": "build",
    "apply_official_labels": "official_labels",
    "read_official_labels": "official_labels",
    "build_card": "hub_folder",
    "read_build_infos": "hub_folder",
    "write_config": "hub_folder",
    "push_hub_folder": "publish",
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())

__all__ = sorted(_LAZY)
