"""Decoding with PyAV: a mono waveform at the configured rate from an audio or video file (or from an array), and
the video frames sampled at the configured frame rate.

Every error names the argument and the file: :class:`~.errors.MediaError` for an empty, unreadable or unsupported
file, ``FileNotFoundError`` for a missing one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import MediaError, require

#: a file longer than this (seconds) shows a progress bar when ``show_progress`` is ``None``
PROGRESS_MIN_SECONDS = 30.0
#: FFmpeg demuxers that open any text file (as ANSI art), not media
TEXT_DEMUXERS = frozenset({"tty", "ansi"})


def check_media_path(value: object, name: str) -> Path:
    """``value`` as an existing, non-empty file path; errors name ``name`` and the path."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(value).__name__}")
    path = Path(value)
    if not path.exists():
        raise FileNotFoundError(f"{name}: no such file {str(path)!r}")
    if not path.is_file():
        raise MediaError(f"{name}: {str(path)!r} is not a file")
    if path.stat().st_size == 0:
        raise MediaError(f"{name}: {str(path)!r} is empty (0 bytes)")
    return path


@dataclass
class MediaStreams:
    """What an opened file holds: its path, whether it has audio / video, and its duration in seconds."""

    path: Path
    has_audio: bool
    has_video: bool
    duration: float | None


def _open(path: Path, name: str):
    av = require("av", "decoding media files")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise MediaError(f"{name}: cannot read {str(path)!r} as an audio or video file ({error})") from error
    if set(container.format.name.split(",")) & TEXT_DEMUXERS:
        container.close()
        raise MediaError(f"{name}: cannot read {str(path)!r} as an audio or video file (FFmpeg sees a text file)")
    return container


def probe(path: str | os.PathLike, name: str = "media") -> MediaStreams:
    """Open ``path`` and report its streams; a file FFmpeg cannot open raises :class:`MediaError`."""
    path = check_media_path(path, name)
    with _open(path, name) as container:
        audio, video = container.streams.audio, container.streams.video
        duration = container.duration / 1_000_000 if container.duration else None
        if not audio and not video:
            raise MediaError(f"{name}: {str(path)!r} holds no audio and no video stream (unsupported file)")
        return MediaStreams(path, bool(audio), bool(video), duration)


def resample(waveform: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``) of a 1-D waveform from ``rate`` to ``target`` Hz."""
    if rate == target:
        return waveform.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    divisor = math.gcd(int(rate), int(target))
    return resample_poly(waveform, target // divisor, rate // divisor).astype(np.float32)


def waveform_from_array(value: object, sampling_rate: object, target: int, name: str = "audio") -> np.ndarray:
    """A 1-D (or ``(channels, samples)``, averaged to mono) array at ``sampling_rate`` -> float32 mono at ``target``."""
    if sampling_rate is None:
        raise ValueError(
            f"{name} is an array: give its sampling_rate (Hz) too, e.g. sampling_rate=16000; this extractor "
            f"resamples to {target} Hz"
        )
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate < 1:
        raise ValueError(f"sampling_rate must be a positive int (Hz), got {sampling_rate!r}")
    try:
        array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a 1-D waveform array of numbers, got {type(value).__name__}") from error
    if array.ndim == 2 and min(array.shape) <= 8:  # (channels, samples) or (samples, channels)
        array = array.mean(axis=0 if array.shape[0] <= array.shape[1] else 1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D waveform (samples,) or (channels, samples), got shape {array.shape}")
    if array.size == 0:
        raise MediaError(f"{name} is empty (0 samples)")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds {int((~np.isfinite(array)).sum())} NaN/inf samples; give a finite waveform")
    return resample(array, int(sampling_rate), target)


def decode_audio(path: str | os.PathLike, target: int, name: str = "audio") -> np.ndarray | None:
    """The first audio stream of ``path`` as float32 mono at ``target`` Hz; ``None`` when the file has no audio
    stream. FFmpeg (libswresample) downmixes and resamples."""
    av = require("av", "decoding media files")
    path = check_media_path(path, name)
    with _open(path, name) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        except av.error.FFmpegError as error:
            raise MediaError(f"{name}: cannot decode the audio of {str(path)!r} ({error})") from error
    waveform = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if waveform.size == 0:
        raise MediaError(f"{name}: the audio stream of {str(path)!r} holds no samples")
    return waveform


def iter_video_frames(
    path: str | os.PathLike, frame_rate: float, name: str = "video", show_progress: bool | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """``(time in s, BGR uint8 (H, W, 3) frame)`` every ``1 / frame_rate`` seconds of the first video stream of
    ``path`` (the first decoded frame at or after each sampling time). Yields nothing for a file without video.

    ``show_progress``: a tqdm bar over the sampled frames (``None``: only for files longer than
    :data:`PROGRESS_MIN_SECONDS`)."""
    av = require("av", "decoding media files")
    path = check_media_path(path, name)
    with _open(path, name) as container:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        if show_progress is None:
            show_progress = duration is not None and duration > PROGRESS_MIN_SECONDS
        from tqdm.auto import tqdm

        total = math.ceil(duration * frame_rate) if duration else None
        bar = tqdm(total=total, desc=f"faces {path.name}", unit="frame", disable=not show_progress)
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        next_time, index = 0.0, 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                time = float(frame.time) if frame.time is not None else index / float(rate)
                if time + 1e-6 < next_time:
                    continue
                next_time = (math.floor(time * frame_rate + 1e-6) + 1) / frame_rate
                bar.update(1)
                yield time, frame.to_ndarray(format="bgr24")
        except av.error.FFmpegError as error:
            raise MediaError(f"{name}: cannot decode the video of {str(path)!r} ({error})") from error
        finally:
            bar.close()
