"""Write the ``universal_label`` column (the T5 target, paper §3.2) from the four label fields."""

from __future__ import annotations

from datasets import Dataset

from ..labels import LABEL_FIELDS, format_universal_label
from .columns import replace_columns
from .report import BuildReport

STEP = "universal_label"


def write_universal_labels(
    dataset: Dataset, *, precision: int | None = 1, report: BuildReport | None = None
) -> Dataset:
    """Fill ``universal_label`` for every row whose four fields are present; ``None`` elsewhere.

    Rows left without a universal label are counted in ``report`` per corpus, split and missing fields.

    Args:
        dataset: unified-schema rows.
        precision: decimals of the score (docs/differences.md#score-precision; ``None`` keeps the full float as the
            official targets do).
        report: build report receiving the counts of rows without a universal label.
    """
    data = dataset.select_columns(["corpus", "split", *LABEL_FIELDS]).to_dict()
    labels: list[str | None] = []
    for i in range(len(dataset)):
        fields = {name: data[name][i] for name in LABEL_FIELDS}
        missing = [name for name, value in fields.items() if value is None]
        if missing:
            labels.append(None)
            if report is not None:
                report.add(
                    "note",
                    STEP,
                    data["corpus"][i],
                    data["split"][i],
                    f"universal label not written: {', '.join(missing)} missing",
                )
        else:
            labels.append(format_universal_label(**fields, precision=precision))
    return replace_columns(dataset, {"universal_label": labels})
