"""The reader of each corpus, by name: ``READERS[corpus](source, features=None, feature_format=None, **options)``."""

from .iemocap import read_iemocap
from .meld import read_meld
from .mosei import read_mosei
from .mosi import read_mosi

#: corpus name -> reader entry point (each returns ``(rows, ReadReport)``)
READERS = {"mosi": read_mosi, "mosei": read_mosei, "meld": read_meld, "iemocap": read_iemocap}
