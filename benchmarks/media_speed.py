"""Raw-media feature extraction speed: seconds of media processed per second of CPU, per modality.

Writes one generated clip (no download): ``--seconds`` of a speech-like waveform as a 16 kHz WAV, and an MP4 of
256 x 256 frames at 10 frames/s that alternate each second between a real face (``skimage.data.astronaut``) and
a face-less frame, with the same audio as AAC. Then, each ``--repeats`` times (the fastest kept):

- ``acoustic``: ``extract_media_features(audio=WAV, modalities=("acoustic",))``: decode, resample, openSMILE
  eGeMAPS low-level descriptors, pooling to 25 frames/s, reduction to 64 dims;
- ``acoustic_from_mp4``: the same from the MP4's AAC track;
- ``visual``: ``extract_media_features(video=MP4, modalities=("visual",))``: decode, sample 5 frames/s, Haar face
  detection, HOG, reduction to 64 dims.

``media s per CPU s`` = clip seconds / process CPU seconds of the call (all threads); ``media s per wall s`` the
same over wall time. Needs the media extra and scikit-image.

    python benchmarks/media_speed.py [--seconds 20] [--repeats 3]

:func:`measure` returns the same dict for ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the media generators of the tests


def _timed(function) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    function()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(seconds: float = 20.0, repeats: int = 3) -> dict:
    """``{"clip_seconds", "rows": {name: {cpu_seconds, wall_seconds, media_seconds_per_cpu_second, ...}}}``."""
    from media_helpers import FPS, blank_frame, face_frame, speech_like, write_mp4, write_wav

    from unimse_hf.media import MediaSettings, UniMSEMediaWarning, extract_media_features

    settings = MediaSettings()
    with tempfile.TemporaryDirectory() as folder:
        waveform = speech_like(seconds)
        wav = write_wav(Path(folder) / "clip.wav", waveform)
        face, blank = face_frame(), blank_frame()
        frames = [face if (i // FPS) % 2 == 0 else blank for i in range(int(seconds * FPS))]
        mp4 = write_mp4(Path(folder) / "clip.mp4", frames, waveform)
        calls = {
            "acoustic": lambda: extract_media_features(audio=str(wav), settings=settings, modalities=("acoustic",)),
            "acoustic_from_mp4": lambda: extract_media_features(
                video=str(mp4), settings=settings, modalities=("acoustic",)
            ),
            "visual": lambda: extract_media_features(video=str(mp4), settings=settings, modalities=("visual",)),
        }
        rows = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UniMSEMediaWarning)
            for name, call in calls.items():
                call()  # warm-up: library loading, the face cascade
                cpu, wall = min(_timed(call) for _ in range(repeats))
                rows[name] = {
                    "cpu_seconds": round(cpu, 3),
                    "wall_seconds": round(wall, 3),
                    "media_seconds_per_cpu_second": round(seconds / cpu, 1),
                    "media_seconds_per_wall_second": round(seconds / wall, 1),
                }
    return {"clip_seconds": seconds, "settings": settings.to_dict(), "rows": rows}


def markdown(result: dict) -> str:
    lines = [
        f"raw media ({result['clip_seconds']:g} s clip) | CPU s | wall s | media s per CPU s | media s per wall s",
        "|---|---|---|---|---|",
    ]
    for name, row in result["rows"].items():
        lines.append(
            f"| {name} | {row['cpu_seconds']} | {row['wall_seconds']} | {row['media_seconds_per_cpu_second']} | "
            f"{row['media_seconds_per_wall_second']} |"
        )
    lines[0] = "| " + lines[0] + " |"
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the generated clip")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per row (the fastest is kept)")
    args = parser.parse_args()
    result = measure(args.seconds, args.repeats)
    print(json.dumps(result, indent=2))
    print()
    print(markdown(result))


if __name__ == "__main__":
    main()
