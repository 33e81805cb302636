"""Give every corpus of a mixture the same frame-feature columns, so that their rows can be concatenated.

``datasets`` needs one ``Array2D((None, d))`` type per column, but corpora come with different per-frame dims
(MOSI MMSA 5-d audio, MOSEI 74-d, ...) or without features at all, so every modality is zero-padded to one
dim (docs/differences.md#feature-dimensions). Per modality, the target dim is the largest dim among the
corpora; smaller ones are zero-padded on the
right (the official code's ``feature_pading``), and corpora without that modality get zero-frame arrays
(``schema.no_frames``) with feature set ``""``. Each change is counted in the build report. Nothing is cut
(the official code keeps ``[:, :64]`` of MELD's features; pass already-cut features if you want that).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from datasets import DatasetDict

from .report import BuildReport
from .schema import MODALITIES, unified_features

STEP = "frame_features"


def feature_dims(corpora: Mapping[str, DatasetDict]) -> dict[str, dict[str, int | None]]:
    """modality -> corpus -> per-frame dim of its column (``None`` when the corpus has no such column)."""
    dims: dict[str, dict[str, int | None]] = {}
    for modality in MODALITIES:
        for corpus, splits in corpora.items():
            feature = next(iter(splits.values())).features.get(modality)
            dims.setdefault(modality, {})[corpus] = None if feature is None else int(feature.shape[1])
    return dims


def align_frame_features(corpora: Mapping[str, DatasetDict], report: BuildReport) -> dict[str, DatasetDict]:
    """Return ``corpora`` with identical features: every modality present anywhere, at the largest dim.

    Args:
        corpora: corpus -> ``DatasetDict`` of unified-schema rows.
        report: receives a ``note`` per corpus/split whose features were padded or added.
    """
    dims = feature_dims(corpora)
    targets = {m: max((d for d in by_corpus.values() if d is not None), default=None) for m, by_corpus in dims.items()}
    features = unified_features(acoustic_dim=targets["acoustic"], visual_dim=targets["visual"])
    out: dict[str, DatasetDict] = {}
    for corpus, splits in corpora.items():
        new_splits = {}
        for split, ds in splits.items():
            for modality, target in targets.items():
                if target is None:
                    continue
                dim = dims[modality][corpus]
                if dim is None:
                    ds = ds.add_column(
                        modality,
                        [[] for _ in range(len(ds))],  # zero frames
                        feature=features[modality],
                    )
                    ds = ds.add_column(f"{modality}_feature_set", [""] * len(ds))
                    report.add(
                        "note",
                        STEP,
                        corpus,
                        split,
                        f"no {modality} features: zero-frame (0, {target}) arrays added",
                        len(ds),
                    )
                elif dim < target:
                    padded = ds.features.copy()
                    padded[modality] = features[modality]
                    ds = ds.map(
                        _pad,
                        fn_kwargs={"column": modality, "dim": dim, "target": target},
                        features=padded,
                        desc=f"padding {corpus} {modality}",
                    )
                    report.add(
                        "note",
                        STEP,
                        corpus,
                        split,
                        f"{modality} zero-padded from {dim} to {target} dims per frame",
                        len(ds),
                    )
            new_splits[split] = ds.select_columns(list(features)).cast(features)
        out[corpus] = DatasetDict(new_splits)
    return out


def _pad(row: dict, column: str, dim: int, target: int) -> dict:
    frames = np.asarray(row[column], dtype=np.float32).reshape(-1, dim)  # zero-frame rows read back as []
    return {column: np.pad(frames, ((0, 0), (0, target - dim)))}
