"""Readers that turn the public UniMSE corpora (MOSI, MOSEI, MELD, IEMOCAP) into rows of the unified schema.

Every reader has the same entry point, ``read_<corpus>(source, features=None, feature_format=None, **options)
-> (rows, report)``: ``rows`` is a list of dicts of ``unimse_hf.data.schema.unified_features`` and ``report``
a :class:`ReadReport` counting every dropped or specially handled row. See ``hub_datasets/README.md``.
"""

from .iemocap import read_iemocap
from .meld import read_meld
from .mosei import read_mosei
from .mosi import read_mosi
from .report import ReadReport
from .safe_pickle import safe_load

#: corpus name -> reader entry point
READERS = {"mosi": read_mosi, "mosei": read_mosei, "meld": read_meld, "iemocap": read_iemocap}

__all__ = ["READERS", "ReadReport", "read_iemocap", "read_meld", "read_mosei", "read_mosi", "safe_load"]
