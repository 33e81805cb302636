"""CMU-MOSEI reader: MMSA ``label.csv`` (+ optional frame features matched by id).

``read_mosei(source, features=None, feature_format=None, *, feature_set=None, segments=None) -> (rows, report)``;
see :func:`hub_datasets.msa.read_msa`, which reads MOSI and MOSEI alike.
"""

from functools import partial

from .msa import read_msa

read_mosei = partial(read_msa, "mosei")
