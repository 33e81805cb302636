"""An on-disk cache of extracted media features, keyed by the file's sha256 and the extraction settings.

Layout: ``<directory>/<settings key>/settings.json`` (the :class:`MediaSettings` the entries were made with) and
``<directory>/<settings key>/<sha256[:2]>/<sha256>.npz``, one per media file. An entry is written to a temporary
file and renamed into place, so an interrupted run leaves only whole entries and the next run resumes after them;
changing any setting (or :data:`~.settings.MEDIA_FEATURES_VERSION`) gives a new key and a fresh sub-folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .extract import MediaFeatures, extract_media_features
from .settings import MediaSettings


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    """Features of media files under ``directory`` for one :class:`MediaSettings` (module docstring)."""

    def __init__(self, directory: str | os.PathLike, settings: MediaSettings):
        self.settings = settings
        self.root = Path(directory) / settings.key()
        self.root.mkdir(parents=True, exist_ok=True)
        info = self.root / "settings.json"
        if not info.exists():
            info.write_text(json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n")
        self.hits = self.misses = 0

    def entry(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.npz"

    def load(self, sha256: str) -> MediaFeatures | None:
        path = self.entry(sha256)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            present = json.loads(str(data["present"]))
            return MediaFeatures(
                acoustic=data["acoustic"] if present["acoustic"] else None,
                visual=data["visual"] if present["visual"] else None,
                face_mask=data["face_mask"],
                visual_times=data["visual_times"],
                missing=json.loads(str(data["missing"])),
            )

    def store(self, sha256: str, features: MediaFeatures) -> None:
        path = self.entry(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        empty = np.zeros((0, 0), np.float32)
        present = {"acoustic": features.acoustic is not None, "visual": features.visual is not None}
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(
                    out,
                    acoustic=features.acoustic if features.acoustic is not None else empty,
                    visual=features.visual if features.visual is not None else empty,
                    face_mask=features.face_mask,
                    visual_times=features.visual_times,
                    missing=np.array(json.dumps(features.missing)),
                    present=np.array(json.dumps(present)),
                )
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def extract(
        self, video: str | os.PathLike, *, show_progress: bool | None = None, name: str = ""
    ) -> tuple[MediaFeatures, bool]:
        """Features of the media file ``video`` (its audio track gives the acoustic frames): from the cache when
        present, else extracted and stored. Returns ``(features, was a cache hit)``."""
        sha256 = sha256_of(video)
        cached = self.load(sha256)
        if cached is not None:
            self.hits += 1
            return cached, True
        features = extract_media_features(video=video, settings=self.settings, show_progress=show_progress, name=name)
        self.store(sha256, features)
        self.misses += 1
        return features, False
