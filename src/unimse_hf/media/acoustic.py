"""Acoustic frames: openSMILE low-level descriptors (the ``opensmile`` package) + deltas, at the configured rate.

1. openSMILE computes its low-level descriptors (LLDs) every 10 ms: eGeMAPS v02 (25: pitch, jitter, shimmer,
   loudness, HNR, formants, spectral slope, alpha ratio, Hammarberg index, MFCC 1-4, ...) or ComParE 2016 (65).
2. The LLDs are averaged over windows of ``1 / acoustic_frame_rate`` seconds (by their start time).
3. Deltas (``np.gradient`` over the frames) are appended: ``2 x LLDs`` raw features.
4. Signed log compression ``sign(x) * log1p(|x|)``: the LLDs range from ~0.01 (jitter) to thousands (formant
   frequencies in Hz); this fixed, data-free squashing keeps them in a range an LSTM takes.
5. :func:`~.settings.reduce_dim` to ``acoustic_dim``.
"""

from __future__ import annotations

import numpy as np

from .errors import require
from .settings import ACOUSTIC_FEATURE_SETS, LLD_FRAME_RATE, MediaSettings, reduce_dim

_SMILES: dict[str, object] = {}


def _smile(feature_set: str):
    if feature_set not in _SMILES:
        opensmile = require("opensmile", "acoustic features from raw audio")
        name, _ = ACOUSTIC_FEATURE_SETS[feature_set]
        _SMILES[feature_set] = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, name), feature_level=opensmile.FeatureLevel.LowLevelDescriptors
        )
    return _SMILES[feature_set]


def low_level_descriptors(waveform: np.ndarray, settings: MediaSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(start times (n,), LLDs (n, k))`` of a float32 mono waveform at ``settings.sampling_rate``."""
    table = _smile(settings.acoustic_feature_set).process_signal(waveform, settings.sampling_rate)
    starts = np.asarray(table.index.get_level_values("start").total_seconds(), dtype=np.float64)
    return starts, table.to_numpy(dtype=np.float32)


def pool_frames(starts: np.ndarray, values: np.ndarray, frame_rate: float) -> np.ndarray:
    """Average the rows of ``values`` whose start time falls in each ``1 / frame_rate`` s window (empty windows,
    possible only above 100 frames/s, are dropped)."""
    if frame_rate >= LLD_FRAME_RATE or values.shape[0] == 0:
        return values
    bins = np.floor(starts * frame_rate + 1e-6).astype(np.int64)
    count = int(bins.max()) + 1
    sums = np.zeros((count, values.shape[1]), np.float64)
    np.add.at(sums, bins, values)
    counts = np.bincount(bins, minlength=count)
    keep = counts > 0
    return (sums[keep] / counts[keep, None]).astype(np.float32)


def acoustic_frames(waveform: np.ndarray, settings: MediaSettings) -> np.ndarray:
    """``(frames, acoustic_dim)`` float32 features of a mono waveform at ``settings.sampling_rate`` (module
    docstring); ``(0, dim)`` when the audio is shorter than one openSMILE window."""
    starts, lld = low_level_descriptors(waveform, settings)
    dim = settings.acoustic_dim or settings.acoustic_raw_dim
    if lld.shape[0] == 0:
        return np.zeros((0, dim), np.float32)
    pooled = pool_frames(starts, np.nan_to_num(lld, nan=0.0, posinf=0.0, neginf=0.0), settings.acoustic_frame_rate)
    deltas = np.gradient(pooled, axis=0) if pooled.shape[0] > 1 else np.zeros_like(pooled)
    raw = np.concatenate([pooled, deltas], axis=1)
    raw = np.sign(raw) * np.log1p(np.abs(raw))
    return reduce_dim(raw, settings.acoustic_dim)
