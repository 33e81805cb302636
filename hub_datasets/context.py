"""Dialogue context windows: the utterances before and after each row of one dialogue."""

from __future__ import annotations

from collections.abc import Sequence

from unimse_hf.data.schema import CONTEXT_SIZE

#: the columns :func:`fill_context` sets
CONTEXT_COLUMNS: tuple[str, ...] = ("context_before", "speakers_before", "context_after", "speakers_after")


def fill_context(dialogue: Sequence[dict], size: int = CONTEXT_SIZE) -> None:
    """Set ``context_before``/``speakers_before`` and ``context_after``/``speakers_after`` in place.

    Args:
        dialogue: the rows of one dialogue (or one speaker's turns), already in utterance order.
        size: how many utterances to keep on each side (``context_before`` nearest last,
            ``context_after`` nearest first).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size must be an int >= 0, got {size!r}")
    texts = [row["text"] for row in dialogue]
    speakers = [row["speaker"] for row in dialogue]
    for i, row in enumerate(dialogue):
        start = max(0, i - size)
        row["context_before"] = texts[start:i]
        row["speakers_before"] = speakers[start:i]
        row["context_after"] = texts[i + 1 : i + 1 + size]
        row["speakers_after"] = speakers[i + 1 : i + 1 + size]
