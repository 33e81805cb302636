"""Raw media -> the acoustic and visual frame sequences UniMSE takes (docs/media.md).

Decoding with PyAV (:mod:`.decode`), acoustic frames from openSMILE low-level descriptors (:mod:`.acoustic`),
visual frames from OpenCV's bundled face detector and a HOG descriptor (:mod:`.visual`), orchestration per
utterance (:mod:`.extract`), an on-disk cache keyed by file hash and settings (:mod:`.cache`). The media libraries
come with the ``media`` extra (``pip install 'unimse-hf[media]'``) and are imported on first use, so importing this
package loads neither them nor torch.
"""

from __future__ import annotations

from .cache import FeatureCache
from .errors import MEDIA_EXTRA_HINT, MediaError, UniMSEMediaWarning
from .extract import MEDIA_MODALITIES, MediaFeatures, extract_media_features
from .settings import ACOUSTIC_FEATURE_SETS, VISUAL_FEATURE_SETS, MediaSettings, reduce_dim

__all__ = [
    "ACOUSTIC_FEATURE_SETS",
    "MEDIA_EXTRA_HINT",
    "MEDIA_MODALITIES",
    "VISUAL_FEATURE_SETS",
    "FeatureCache",
    "MediaError",
    "MediaFeatures",
    "MediaSettings",
    "UniMSEMediaWarning",
    "extract_media_features",
    "reduce_dim",
]
