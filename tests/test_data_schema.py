"""The unified schema: column order, feature columns, and a parquet round trip of nulls and variable-length frames."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Array2D, Dataset, List, Value, load_dataset

from unimse_hf.data.schema import empty_row, no_frames, unified_features

BASE = [
    "id",
    "corpus",
    "split",
    "text",
    "speaker",
    "dialogue_id",
    "context_before",
    "speakers_before",
    "context_after",
    "speakers_after",
    "score",
    "polarity",
    "meld_emotion",
    "iemocap_emotion",
    "score_origin",
    "polarity_origin",
    "meld_emotion_origin",
    "iemocap_emotion_origin",
    "universal_label",
]


def test_columns_and_types():
    assert list(unified_features()) == BASE
    features = unified_features(acoustic_dim=74, visual_dim=35)
    assert list(features) == [*BASE, "acoustic", "acoustic_feature_set", "visual", "visual_feature_set"]
    assert features["acoustic"] == Array2D(shape=(None, 74), dtype="float32")
    assert features["score"] == Value("float32") and features["context_before"] == List(Value("string"))
    assert list(unified_features(visual_dim=2))[-2:] == ["visual", "visual_feature_set"]
    with pytest.raises(ValueError, match="acoustic_dim must be a positive int or None, got 0"):
        unified_features(acoustic_dim=0)
    assert no_frames(7).shape == (0, 7) and no_frames(7).dtype == np.float32


def test_empty_row_validates():
    row = empty_row("meld", "validation", "validation/dia0_utt0", "Hi")
    assert list(row) == BASE and row["polarity_origin"] == "missing" and row["score"] is None
    with pytest.raises(ValueError, match="split must be one of"):
        empty_row("meld", "dev", "x", "y")
    with pytest.raises(ValueError, match="corpus must be one of"):
        empty_row("sims", "train", "x", "y")


def test_parquet_round_trip(tmp_path):
    features = unified_features(acoustic_dim=3, visual_dim=2)
    first = empty_row("mosi", "train", "v$_$1", "hi")
    first.update(
        score=-1.2,
        polarity="negative",
        score_origin="gold",
        polarity_origin="gold",
        acoustic=np.arange(12, dtype=np.float32).reshape(4, 3),
        acoustic_feature_set="mmsa:aligned_50",
        visual=no_frames(2),
        visual_feature_set="",
    )
    second = empty_row("mosi", "test", "v$_$2", "ho")
    second.update(
        context_before=["a", "b"],
        speakers_before=["", ""],
        universal_label="neutral,0.0,neutral,neutral",
        acoustic=np.ones((1, 3), np.float32),
        acoustic_feature_set="mmsa:aligned_50",
        visual=np.zeros((7, 2), np.float32),
        visual_feature_set="mmsa:aligned_50",
    )
    Dataset.from_list([first, second], features=features).to_parquet(tmp_path / "part.parquet")
    loaded = load_dataset("parquet", data_files=str(tmp_path / "part.parquet"), split="train")
    assert loaded.features == features
    back = loaded.with_format("numpy")
    np.testing.assert_array_equal(back[0]["acoustic"], first["acoustic"])
    assert back[1]["visual"].shape == (7, 2)
    assert back[0:2]["acoustic"][0].shape == (4, 3) and back[0]["visual"].shape == (0, 2)
    rows = loaded.to_list()
    assert rows[0]["visual"] == [] and rows[1]["polarity"] is None and rows[1]["score"] is None
    assert rows[0]["score"] == pytest.approx(-1.2) and rows[1]["context_before"] == ["a", "b"]
