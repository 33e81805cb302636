"""Frame features computed from a corpus's raw media folder (``--feature-format CORPUS=raw-media``).

Each row is matched to one media file by its id (docs/media.md#corpus-folders):

- MELD (``MELD.Raw``): ``dia{D}_utt{U}.mp4`` in the split's folder, ``train_splits`` / ``train`` for train,
  ``dev_splits_complete`` / ``dev`` for validation, ``output_repeated_splits_test`` / ``test`` for test, at any
  depth below the folder;
- MOSI / MOSEI: ``{video_id}/{clip_id}.<ext>`` (MMSA's ``Raw/`` layout) or ``{video_id}_{clip_id}.<ext>`` (CMU's
  ``Segmented/`` layout);
- IEMOCAP: ``{utterance id}.<ext>`` (the release's per-utterance ``sentences/wav`` files: acoustic frames only).

The features of each file come from :class:`unimse_hf.media.FeatureCache`, keyed by the file's sha256 and the
extraction settings, so an interrupted build resumes where it stopped and a second build with the same settings
extracts nothing. Rows without a file, and modalities a file lacks (no audio stream, audio only, no face), keep
zero frames, each counted in the read report; nothing is dropped.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from unimse_hf.data.schema import MODALITIES, no_frames

from .features import FeatureTable
from .mmsa_labels import MMSA_ID_SEPARATOR
from .report import ReadReport

RAW_MEDIA_FORMAT = "raw-media"
#: file suffixes taken as media (video first: a video gives both modalities)
MEDIA_SUFFIXES: tuple[str, ...] = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".flv", ".wav", ".flac", ".mp3", ".m4a")
#: MELD split -> the names of its folder in MELD.Raw (as unpacked) and in a plain layout
MELD_SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {
    "train": ("train_splits", "train"),
    "validation": ("dev_splits_complete", "dev", "validation"),
    "test": ("output_repeated_splits_test", "test"),
}


def default_cache_dir() -> Path:
    """``$UNIMSE_MEDIA_CACHE``, else ``$XDG_CACHE_HOME/unimse_hf/media_features`` (``~/.cache`` by default)."""
    if os.environ.get("UNIMSE_MEDIA_CACHE"):
        return Path(os.environ["UNIMSE_MEDIA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "unimse_hf" / "media_features"


def _media_files(folder: Path) -> Iterator[Path]:
    """Media files below ``folder``, sorted; macOS resource forks (``._*``, shipped inside MELD.Raw) skipped."""
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in MEDIA_SUFFIXES and not path.name.startswith("._") and path.is_file():
            yield path


def index_media_folder(folder: Path) -> dict[tuple[str, str], Path]:
    """``(parent folder name, stem) -> path`` and ``("", stem) -> path`` of every media file (the first suffix of
    :data:`MEDIA_SUFFIXES` wins when a stem has several files)."""
    rank = {suffix: i for i, suffix in enumerate(MEDIA_SUFFIXES)}
    index: dict[tuple[str, str], Path] = {}
    for path in _media_files(folder):
        for key in ((path.parent.name, path.stem), ("", path.stem)):
            known = index.get(key)
            if known is None or rank[path.suffix.lower()] < rank[known.suffix.lower()]:
                index[key] = path
    return index


def media_file_for(corpus: str, row: dict, index: dict[tuple[str, str], Path]) -> Path | None:
    """The media file of ``row`` in ``index`` (module docstring), ``None`` when there is none."""
    row_id = row["id"]
    if corpus == "meld":
        stem = row_id.split("/", 1)[1]  # "{split}/dia{D}_utt{U}"
        for folder in MELD_SPLIT_FOLDERS[row["split"]]:
            if (folder, stem) in index:
                return index[(folder, stem)]
        return None
    if corpus in ("mosi", "mosei"):
        video, _, clip = row_id.partition(MMSA_ID_SEPARATOR)
        return index.get((video, clip)) or index.get(("", f"{video}_{clip}"))
    return index.get(("", row_id))


def load_raw_media_features(
    rows: list[dict],
    corpus: str,
    folder: str | Path,
    report: ReadReport,
    *,
    settings=None,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
) -> list[FeatureTable]:
    """Acoustic and visual :class:`FeatureTable` objects for ``rows`` from the media files in ``folder``.

    Args:
        rows: the reader's rows (``id``, ``split``).
        corpus: the corpus the rows come from.
        folder: the raw media folder (e.g. ``MELD.Raw``).
        report: receives the counts: rows without a file, files without a modality.
        settings: :class:`unimse_hf.media.MediaSettings` (default: its defaults); the feature-set names and dims.
        cache_dir: the feature cache (default :func:`default_cache_dir`).
        show_progress: a progress bar over the files.

    A row without a file (or with an unreadable one) has no entry, so ``attach_features`` gives it zero frames and
    an empty feature-set name; a modality its file lacks gets zero frames under the set's name. Both are counted.
    """
    from unimse_hf.media import FeatureCache, MediaError, MediaSettings, UniMSEMediaWarning

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"features: the raw media folder of {corpus} must be a folder, got {str(folder)!r}")
    settings = settings or MediaSettings()
    index = index_media_folder(folder)
    if not index:
        raise ValueError(f"features: {str(folder)!r} holds no media files ({', '.join(MEDIA_SUFFIXES)})")
    cache = FeatureCache(cache_dir or default_cache_dir(), settings)
    report.sources["features"] = str(folder)
    dims = {"acoustic": settings.acoustic_dim or settings.acoustic_raw_dim,
            "visual": settings.visual_dim or settings.visual_raw_dim}  # fmt: skip
    tables = {
        "acoustic": FeatureTable("acoustic", settings.acoustic_feature_set),
        "visual": FeatureTable("visual", settings.visual_feature_set),
    }
    for row in tqdm(rows, desc=f"{corpus} media features", unit="file", disable=not show_progress):
        path = media_file_for(corpus, row, index)
        if path is None:  # no entry: attach_features counts the id under "no features for this id"
            continue
        try:
            with warnings.catch_warnings():  # each missing modality is counted in the report instead
                warnings.simplefilter("ignore", UniMSEMediaWarning)
                features, _ = cache.extract(path)
        except MediaError as error:  # one broken file must not end a build of thousands: counted and warned
            report.note(row["split"], "media file unreadable (zero frames)", row["id"])
            warnings.warn(f"{row['id']}: {error}; the row keeps zero frames", UniMSEMediaWarning, stacklevel=2)
            continue
        for modality in MODALITIES:
            frames = getattr(features, modality)
            if frames is None:
                report.note(row["split"], f"{modality}: not in the media file (zero frames)", row["id"])
                frames = no_frames(dims[modality])
            tables[modality].arrays[row["id"]] = np.asarray(frames, np.float32)
    if not any(table.arrays for table in tables.values()):
        raise ValueError(
            f"features: none of the {len(rows):,} {corpus} rows has a readable media file in {str(folder)!r} "
            "(expected names: docs/media.md#corpus-folders)"
        )
    return list(tables.values())
