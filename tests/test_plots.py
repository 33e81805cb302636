"""Plots after evaluation: learning curves and ERC confusion matrices, and evaluation without matplotlib."""
# ruff: noqa: F811  (tests take the `processor` fixture imported from test_trainer)

import logging
import sys

import numpy as np
import pytest
from test_trainer import processor, synthetic_rows, tiny_model, training_args  # noqa: F401  (processor: a fixture)

from unimse_hf.labels import MELD_EMOTIONS
from unimse_hf.plots import plot_confusion_matrix, plot_learning_curves
from unimse_hf.trainer import UniMSETrainer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def trainer_for(output_dir, processor):
    return UniMSETrainer(
        model=tiny_model(processor), args=training_args(output_dir, num_train_epochs=1, logging_steps=1),
        train_dataset=synthetic_rows(32, 0, "train"), eval_dataset=synthetic_rows(16, 1, "validation"),
        processing_class=processor,
    )  # fmt: skip


def read_png(path) -> np.ndarray:
    import matplotlib.image

    assert path.read_bytes().startswith(PNG_SIGNATURE), path
    return matplotlib.image.imread(path)


def test_evaluation_writes_learning_curves_and_one_confusion_matrix_per_erc_corpus(tmp_path, processor):
    pytest.importorskip("matplotlib")
    trainer = trainer_for(tmp_path, processor)
    trainer.train()
    metrics = trainer.evaluate()
    trainer.evaluate(synthetic_rows(8, 2, "test"), metric_key_prefix="test")
    assert sorted(path.name for path in tmp_path.glob("*.png")) == [
        "confusion_matrix_eval_meld.png", "confusion_matrix_test_meld.png", "learning_curves.png"
    ]  # fmt: skip
    for path in tmp_path.glob("*.png"):
        image = read_png(path)
        assert image.ndim == 3 and min(image.shape[:2]) > 100 and image.std() > 0, (path.name, image.shape)
    # the matrices of the last call, outside the logged metrics
    [(matrix, names)] = trainer._metrics_source.last_confusion_matrices.values()
    assert names == list(MELD_EMOTIONS) and np.asarray(matrix).shape == (7, 7) and np.sum(matrix) == 8
    assert all(isinstance(value, (int, float)) for value in metrics.values())
    assert metrics["eval_meld_num_samples"] == 16


def test_without_matplotlib_evaluation_works_writes_no_file_and_says_so_once(tmp_path, processor, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    trainer = trainer_for(tmp_path, processor)
    with caplog.at_level(logging.WARNING, logger="unimse_hf.trainer"):
        first = trainer.evaluate()
        second = trainer.evaluate(metric_key_prefix="test")
    assert first["eval_meld_num_samples"] == second["test_meld_num_samples"] == 16
    assert list(tmp_path.glob("*.png")) == []
    lines = [record.getMessage() for record in caplog.records if "plots" in record.getMessage()]
    assert len(lines) == 1 and "pip install" in lines[0], lines


def test_plot_functions_on_their_own(tmp_path):
    pytest.importorskip("matplotlib")
    assert plot_learning_curves([], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
    history = [{"step": 1, "loss": 2.0, "ce_loss": 1.5}, {"step": 2, "eval_loss": 1.8, "eval_dev_score": 0.4}]
    assert read_png(plot_learning_curves(history, tmp_path / "sub" / "curves.png")).ndim == 3
    path = plot_confusion_matrix([[3, 1], [0, 0]], ["joy", "sadness"], tmp_path / "cm.png", title="meld")
    assert read_png(path).ndim == 3
    with pytest.raises(ValueError, match="matrix must be 3 x 3"):
        plot_confusion_matrix([[1, 0], [0, 1]], ["a", "b", "c"], tmp_path / "bad.png")
