"""PNG plots of a training run: learning curves and ERC confusion matrices.

matplotlib is an optional extra (``pip install "unimse-hf[plots]"``); it is imported when a plot is drawn, and a
missing matplotlib raises :class:`ImportError` with that hint. Figures are drawn on the Agg canvas without pyplot,
so plotting neither needs a display nor changes the process' matplotlib backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: training-log keys drawn as the loss and its parts (UniMSETrainer.log), in this order when present
TRAINING_LOSS_KEYS = (
    "loss",
    "ce_loss",
    "contrastive_acoustic_loss",
    "contrastive_visual_loss",
    "contrastive_acoustic_visual_loss",
    "sample_contrastive_loss",
)
INSTALL_HINT = 'matplotlib is needed for plots: pip install "unimse-hf[plots]" (or pip install matplotlib)'


def _figure(width: float, height: float):
    """A matplotlib ``Figure`` on an Agg canvas (no pyplot, no global backend change)."""
    try:
        import matplotlib  # noqa: F401  (first: a missing or blocked package fails here, whatever is cached)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _series(log_history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """``(steps, values)`` of the finite numeric ``key`` entries of a Trainer ``log_history``."""
    steps, values = [], []
    for entry in log_history:
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            steps.append(entry.get("step", len(steps)))
            values.append(float(value))
    return steps, values


def _evaluation_keys(log_history: Sequence[Mapping[str, Any]], suffix: str) -> list[str]:
    """Evaluation keys ending in ``suffix`` (``eval_loss``, ``eval_validation_meld_loss``, ...), first seen first."""
    keys: dict[str, None] = {}
    for entry in log_history:
        for key in entry:
            if key.startswith("eval") and key.endswith(suffix):
                keys[key] = None
    return list(keys)


def plot_learning_curves(log_history: Sequence[Mapping[str, Any]], path: str | Path) -> Path | None:
    """Draw the training loss, its parts and the evaluation loss (left) and ``dev_score`` (right) over steps.

    Args:
        log_history: ``trainer.state.log_history`` (dicts with ``step`` and the logged values).
        path: the PNG to write (parent folders are created).

    Returns:
        ``path`` as a :class:`~pathlib.Path`, or ``None`` (nothing written) when the history holds no loss and no
        ``dev_score``.
    """
    losses = [(key, *_series(log_history, key)) for key in TRAINING_LOSS_KEYS]
    losses += [(key, *_series(log_history, key)) for key in _evaluation_keys(log_history, "_loss")]
    losses = [(key, steps, values) for key, steps, values in losses if values]
    scores = [(key, *_series(log_history, key)) for key in _evaluation_keys(log_history, "_dev_score")]
    scores = [(key, steps, values) for key, steps, values in scores if values]
    panels = [
        (curves, ylabel, title)
        for curves, ylabel, title in (
            (losses, "loss", "training and evaluation loss"),
            (scores, "dev_score", "dev_score (mean headline metric per corpus)"),
        )
        if curves
    ]
    if not panels:
        return None
    figure = _figure(6.0 * len(panels), 4.0)
    for axis, (curves, ylabel, title) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        for key, steps, values in curves:
            style = "o-" if key.startswith("eval") else "-"
            axis.plot(steps, values, style, label=key, markersize=4, linewidth=2 if key == "loss" else 1)
        axis.set(xlabel="step", ylabel=ylabel, title=title)
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    return _save(figure, path)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], label_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Draw a confusion matrix (rows: true class, columns: predicted class) with the count in every cell; the
    colour is the row-normalised rate, so rare classes stay readable.

    Args:
        matrix: ``(n, n)`` counts, e.g. :func:`~unimse_hf.metrics.erc_metrics`'s ``confusion_matrix``.
        label_names: the ``n`` class names, in the matrix' order.
        path: the PNG to write (parent folders are created).
        title: the figure title.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    rows = [list(row) for row in matrix]
    size = len(label_names)
    if len(rows) != size or any(len(row) != size for row in rows):
        raise ValueError(f"matrix must be {size} x {size} (one row and column per label name), got {rows!r}")
    rates = [[count / sum(row) if sum(row) else 0.0 for count in row] for row in rows]
    figure = _figure(1.0 + 0.75 * size, 0.6 + 0.7 * size)
    axis = figure.subplots()
    image = axis.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    for i, row in enumerate(rows):
        for j, count in enumerate(row):
            colour = "white" if rates[i][j] > 0.5 else "black"
            axis.text(j, i, str(count), ha="center", va="center", color=colour, fontsize="small")
    axis.set_xticks(range(size), label_names, rotation=45, ha="right")
    axis.set_yticks(range(size), label_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if title:
        axis.set_title(title)
    figure.colorbar(image, ax=axis, label="fraction of the true class")
    return _save(figure, path)


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path
