"""Visual frames: OpenCV's bundled Haar face detector + a HOG descriptor of the face, per sampled video frame.

OpenCV's wheel ships its Haar cascades (``cv2.data.haarcascades``), so nothing is downloaded at run time (the
MediaPipe wheel on the package index carries no face model). Per frame (sampled at ``visual_frame_rate``):

1. gray, downscaled so its longer side is at most 480 px, histogram-equalised; ``haarcascade_frontalface_default``
   (scale 1.1, 5 neighbours, faces >= 24 px); the largest face is kept;
2. box: centre x, centre y, width, height, each divided by the frame's width / height (4);
3. the face crop of the full-resolution gray frame, resized to 64 x 64, HOG: 16 px cells, 2 x 2-cell blocks with
   a 16 px stride, 9 orientation bins, L2-Hys (3 x 3 blocks x 4 cells x 9 = 324);
4. :func:`~.settings.reduce_dim` of the 328 values to ``visual_dim``.

A frame without a face gives no feature row: it is left out of the sequence and marked ``False`` in ``face_mask``
(the model takes valid frames first, so a face-less frame cannot sit inside a sequence as a masked row).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import require
from .settings import MediaSettings, reduce_dim

DETECTION_MAX_SIDE = 480
FACE_SIZE = 64
_STATE: dict[str, object] = {}


def _tools():
    if not _STATE:
        cv2 = require("cv2", "visual features from video (opencv-python-headless)")
        if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 moved the Haar cascades and HOG out of the wheel
            raise ImportError(
                f"visual features need OpenCV 4 (its Haar face cascade and HOGDescriptor), found OpenCV "
                f"{cv2.__version__}: pip install 'opencv-python-headless>=4.9,<5'"
            )
        _STATE["cv2"] = cv2
        _STATE["cascade"] = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        _STATE["hog"] = cv2.HOGDescriptor((FACE_SIZE, FACE_SIZE), (32, 32), (16, 16), (16, 16), 9)
    return _STATE["cv2"], _STATE["cascade"], _STATE["hog"]


def face_descriptor(frame: np.ndarray) -> np.ndarray | None:
    """The 328 raw features of the largest face of a BGR uint8 frame, ``None`` when no face is found."""
    cv2, cascade, hog = _tools()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    scale = min(1.0, DETECTION_MAX_SIDE / max(height, width))
    small = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else gray  # fmt: skip
    faces = cascade.detectMultiScale(cv2.equalizeHist(small), scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    if len(faces) == 0:
        return None
    x, y, w, h = (float(v) / scale for v in max(faces, key=lambda box: box[2] * box[3]))
    box = np.array([(x + w / 2) / width, (y + h / 2) / height, w / width, h / height], np.float32)
    x0, y0 = max(int(x), 0), max(int(y), 0)
    crop = gray[y0 : min(int(y + h) + 1, height), x0 : min(int(x + w) + 1, width)]
    crop = cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return np.concatenate([box, hog.compute(crop).reshape(-1).astype(np.float32)])


def visual_frames(
    frames: Iterable[tuple[float, np.ndarray]], settings: MediaSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(features (faces, visual_dim), face_mask (sampled,) bool, times (sampled,) s)`` of sampled frames."""
    rows, mask, times = [], [], []
    for time, frame in frames:
        descriptor = face_descriptor(frame)
        times.append(time)
        mask.append(descriptor is not None)
        if descriptor is not None:
            rows.append(descriptor)
    raw = np.stack(rows) if rows else np.zeros((0, settings.visual_raw_dim), np.float32)
    return reduce_dim(raw, settings.visual_dim), np.asarray(mask, bool), np.asarray(times, np.float64)
