"""Media the tests make themselves (no downloads): a speech-like waveform, WAV files and MP4 files whose frames show
a real face (``skimage.data.astronaut``) or none."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 16_000
SIZE = 256  # frame side in pixels: the astronaut's face is ~50 px, found by the Haar cascade
FPS = 10


def speech_like(seconds: float = 2.0, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """A float32 waveform with a gliding pitch (120-180 Hz), harmonics, syllable-like bursts and a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    pitch = 150 + 30 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 9))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 0.5
    noise = np.random.default_rng(seed).normal(0, 0.01, t.size)
    return (0.3 * voiced * envelope + noise).astype(np.float32)


def write_wav(path: Path, waveform: np.ndarray, rate: int = RATE) -> Path:
    pcm = (np.clip(waveform, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def face_frame() -> np.ndarray:
    """The astronaut photograph (a real face), BGR, SIZE x SIZE."""
    import cv2
    from skimage.data import astronaut

    return np.ascontiguousarray(cv2.resize(astronaut()[:, :, ::-1], (SIZE, SIZE), interpolation=cv2.INTER_AREA))


def blank_frame(value: int = 90) -> np.ndarray:
    """A frame without a face: a flat grey with a soft gradient."""
    ramp = np.linspace(0, 40, SIZE, dtype=np.float32)[None, :, None]
    return np.ascontiguousarray(np.broadcast_to(value + ramp, (SIZE, SIZE, 3)).astype(np.uint8))


def write_mp4(path: Path, frames: list[np.ndarray], waveform: np.ndarray | None = None, rate: int = RATE) -> Path:
    """An H.264 (or MPEG-4) MP4 of ``frames`` at FPS, with ``waveform`` as an AAC track when given."""
    import av

    with av.open(str(path), "w") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        video = container.add_stream(codec, rate=FPS)
        video.width = video.height = SIZE
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=rate) if waveform is not None else None
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(video.encode())
        if audio is not None:
            chunk = av.AudioFrame.from_ndarray(waveform[None, :].astype(np.float32), format="flt", layout="mono")
            chunk.sample_rate = rate
            container.mux(audio.encode(chunk))
            container.mux(audio.encode())
    return path


def face_then_blank_mp4(path: Path, faces: int = 10, blanks: int = 10, with_audio: bool = True) -> Path:
    """``faces`` astronaut frames then ``blanks`` face-less frames (FPS frames a second), speech-like audio."""
    frames = [face_frame()] * faces + [blank_frame()] * blanks
    waveform = speech_like((faces + blanks) / FPS) if with_audio else None
    return write_mp4(path, frames, waveform)
