"""Errors and warnings of raw-media feature extraction."""

from __future__ import annotations

#: the pip extra that installs the media libraries
MEDIA_EXTRA_HINT = "pip install 'unimse-hf[media]'"


class MediaError(ValueError):
    """A media file or waveform cannot be used: unreadable, empty, unsupported, or missing the stream asked for.

    The message names the argument and the file.
    """


class UniMSEMediaWarning(UserWarning):
    """A media input gave a partial result: a modality is missing (no audio stream, no video stream, no face)."""


def require(module: str, purpose: str):
    """Import ``module`` (a media library) or raise an ``ImportError`` that names the ``media`` extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the {module!r} package, which is not installed: {MEDIA_EXTRA_HINT} ({error})"
        ) from error
