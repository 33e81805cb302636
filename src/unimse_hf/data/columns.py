"""Small column helpers shared by the build steps (replace columns without losing order or types)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from datasets import Dataset


def replace_columns(dataset: Dataset, columns: Mapping[str, Sequence]) -> Dataset:
    """Return ``dataset`` with the named columns replaced by new values, keeping column order and features.

    Args:
        dataset: the dataset to update.
        columns: column name -> one value per row (``len(dataset)`` values).
    """
    features = dataset.features
    for name, values in columns.items():
        if name not in features:
            raise ValueError(f"columns names {name!r}, which is not a column of the dataset ({list(features)})")
        if len(values) != len(dataset):
            raise ValueError(f"columns[{name!r}] has {len(values)} values, the dataset has {len(dataset)} rows")
    order = list(dataset.column_names)
    updated = dataset.remove_columns(list(columns))
    for name, values in columns.items():
        updated = updated.add_column(name, list(values), feature=features[name])
    return updated.select_columns(order)
