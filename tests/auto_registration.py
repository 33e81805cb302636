"""Registers UniMSEFeatureExtractor with AutoFeatureExtractor (and for remote code) as ``import unimse_hf`` will.

Until ``unimse_hf/__init__.py`` performs these two calls on import, the tests that save/load processors call
:func:`register_feature_extractor` first; afterwards it is a no-op.
"""

from transformers import AutoFeatureExtractor

from unimse_hf import UniMSEConfig
from unimse_hf.feature_extraction_unimse import UniMSEFeatureExtractor


def register_feature_extractor() -> None:
    AutoFeatureExtractor.register(UniMSEConfig, UniMSEFeatureExtractor, exist_ok=True)
    UniMSEFeatureExtractor.register_for_auto_class()
