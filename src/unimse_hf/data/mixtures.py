"""Training mixtures of the UniMSE corpora and the evaluated-label filter (docs/datasets.md#mixtures).

A mixture's ``train`` split is the union of its corpora's training rows, deterministically shuffled with a
seed; validation and test stay per corpus, as splits ``validation_<corpus>`` / ``test_<corpus>``. Training
rows without a universal label cannot be trained on and are dropped, counted with their reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from datasets import Dataset, DatasetDict, concatenate_datasets

from ..labels import CORPORA, FIELD_LABELS
from .report import BuildReport
from .schema import SPLITS

#: mixture name -> member corpora (the official code's task subsets).
MIXTURES: dict[str, tuple[str, ...]] = {
    "mos": ("mosi", "mosei"),
    "moseld": ("mosi", "mosei", "meld"),
    "moseldmp": ("mosi", "mosei", "meld", "iemocap"),
}
#: config name -> member corpora: every single corpus, then every mixture (what ``unimse-hf build-dataset`` builds).
CONFIGS: dict[str, tuple[str, ...]] = {**{corpus: (corpus,) for corpus in CORPORA}, **MIXTURES}


def filter_evaluated_labels(corpus: str, splits: DatasetDict, report: BuildReport) -> DatasetDict:
    """Drop (and count) rows whose **gold** polarity / MELD / IEMOCAP label is outside its set of
    :data:`~unimse_hf.labels.FIELD_LABELS`.

    This is the standard IEMOCAP 6-class filter (docs/datasets.md#label-files); for rows from the current readers it is
    usually a no-op, since they already drop unknown labels.
    """
    out = {}
    for split, ds in splits.items():
        columns = [n for f in FIELD_LABELS for n in (f, f"{f}_origin")]
        data = ds.select_columns(columns).to_dict()
        keep = []
        for i in range(len(ds)):
            bad = next(
                (
                    f
                    for f, labels in FIELD_LABELS.items()
                    if data[f"{f}_origin"][i] == "gold" and data[f][i] not in labels
                ),
                None,
            )
            if bad is None:
                keep.append(i)
            else:
                report.add(
                    "dropped",
                    "evaluated_labels",
                    corpus,
                    split,
                    f"gold {bad} {data[bad][i]!r} is outside the evaluated label set",
                )
        out[split] = ds if len(keep) == len(ds) else ds.select(keep)
    return DatasetDict(out)


def mixture_split_name(split: str, corpus: str) -> str:
    """Name of a per-corpus evaluation split of a mixture, e.g. ``validation_mosi``."""
    if split not in SPLITS or split == "train":
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    return f"{split}_{corpus}"


def build_mixture(
    name: str, corpora: Mapping[str, DatasetDict], *, seed: int = 0, report: BuildReport | None = None
) -> DatasetDict:
    """The ``name`` mixture of :data:`MIXTURES` from per-corpus ``DatasetDict`` s with universal labels.

    Args:
        name: a key of :data:`MIXTURES`.
        corpora: corpus -> ``DatasetDict`` with ``train``, ``validation`` and ``test``; every member of the
            mixture must be present (other corpora are ignored). All must share the same features.
        seed: seed of the training-set shuffle (``Dataset.shuffle(seed=seed)``).
        report: receives the counts of training rows dropped for lacking a universal label.

    Returns:
        ``DatasetDict`` with ``train`` then ``validation_<corpus>``/``test_<corpus>`` per member.
    """
    if name not in MIXTURES:
        raise ValueError(f"name must be one of {sorted(MIXTURES)}, got {name!r}")
    members = MIXTURES[name]
    absent = [c for c in members if c not in corpora]
    if absent:
        raise ValueError(f"mixture {name!r} needs corpora {members}; corpora lacks {absent}")
    report = report if report is not None else BuildReport()
    features = corpora[members[0]]["train"].features
    for corpus in members:
        for split in SPLITS:
            if split not in corpora[corpus]:
                raise ValueError(f"corpora[{corpus!r}] lacks the {split!r} split (has {list(corpora[corpus])})")
            if corpora[corpus][split].features != features:
                raise ValueError(
                    f"corpora[{corpus!r}][{split!r}] features differ from corpora[{members[0]!r}]['train']: "
                    f"{corpora[corpus][split].features} vs {features}"
                )
    train_parts: list[Dataset] = []
    for corpus in members:
        train = corpora[corpus]["train"]
        labels = train["universal_label"]
        keep = [i for i, label in enumerate(labels) if label is not None]
        report.add(
            "dropped",
            "mixture",
            corpus,
            "train",
            "training row without a universal label (a label field is missing)",
            len(train) - len(keep),
        )
        train_parts.append(train if len(keep) == len(train) else train.select(keep))
    out = {"train": concatenate_datasets(train_parts).shuffle(seed=seed).flatten_indices()}
    for split in ("validation", "test"):
        for corpus in members:
            out[mixture_split_name(split, corpus)] = corpora[corpus][split]
    return DatasetDict(out)
