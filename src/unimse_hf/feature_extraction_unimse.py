"""UniMSEFeatureExtractor: acoustic/visual frame sequences -> padded float32 tensors + frame masks.

UniMSE (Hu et al., EMNLP 2022) feeds each utterance's acoustic and visual frame features, precomputed
per corpus (e.g. COVAREP / Facet for MOSI and MOSEI), through small LSTM encoders. This extractor takes those
frames, one ``(frames_i, dim)`` array per sample, and pads them on the right into the
``acoustic_features``/``acoustic_mask`` and ``visual_features``/``visual_mask`` inputs of
``UniMSEForConditionalGeneration``. It also computes those frames from raw media (``audio=`` a waveform or a file,
``video=`` a file; docs/media.md) with :mod:`unimse_hf.media`, imported on first use; the media settings
(``sampling_rate``, feature sets, frame rates, dims) are saved with the extractor, so a model trained on features
extracted this way predicts on new media with the same settings.

This file imports only numpy, torch and transformers (``unimse_hf.media`` lazily, inside a function): it is copied
next to saved processors as remote code.
"""

from __future__ import annotations

import importlib
import math
import os
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
#: openSMILE's low-level descriptors come every 10 ms: the highest acoustic frame rate (copy of unimse_hf.media)
_MAX_ACOUSTIC_FRAME_RATE = 100.0
_MEDIA_EXTRA = "pip install 'unimse-hf[media]'"


class UniMSEDataWarning(UserWarning):
    """Inputs were altered to fit the model: text truncated, non-finite feature values zeroed."""


def _check_rate(name: str, value: object, maximum: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
        or (maximum is not None and value > maximum)
    ):
        bound = f" at most {maximum:g}" if maximum is not None else ""
        raise ValueError(f"{name} must be a positive number{bound} (frames per second), got {value!r}")
    return float(value)


def _media_module():
    """:mod:`unimse_hf.media`, or an ImportError that names the ``media`` extra."""
    try:
        return importlib.import_module("unimse_hf.media")
    except ImportError as error:
        raise ImportError(
            "UniMSEFeatureExtractor: features from raw audio/video need the unimse-hf package with its media extra "
            f"({_MEDIA_EXTRA}); precomputed frames (acoustic=/visual=) need neither. ({error})"
        ) from error


def _is_waveform_or_path(value: object) -> bool:
    return isinstance(value, (str, os.PathLike, np.ndarray, torch.Tensor))


def _check_dim(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


class UniMSEFeatureExtractor(SequenceFeatureExtractor):
    r"""Pads per-sample acoustic and visual frame sequences into model inputs.

    Args:
        acoustic_dim / visual_dim: features per frame that every sample must have (``None``: any dim, but one per
            batch). Match ``UniMSEConfig.acoustic_dim`` / ``visual_dim``.
        sampling_rate: Hz raw audio is resampled to before the acoustic features (``None``: 16000 for raw media).
        acoustic_feature_set / visual_feature_set: name of the feature set the frames come from (the unified
            dataset's ``acoustic_feature_set``/``visual_feature_set`` column), saved. For raw media it must be one
            of the sets :mod:`unimse_hf.media` computes (``"egemaps-lld"``, ``"compare-lld"``; ``"haar-hog"``) or
            ``None`` (their defaults ``"egemaps-lld"`` / ``"haar-hog"``); an extractor naming a precomputed set
            (e.g. ``"covarep"``) refuses raw media, since its model was trained on other features.
        acoustic_frame_rate / visual_frame_rate: frames per second computed from raw media (acoustic at most 100:
            openSMILE's 10 ms descriptors are averaged per frame; video frames are sampled at this rate).
        padding_value: value of padded frames (masked out by the model).

    The ``SequenceFeatureExtractor`` settings are fixed: ``feature_size`` is ``acoustic_dim`` (the audio frame
    size, what transformers means by it; the visual dim lives in ``visual_dim``), ``padding_side`` is ``"right"``
    (valid frames first) and masks are always returned. These keys are saved with the config and accepted back
    only with those values.

    Example::

        extractor = UniMSEFeatureExtractor(acoustic_dim=74, visual_dim=35)
        batch = extractor(acoustic=[np.ones((20, 74)), None], visual=[np.ones((8, 35)), np.ones((3, 35))])
        batch["acoustic_features"].shape, batch["acoustic_mask"].shape  # (2, 20, 74), (2, 20)

        # raw media (the media extra): a video file, or a waveform with its sampling rate
        batch = UniMSEFeatureExtractor()(video=["clip.mp4"])
        batch = UniMSEFeatureExtractor()(audio=waveform, sampling_rate=44100)
    """

    model_input_names = ["acoustic_features", "acoustic_mask", "visual_features", "visual_mask"]

    def __init__(
        self,
        acoustic_dim: int | None = 64,
        visual_dim: int | None = 64,
        sampling_rate: int | None = 16000,
        acoustic_feature_set: str | None = None,
        visual_feature_set: str | None = None,
        padding_value: float = 0.0,
        acoustic_frame_rate: float = 25.0,
        visual_frame_rate: float = 5.0,
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
        self.acoustic_frame_rate = _check_rate("acoustic_frame_rate", acoustic_frame_rate, _MAX_ACOUSTIC_FRAME_RATE)
        self.visual_frame_rate = _check_rate("visual_frame_rate", visual_frame_rate)

    def __call__(
        self,
        acoustic: Any = None,
        visual: Any = None,
        *,
        audio: Any = None,
        video: Any = None,
        sampling_rate: int | None = None,
        show_progress: bool | None = None,
        return_tensors: str = "pt",
    ) -> BatchFeature:
        """Pad a batch of acoustic and/or visual frame sequences, computed from raw media when ``audio`` / ``video``
        are given.

        Args:
            acoustic / visual: a list with one entry per sample, each a ``(frames_i, dim)`` array-like (numpy,
                nested list, tensor) or ``None`` / an empty array (``[]``, ``(0, dim)``: the unified dataset's "no
                frames") when the sample lacks the modality; or a ``(batch, frames, dim)`` array (taken as unpadded);
                or one sample's ``(frames, dim)`` array. ``None``: no sample has the modality. When both are given
                they must have the same number of samples.
            audio: raw audio of one sample (a file path, or a ``(samples,)`` waveform array with ``sampling_rate``)
                or a list with one entry (or ``None``) per sample. Computes the acoustic frames; excludes
                ``acoustic``.
            video: a video file path, or a list with one (or ``None``) per sample. Computes the visual frames, and
                the acoustic ones from its audio track where that sample has no ``audio`` and ``acoustic`` is not
                given; excludes ``visual``. Missing streams and face-less videos give masked modalities (see
                :meth:`extract_media`).
            sampling_rate: Hz of the ``audio`` arrays (required for arrays; resampled to ``self.sampling_rate``).
            show_progress: progress bar over the video frames (``None``: for files longer than 30 s).
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
        if audio is not None or video is not None:
            acoustic, visual = self._frames_from_media(acoustic, visual, audio, video, sampling_rate, show_progress)
        elif sampling_rate is not None:
            raise ValueError(f"sampling_rate is the rate of raw audio=...; no audio was given (got {sampling_rate!r})")
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

    # ------------------------------------------------------------------------------------------ raw media
    def media_settings(self, modalities: Sequence[str] = MODALITIES):
        """The :class:`unimse_hf.media.MediaSettings` of this extractor (its saved settings); raises ``ValueError``
        when a feature set asked for (``modalities``) is a precomputed one that raw media cannot give."""
        media = _media_module()
        values = {}
        for modality, known in (("acoustic", media.ACOUSTIC_FEATURE_SETS), ("visual", media.VISUAL_FEATURE_SETS)):
            name = getattr(self, f"{modality}_feature_set")
            if name is not None and name not in known:
                if modality in modalities:
                    raise ValueError(
                        f"{modality}_feature_set of this extractor is {name!r}: its model takes precomputed {name!r} "
                        f"frames, and raw media gives only {sorted(known)}; give {modality}=<frames> instead"
                    )
                name = None
            if name is not None:
                values[f"{modality}_feature_set"] = name
        return media.MediaSettings(
            sampling_rate=self.sampling_rate or 16000,
            acoustic_frame_rate=self.acoustic_frame_rate,
            visual_frame_rate=self.visual_frame_rate,
            acoustic_dim=self.acoustic_dim,
            visual_dim=self.visual_dim,
            **values,
        )

    def extract_media(
        self,
        audio: Any = None,
        video: Any = None,
        sampling_rate: int | None = None,
        *,
        modalities: Sequence[str] = MODALITIES,
        show_progress: bool | None = None,
        name: str = "",
    ):
        """Frames of one sample from raw media: a :class:`unimse_hf.media.MediaFeatures` with ``acoustic``
        ``(frames, acoustic_dim)`` and ``visual`` ``(face frames, visual_dim)`` (``None`` where the modality is
        missing: a video without audio, an audio-only file, no face; a ``UniMSEMediaWarning`` says which),
        ``face_mask`` and ``visual_times`` per sampled video frame. See docs/media.md."""
        media = _media_module()
        return media.extract_media_features(
            audio, video, sampling_rate, self.media_settings(modalities), modalities=modalities,
            show_progress=show_progress, name=name,
        )  # fmt: skip

    def _frames_from_media(self, acoustic, visual, audio, video, sampling_rate, show_progress):
        """``(acoustic, visual)`` per-sample frame lists from ``audio`` / ``video`` (see :meth:`__call__`)."""
        for frames_name, frames, media_name, media in (("acoustic", acoustic, "audio", audio),
                                                       ("visual", visual, "video", video)):  # fmt: skip
            if frames is not None and media is not None:
                raise ValueError(
                    f"give either {frames_name}= (precomputed frames) or {media_name}= (raw media), not both"
                )
        lists = {}
        for name, value in (("audio", audio), ("video", video)):
            if value is None:
                continue
            if _is_waveform_or_path(value):
                lists[name] = [value]
            elif isinstance(value, Sequence):
                lists[name] = list(value)
            else:
                raise TypeError(
                    f"{name} must be a file path, a waveform array (audio) or a list with one per sample, got "
                    f"{type(value).__name__}"
                )
        sizes = {name: len(items) for name, items in lists.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"audio and video must have one entry per sample each, got {sizes}")
        count = next(iter(sizes.values()))
        audios, videos = lists.get("audio", [None] * count), lists.get("video", [None] * count)
        acoustic_list, visual_list = [None] * count, [None] * count
        for i, (sample_audio, sample_video) in enumerate(zip(audios, videos, strict=True)):
            wanted = [m for m, given in (("acoustic", acoustic is None), ("visual", visual is None)) if given]
            if sample_audio is None and sample_video is None:
                continue
            features = self.extract_media(
                sample_audio, sample_video, sampling_rate, modalities=wanted, show_progress=show_progress,
                name=f"sample {i}" if count > 1 else "",
            )  # fmt: skip
            acoustic_list[i], visual_list[i] = features.acoustic, features.visual
        return (acoustic if acoustic is not None else acoustic_list), (visual if visual is not None else visual_list)

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
