"""Segment ids of MOSI/MOSEI feature files, parsed to MMSA's ``"{video_id}$_${clip_id}"`` row id."""

from __future__ import annotations

import re

from .mmsa_labels import MMSA_ID_SEPARATOR, mmsa_id

BRACKET_SEGMENT = re.compile(r"^(?P<video>.+)\[(?P<clip>\d+)\]$")
UNDERSCORE_SEGMENT = re.compile(r"^(?P<video>.+)_(?P<clip>\d+)$")


def to_text(value: object) -> str:
    """A pickle id value (``bytes``, ``np.bytes_``, ``str``) as ``str`` (bytes decoded as UTF-8)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def segment_row_id(key: object) -> str | None:
    """The MMSA row id of a feature key, or ``None`` when the key names no segment.

    Accepted: ``"{video}$_${clip}"`` (MMSA), ``"{video}[{clip}]"`` (CMU-SDK aligned sequences) and
    ``"{video}_{clip}"`` with a numeric clip (MulT/UniMSE ``id[:, 0]``; video ids may contain ``_``, the clip
    is the part after the last one).
    """
    text = to_text(key).strip()
    if MMSA_ID_SEPARATOR in text:
        return text
    for pattern in (BRACKET_SEGMENT, UNDERSCORE_SEGMENT):
        match = pattern.match(text)
        if match:
            return mmsa_id(match["video"], match["clip"])
    return None
