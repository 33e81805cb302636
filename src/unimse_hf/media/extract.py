"""One utterance's raw media -> its acoustic and visual frame sequences (:class:`MediaFeatures`).

Sources: ``audio`` (a file path, or a waveform array with its ``sampling_rate``) gives the acoustic frames;
``video`` (a file path) gives the visual frames and, when no ``audio`` is given, the acoustic frames of its audio
track. Partial results, each with a :class:`~.errors.UniMSEMediaWarning` and a reason in ``missing``:

- a video without an audio stream: ``acoustic`` is ``None`` (the sample has no acoustic frames: masked);
- an audio-only file given as ``video`` (e.g. a WAV): ``visual`` is ``None``, ``acoustic`` from its audio;
- a video where no sampled frame shows a face: ``visual`` is ``None``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from .acoustic import acoustic_frames
from .decode import check_media_path, decode_audio, iter_video_frames, probe, waveform_from_array
from .errors import MediaError, UniMSEMediaWarning
from .settings import MediaSettings

MEDIA_MODALITIES = ("acoustic", "visual")


@dataclass
class MediaFeatures:
    """Frame features of one utterance.

    Attributes:
        acoustic: ``(frames, acoustic_dim)`` float32, or ``None`` (no audio: the modality is masked).
        visual: ``(face frames, visual_dim)`` float32, one row per sampled frame with a face, or ``None`` (no video,
            or no face in any sampled frame).
        face_mask: ``(sampled frames,)`` bool, ``True`` where a face was found (empty without video).
        visual_times: ``(sampled frames,)`` seconds of the sampled frames.
        missing: modality -> why it is ``None`` (not asked for modalities are absent).
    """

    acoustic: np.ndarray | None = None
    visual: np.ndarray | None = None
    face_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    visual_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    missing: dict[str, str] = field(default_factory=dict)


def _is_path(value: object) -> bool:
    return isinstance(value, (str, os.PathLike))


def extract_media_features(
    audio: object = None,
    video: object = None,
    sampling_rate: int | None = None,
    settings: MediaSettings | None = None,
    *,
    modalities: Collection[str] = MEDIA_MODALITIES,
    show_progress: bool | None = None,
    name: str = "",
) -> MediaFeatures:
    """Frames of one utterance from ``audio`` and/or ``video`` (module docstring).

    Args:
        audio: a file path (any format FFmpeg reads, video files included), or a waveform ``(samples,)`` /
            ``(channels, samples)`` array at ``sampling_rate``.
        video: a video file path.
        sampling_rate: Hz of an ``audio`` array (required then; not used for files).
        settings: :class:`MediaSettings` (default: its defaults).
        modalities: the modalities to compute (e.g. ``("visual",)`` when acoustic frames come from elsewhere).
        show_progress: tqdm bar over the video frames (``None``: for files longer than 30 s).
        name: prefix of the argument names in errors and warnings (e.g. ``"inputs[0]"``).
    """
    settings = settings or MediaSettings()
    audio_name, video_name = (f"{name}[{key!r}]" if name else key for key in ("audio", "video"))
    unknown = sorted(set(modalities) - set(MEDIA_MODALITIES))
    if unknown:
        raise ValueError(f"modalities must be among {MEDIA_MODALITIES}, got {unknown}")
    if audio is None and video is None:
        raise ValueError(f"{name + ': ' if name else ''}give audio (a path or a waveform array) and/or video (a path)")
    if video is not None and not _is_path(video):
        raise TypeError(f"{video_name} must be a video file path (str or os.PathLike), got {type(video).__name__}")
    if audio is not None and not _is_path(audio) and sampling_rate is None:
        waveform_from_array(audio, None, settings.sampling_rate, audio_name)  # raises: sampling_rate is required
    if audio is not None and _is_path(audio) and sampling_rate is not None:
        raise ValueError(
            f"sampling_rate is for a waveform array; {audio_name} is a file path, read at its own rate "
            f"(got sampling_rate={sampling_rate!r})"
        )
    result = MediaFeatures()
    streams = None
    if video is not None:
        check_media_path(video, video_name)
        streams = probe(video, video_name)
    if "acoustic" in modalities:
        if audio is not None and _is_path(audio):
            if not probe(audio, audio_name).has_audio:
                raise MediaError(f"{audio_name}: {str(audio)!r} has no audio stream")
            waveform = decode_audio(audio, settings.sampling_rate, audio_name)
        elif audio is not None:
            waveform = waveform_from_array(audio, sampling_rate, settings.sampling_rate, audio_name)
        elif streams is not None and streams.has_audio:
            waveform = decode_audio(video, settings.sampling_rate, video_name)
        else:
            waveform = None
            result.missing["acoustic"] = f"{video_name} {str(video)!r} has no audio stream"
        if waveform is not None:
            frames = acoustic_frames(waveform, settings)
            if frames.shape[0]:
                result.acoustic = frames
            else:
                result.missing["acoustic"] = f"the audio is shorter than one openSMILE window ({waveform.size} samples)"
    if "visual" in modalities and video is not None:
        if not streams.has_video:
            result.missing["visual"] = f"{video_name} {str(video)!r} has no video stream (audio only)"
        else:
            from .visual import visual_frames

            frames = iter_video_frames(video, settings.visual_frame_rate, video_name, show_progress)
            features, result.face_mask, result.visual_times = visual_frames(frames, settings)
            if features.shape[0]:
                result.visual = features
            elif result.face_mask.size:
                result.missing["visual"] = (
                    f"no face in any of the {result.face_mask.size} sampled frames of {video_name}"
                )
            else:
                result.missing["visual"] = f"{video_name} {str(video)!r} has no decodable video frame"
    for modality, reason in result.missing.items():
        warnings.warn(f"{modality} features are missing (masked): {reason}", UniMSEMediaWarning, stacklevel=2)
    return result
