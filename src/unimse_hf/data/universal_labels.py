"""Write the ``universal_label`` column (the T5 target, paper §3.2) from the four label fields.

A corpus built alone has no pseudo-labels, so its rows lack the fields of the other task (MELD: score and IEMOCAP
emotion; MOSI/MOSEI: both emotions). With ``placeholders`` their targets still get a well-formed universal label:
each missing field is written with a fixed, documented value (:data:`PLACEHOLDER_TARGETS`) in the target string
only; the dataset's field columns stay empty (origin ``"missing"``), so metrics, which read gold fields only, never
see a placeholder (docs/datasets.md#universal-labels-and-pseudo-labels).
"""

from __future__ import annotations

from collections.abc import Mapping

from datasets import Dataset

from ..labels import LABEL_FIELDS, format_universal_label
from .columns import replace_columns
from .report import BuildReport

STEP = "universal_label"
#: the value written for a field that a row lacks when no pseudo-label could fill it (a single-corpus build)
PLACEHOLDER_TARGETS: dict[str, float | str] = {"score": 0.0, "meld_emotion": "neutral", "iemocap_emotion": "neutral"}


def write_universal_labels(
    dataset: Dataset,
    *,
    precision: int | None = 1,
    report: BuildReport | None = None,
    placeholders: Mapping[str, float | str] | None = None,
) -> Dataset:
    """Fill ``universal_label`` for every row whose four fields are present (or filled by ``placeholders``);
    ``None`` elsewhere.

    Rows left without a universal label, and rows whose label holds placeholders, are counted in ``report`` per
    corpus, split and fields.

    Args:
        dataset: unified-schema rows.
        precision: decimals of the score (docs/differences.md#score-precision; ``None`` keeps the full float as the
            official targets do).
        report: build report receiving the counts of rows without a universal label.
        placeholders: field -> value written in the target for a missing field (e.g. :data:`PLACEHOLDER_TARGETS`);
            ``None``: a row with a missing field gets no universal label.
    """
    placeholders = dict(placeholders or {})
    unknown = sorted(set(placeholders) - set(LABEL_FIELDS))
    if unknown:
        raise ValueError(f"placeholders must name fields of {LABEL_FIELDS}, got {unknown}")
    data = dataset.select_columns(["corpus", "split", *LABEL_FIELDS]).to_dict()
    labels: list[str | None] = []
    for i in range(len(dataset)):
        fields = {name: data[name][i] for name in LABEL_FIELDS}
        missing = [name for name, value in fields.items() if value is None]
        filled = [name for name in missing if name in placeholders]
        if filled:
            fields.update({name: placeholders[name] for name in filled})
            missing = [name for name in missing if name not in placeholders]
            if report is not None and not missing:
                report.add(
                    "note", STEP, data["corpus"][i], data["split"][i], f"placeholder target for {', '.join(filled)}"
                )
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
