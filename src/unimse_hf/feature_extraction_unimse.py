"""UniMSEFeatureExtractor: acoustic/visual frame sequences -> padded float32 tensors + frame masks.

UniMSE (Hu et al., EMNLP 2022) feeds each utterance's acoustic and visual frame features, precomputed
per corpus (e.g. COVAREP / Facet for MOSI and MOSEI), through small LSTM encoders. This extractor takes those
frames, one ``(frames_i, dim)`` array per sample, and pads them on the right into the
``acoustic_features``/``acoustic_mask`` and ``visual_features``/``visual_mask`` inputs of
``UniMSEForConditionalGeneration``. Raw audio/video extraction is not implemented; ``sampling_rate`` and the
feature-set names are kept in the config so that a saved extractor says which features it expects.

This file imports only numpy, torch and transformers: it is copied next to saved processors as remote code.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor

# A copy of unimse_hf.data.schema.MODALITIES: this file must import nothing from unimse_hf (it ships as remote code).
MODALITIES = ("acoustic", "visual")
_SAVED_KEYS = ("padding_side", "return_attention_mask", "auto_map", "processor_class")


class UniMSEDataWarning(UserWarning):
    """Inputs were altered to fit the model: text truncated, non-finite feature values zeroed."""


def _check_dim(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


class UniMSEFeatureExtractor(SequenceFeatureExtractor):
    r"""Pads per-sample acoustic and visual frame sequences into model inputs.

    Args:
        acoustic_dim / visual_dim: features per frame that every sample must have (``None``: any dim, but one per
            batch). Match ``UniMSEConfig.acoustic_dim`` / ``visual_dim``.
        sampling_rate: rate (Hz) of the raw audio a future raw-audio path would take; ``None`` (default) while the
            extractor takes precomputed frames only. Stored and saved, not used.
        acoustic_feature_set / visual_feature_set: name of the precomputed feature set the frames come from (the
            unified dataset's ``acoustic_feature_set``/``visual_feature_set`` column); informational, saved.
        padding_value: value of padded frames (masked out by the model).

    The ``SequenceFeatureExtractor`` settings are fixed: ``feature_size`` is ``acoustic_dim`` (the audio frame
    size, what transformers means by it; the visual dim lives in ``visual_dim``), ``padding_side`` is ``"right"``
    (valid frames first) and masks are always returned. These keys are saved with the config and accepted back
    only with those values.

    Example::

        extractor = UniMSEFeatureExtractor(acoustic_dim=74, visual_dim=35)
        batch = extractor(acoustic=[np.ones((20, 74)), None], visual=[np.ones((8, 35)), np.ones((3, 35))])
        batch["acoustic_features"].shape, batch["acoustic_mask"].shape  # (2, 20, 74), (2, 20)
    """

    model_input_names = ["acoustic_features", "acoustic_mask", "visual_features", "visual_mask"]

    def __init__(
        self,
        acoustic_dim: int | None = 64,
        visual_dim: int | None = 64,
        sampling_rate: int | None = None,
        acoustic_feature_set: str | None = None,
        visual_feature_set: str | None = None,
        padding_value: float = 0.0,
        **kwargs,
    ):
        _check_dim("acoustic_dim", acoustic_dim)
        _check_dim("visual_dim", visual_dim)
        if sampling_rate is not None and (
            isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int) or sampling_rate < 1
        ):
            raise ValueError(f"sampling_rate must be a positive int (Hz) or None, got {sampling_rate!r}")
        for name, value in (("acoustic_feature_set", acoustic_feature_set), ("visual_feature_set", visual_feature_set)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str or None, got {type(value).__name__} {value!r}")
        if (
            isinstance(padding_value, bool)
            or not isinstance(padding_value, (int, float))
            or not np.isfinite(padding_value)
        ):
            raise ValueError(f"padding_value must be a finite number, got {padding_value!r}")
        feature_size = kwargs.pop("feature_size", acoustic_dim)
        if feature_size != acoustic_dim:
            raise ValueError(f"feature_size is acoustic_dim ({acoustic_dim}) for this extractor, got {feature_size!r}")
        kwargs.pop("feature_extractor_type", None)  # written by to_dict, names this class
        unknown = sorted(set(kwargs) - set(_SAVED_KEYS))
        if unknown:
            raise TypeError(f"UniMSEFeatureExtractor got unexpected keyword arguments {unknown}")
        if kwargs.get("padding_side", "right") != "right":
            raise ValueError(f"padding_side must be 'right' (valid frames first), got {kwargs['padding_side']!r}")
        if (return_mask := kwargs.get("return_attention_mask", True)) is not True:
            raise ValueError(f"return_attention_mask must be True (masks are always returned), got {return_mask!r}")
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=float(padding_value),
                         **kwargs)  # fmt: skip
        self.acoustic_dim = acoustic_dim
        self.visual_dim = visual_dim
        self.acoustic_feature_set = acoustic_feature_set
        self.visual_feature_set = visual_feature_set

    def __call__(self, acoustic: Any = None, visual: Any = None, *, return_tensors: str = "pt") -> BatchFeature:
        """Pad a batch of acoustic and/or visual frame sequences.

        Args:
            acoustic / visual: a list with one entry per sample, each a ``(frames_i, dim)`` array-like (numpy,
                nested list, tensor) or ``None`` / an empty array (``[]``, ``(0, dim)``: the unified dataset's "no
                frames") when the sample lacks the modality; or a ``(batch, frames, dim)`` array (taken as unpadded);
                or one sample's ``(frames, dim)`` array. ``None``: no sample has the modality. When both are given
                they must have the same number of samples.
            return_tensors: ``"pt"`` (torch) or ``"np"`` (numpy).

        Returns:
            :class:`~transformers.BatchFeature` with ``acoustic_features`` float32 ``(batch, max_frames,
            acoustic_dim)`` and ``acoustic_mask`` int64 ``(batch, max_frames)`` (1 on real frames, valid frames
            first, an all-zero row for a sample without frames), present when at least one sample has acoustic
            frames; the same for ``visual_*``. NaN/inf values are replaced by 0 with a :class:`UniMSEDataWarning`
            that counts them.
        """
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
        batches = {name: self._as_batch(name, value) for name, value in (("acoustic", acoustic), ("visual", visual))}
        given = {name: len(batch) for name, batch in batches.items() if batch is not None}
        if not given:
            raise ValueError("acoustic and visual are both None: give at least one")
        if len(set(given.values())) > 1:
            raise ValueError(
                f"acoustic and visual must have one entry per sample each, got {given['acoustic']} acoustic and "
                f"{given['visual']} visual entries"
            )
        data: dict[str, Any] = {}
        for modality, batch in batches.items():
            padded = None if batch is None else self.pad_frames(batch, modality)
            if padded is not None:
                data[f"{modality}_features"], data[f"{modality}_mask"] = padded
        if return_tensors == "np":
            data = {key: value.numpy() for key, value in data.items()}
        return BatchFeature(data=data)

    @staticmethod
    def _as_batch(name: str, value: Any) -> list[Any] | None:
        """One entry per sample for ``acoustic``/``visual`` (see :meth:`__call__` for the accepted forms)."""
        if value is None:
            return None
        if isinstance(value, (np.ndarray, torch.Tensor)):
            if value.ndim == 3:
                return list(value)
            if value.ndim == 2:
                return [value]
            raise ValueError(
                f"{name} must be a (batch, frames, dim) array, one sample's (frames, dim) array or a list of "
                f"(frames, dim) entries, got an array of shape {tuple(value.shape)}"
            )
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise TypeError(
                f"{name} must be a list with one (frames, dim) entry per sample or an array, got {type(value).__name__}"
            )
        return list(value)

    def pad_frames(self, frames: Sequence[Any], modality: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Pad per-sample frame sequences of one modality on the right.

        Args:
            frames: one entry per sample: a ``(frames_i, dim)`` array-like, or ``None`` / an empty array when the
                sample lacks the modality.
            modality: ``"acoustic"`` or ``"visual"`` (names the argument in errors and picks the expected dim).

        Returns:
            ``(features, mask)``: float32 ``(batch, max_frames, dim)`` and int64 ``(batch, max_frames)``;
            ``None`` when no sample has frames.
        """
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        expected = getattr(self, f"{modality}_dim")
        arrays: list[torch.Tensor | None] = []
        first: tuple[int, int] | None = None  # (index, dim) of the first sample with frames
        bad_values = bad_samples = 0
        for i, item in enumerate(frames):
            if item is None:
                arrays.append(None)
                continue
            name = f"{modality}[{i}]"
            try:
                array = torch.as_tensor(
                    item.detach().cpu() if isinstance(item, torch.Tensor) else np.asarray(item, dtype=np.float32),
                    dtype=torch.float32,
                )
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"{name} must be a (frames, dim) array of numbers (numpy, list or tensor), got "
                    f"{type(item).__name__}: {error}"
                ) from error
            if array.numel() == 0 and (array.ndim == 1 or array.shape[0] == 0):  # [] or (0, dim): no frames
                arrays.append(None)
                continue
            if array.ndim != 2:
                raise ValueError(f"{name} must be 2-D (frames, dim), got shape {tuple(array.shape)}")
            dim = array.shape[1]
            if expected is not None and dim != expected:
                raise ValueError(f"{name} has {dim} features per frame, {modality}_dim is {expected}")
            if first is None:
                first = (i, dim)
            elif dim != first[1]:
                raise ValueError(
                    f"{name} has {dim} features per frame but {modality}[{first[0]}] has {first[1]}: "
                    f"all samples of a batch need the same {modality} dim"
                )
            finite = torch.isfinite(array)
            if not bool(finite.all()):
                bad_values += int((~finite).sum())
                bad_samples += 1
                array = torch.where(finite, array, torch.zeros(()))
            arrays.append(array)
        if first is None:
            return None
        if bad_values:
            warnings.warn(
                f"{modality}: replaced {bad_values} NaN/inf values in {bad_samples} of {len(arrays)} samples by 0",
                UniMSEDataWarning,
                stacklevel=3,
            )
        longest = max(a.shape[0] for a in arrays if a is not None)
        features = torch.full((len(arrays), longest, first[1]), self.padding_value, dtype=torch.float32)
        mask = torch.zeros((len(arrays), longest), dtype=torch.long)
        for row, array in enumerate(arrays):
            if array is not None:
                features[row, : array.shape[0]] = array
                mask[row, : array.shape[0]] = 1
        return features, mask


__all__ = ["UniMSEDataWarning", "UniMSEFeatureExtractor"]
