"""The settings of raw-media feature extraction, the feature sets, and the deterministic reduction to a dim.

Every number that changes the features is a field of :class:`MediaSettings`; ``UniMSEFeatureExtractor`` saves the
same fields (``sampling_rate``, ``acoustic_feature_set``, ``acoustic_frame_rate``, ``acoustic_dim``, and the visual
ones), so a model trained on features extracted with some settings predicts on new media with the same ones.
:meth:`MediaSettings.key` names them in the on-disk cache.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

import numpy as np

#: Bumped whenever the computation of a feature set changes: part of every cache key.
MEDIA_FEATURES_VERSION = 1

#: acoustic feature set -> (openSMILE feature set, low-level descriptors per frame); features = LLDs + their deltas
ACOUSTIC_FEATURE_SETS: dict[str, tuple[str, int]] = {
    "egemaps-lld": ("eGeMAPSv02", 25),
    "compare-lld": ("ComParE_2016", 65),
}
#: visual feature set -> raw features per frame (face box 4 + HOG of the face crop 324)
VISUAL_FEATURE_SETS: dict[str, int] = {"haar-hog": 328}
DEFAULT_SAMPLING_RATE = 16_000
DEFAULT_ACOUSTIC_FEATURE_SET = "egemaps-lld"
DEFAULT_VISUAL_FEATURE_SET = "haar-hog"
DEFAULT_ACOUSTIC_FRAME_RATE = 25.0
DEFAULT_VISUAL_FRAME_RATE = 5.0
#: openSMILE's low-level descriptors come every 10 ms: the highest acoustic frame rate
LLD_FRAME_RATE = 100.0
#: seed of the fixed random projections (numpy's legacy RandomState: its stream is frozen across numpy releases)
PROJECTION_SEED = 0


def _positive_number(name: str, value: object, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:g}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class MediaSettings:
    """What raw-media extraction computes (docs/media.md).

    Args:
        sampling_rate: Hz the audio is resampled to before the acoustic features (mono).
        acoustic_feature_set: a key of :data:`ACOUSTIC_FEATURE_SETS`.
        acoustic_frame_rate: acoustic frames per second (openSMILE's 10 ms descriptors averaged per frame; <= 100).
        acoustic_dim: features per acoustic frame after reduction (``None``: the raw ones).
        visual_feature_set: a key of :data:`VISUAL_FEATURE_SETS`.
        visual_frame_rate: video frames per second that are looked at.
        visual_dim: features per visual frame after reduction (``None``: the raw ones).
    """

    sampling_rate: int = DEFAULT_SAMPLING_RATE
    acoustic_feature_set: str = DEFAULT_ACOUSTIC_FEATURE_SET
    acoustic_frame_rate: float = DEFAULT_ACOUSTIC_FRAME_RATE
    acoustic_dim: int | None = 64
    visual_feature_set: str = DEFAULT_VISUAL_FEATURE_SET
    visual_frame_rate: float = DEFAULT_VISUAL_FRAME_RATE
    visual_dim: int | None = 64

    def __post_init__(self) -> None:
        if isinstance(self.sampling_rate, bool) or not isinstance(self.sampling_rate, int) or self.sampling_rate < 1:
            raise ValueError(f"sampling_rate must be a positive int (Hz), got {self.sampling_rate!r}")
        if self.sampling_rate < 8000:
            raise ValueError(
                f"sampling_rate must be at least 8000 Hz for openSMILE's descriptors, got {self.sampling_rate}"
            )
        if self.acoustic_feature_set not in ACOUSTIC_FEATURE_SETS:
            raise ValueError(
                f"acoustic_feature_set must be one of {sorted(ACOUSTIC_FEATURE_SETS)} to extract from raw media, "
                f"got {self.acoustic_feature_set!r}"
            )
        if self.visual_feature_set not in VISUAL_FEATURE_SETS:
            raise ValueError(
                f"visual_feature_set must be one of {sorted(VISUAL_FEATURE_SETS)} to extract from raw media, "
                f"got {self.visual_feature_set!r}"
            )
        object.__setattr__(
            self,
            "acoustic_frame_rate",
            _positive_number("acoustic_frame_rate", self.acoustic_frame_rate, LLD_FRAME_RATE),
        )
        object.__setattr__(self, "visual_frame_rate", _positive_number("visual_frame_rate", self.visual_frame_rate))
        for name in ("acoustic_dim", "visual_dim"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")

    @property
    def acoustic_raw_dim(self) -> int:
        """Features per acoustic frame before reduction: the LLDs and their deltas."""
        return 2 * ACOUSTIC_FEATURE_SETS[self.acoustic_feature_set][1]

    @property
    def visual_raw_dim(self) -> int:
        return VISUAL_FEATURE_SETS[self.visual_feature_set]

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        """Hex digest naming these settings (and :data:`MEDIA_FEATURES_VERSION`) in the cache."""
        text = json.dumps({**self.to_dict(), "version": MEDIA_FEATURES_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def projection_matrix(raw_dim: int, dim: int) -> np.ndarray:
    """The fixed ``(raw_dim, dim)`` Gaussian random projection (entries N(0, 1/dim)), the same on every machine."""
    rng = np.random.RandomState(PROJECTION_SEED + 7919 * raw_dim + dim)
    return (rng.standard_normal((raw_dim, dim)) / np.sqrt(dim)).astype(np.float32)


def reduce_dim(frames: np.ndarray, dim: int | None) -> np.ndarray:
    """``(T, raw)`` -> ``(T, dim)``: unchanged when ``dim`` is ``None`` or equal, zero-padded on the right when
    larger (as ``align_frame_features`` pads mixed corpora), projected by :func:`projection_matrix` when smaller."""
    frames = np.asarray(frames, dtype=np.float32)
    raw = frames.shape[1]
    if dim is None or dim == raw:
        return frames
    if dim > raw:
        return np.concatenate([frames, np.zeros((frames.shape[0], dim - raw), np.float32)], axis=1)
    return frames @ projection_matrix(raw, dim)
