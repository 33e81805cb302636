"""MELD reader: official CSVs (context, keys per split, encodings) and UniMSE / DialogueRNN feature pickles."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest

from hub_datasets import read_meld

HEADER = [
    "Sr No.",
    "Utterance",
    "Speaker",
    "Emotion",
    "Sentiment",
    "Dialogue_ID",
    "Utterance_ID",
    "Season",
    "Episode",
    "StartTime",
    "EndTime",
]


def line(n, text, speaker, emotion, sentiment, dia, utt):
    return [n, text, speaker, emotion, sentiment, dia, utt, 1, 1, "00:00:01,000", "00:00:02,000"]


SPLITS = {
    "train": [
        line(1, "Hi, “you”.", "Joey", "joy", "positive", 0, 0),
        line(2, " Oh no… ", "Ross", "sadness", "negative", 0, 1),
        line(3, "Later.", "Joey", "neutral", "neutral", 0, 3),  # gap in Utterance_ID, listed before utt 2
        line(4, "What?", "Rachel", "surprise", "positive", 0, 2),
        line(5, "Bad label", "Ross", "happy", "positive", 0, 4),
        line(6, "Other dialogue", "Monica", "anger", "negative", 1, 0),
        line(7, "Dup", "Monica", "anger", "negative", 1, 0),
    ],
    "dev": [
        line(1, "Dev one", "Chandler", "fear", "negative", 0, 0),
        line(2, "Dev two", "Joey", "disgust", "Negative", 0, 1),
    ],
    "test": [line(1, "Test one", "Phoebe", "neutral", "neutral", 0, 0)],
}


def write_meld(folder: Path, encoding: str = "utf-8", splits=SPLITS) -> Path:
    for prefix, lines in splits.items():
        with (folder / f"{prefix}_sent_emo.csv").open("w", newline="", encoding=encoding) as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(lines)
    return folder


def test_rows_context_and_report(tmp_path):
    rows, report = read_meld(write_meld(tmp_path), context_size=2)
    by_id = {r["id"]: r for r in rows}
    assert dict(report.rows) == {"train": 5, "validation": 2, "test": 1}
    assert set(by_id) >= {"train/dia0_utt0", "validation/dia0_utt0", "test/dia0_utt0"}  # ids unique across splits
    row = by_id["train/dia0_utt2"]
    assert row["text"] == "What?" and row["speaker"] == "Rachel" and row["dialogue_id"] == "train/dia0"
    assert row["context_before"] == ["Hi, “you”.", "Oh no…"] and row["speakers_before"] == ["Joey", "Ross"]
    assert row["context_after"] == ["Later."] and row["speakers_after"] == ["Joey"]
    first = by_id["train/dia0_utt0"]
    assert first["context_before"] == [] and first["context_after"] == ["Oh no…", "What?"]
    assert (first["meld_emotion"], first["polarity"]) == ("joy", "positive")
    assert first["meld_emotion_origin"] == first["polarity_origin"] == "gold"
    assert first["score"] is None and first["score_origin"] == "missing" and first["iemocap_emotion"] is None
    assert by_id["validation/dia0_utt1"]["polarity"] == "negative"  # "Negative" normalised
    assert by_id["train/dia1_utt0"]["context_before"] == by_id["train/dia1_utt0"]["context_after"] == []
    assert report.ids_for("Emotion 'happy' is not a MELD emotion") == ["train/dia0_utt4"]
    assert report.ids_for("duplicate (Dialogue_ID, Utterance_ID)") == ["train/dia1_utt0"]
    assert report.total("dropped") == 2


def test_cp1252_file_and_mojibake(tmp_path):
    splits = {k: list(v) for k, v in SPLITS.items()}
    splits["test"] = [
        line(1, "It’s fine", "Phoebe", "neutral", "neutral", 0, 0),
        line(2, "Itâ€™s fine", "Phoebe", "neutral", "neutral", 0, 1),
    ]
    write_meld(tmp_path, splits=splits)
    with (tmp_path / "test_sent_emo.csv").open("w", newline="", encoding="cp1252") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerow(splits["test"][0])
    rows, report = read_meld(tmp_path)
    assert {r["id"]: r["text"] for r in rows}["test/dia0_utt0"] == "It’s fine"
    assert report.values["test: file decoded as cp1252 (not valid UTF-8)"] == 1
    write_meld(tmp_path, splits=splits)
    rows, report = read_meld(tmp_path)
    assert {r["id"]: r["text"] for r in rows}["test/dia0_utt1"] == "It’s fine"
    assert report.ids_for("mojibake repaired (cp1252-read UTF-8)") == ["test/dia0_utt1"]


def test_unimse_feature_pickle(tmp_path):
    rng = np.random.default_rng(0)
    audio_train = {"0_0": rng.normal(size=(3, 4)), "0_1": rng.normal(size=(5, 4)), "9_9": rng.normal(size=(1, 4))}
    audio_train["0_1"][2, 1] = -np.inf
    audio = [audio_train, {"0_0": rng.normal(size=(2, 4))}, {"0_0": rng.normal(size=(7, 4))}]
    video = [{"0_0": rng.normal(size=(2, 6))}, {}, {"0_0": np.full((1, 6), np.nan)}]
    pkl = tmp_path / "meld_data_0610.pkl"
    pkl.write_bytes(pickle.dumps({"audio": audio, "video": video}, protocol=4))
    rows, report = read_meld(write_meld(tmp_path), features=pkl)
    by_id = {r["id"]: r for r in rows}
    np.testing.assert_allclose(by_id["train/dia0_utt0"]["acoustic"], audio_train["0_0"].astype(np.float32))
    assert by_id["train/dia0_utt1"]["acoustic"][2, 1] == 0.0
    assert by_id["validation/dia0_utt0"]["acoustic"].shape == (2, 4)  # dev key "0_0" is not train's "0_0"
    assert by_id["test/dia0_utt0"]["acoustic"].shape == (7, 4)
    np.testing.assert_array_equal(by_id["test/dia0_utt0"]["visual"], np.zeros((1, 6), np.float32))
    assert by_id["train/dia0_utt2"]["acoustic"].shape == (0, 4)  # missing utterance: kept, reported
    assert "train/dia0_utt2" in report.ids_for("acoustic: no features for this id")
    assert report.ids_for("acoustic: features with no label row") == ["train/dia9_utt9"]
    assert report.values["visual: non-finite values set to 0"] == 6
    assert by_id["test/dia0_utt0"]["visual_feature_set"] == "unimse:meld_data_0610"
    assert len(rows) == 8


def test_dialoguernn_pickle_one_frame_per_utterance(tmp_path):
    # train dialogues 0..1 -> keys 0, 1; dev dialogue 0 -> key 2; test dialogue 0 -> key 3
    ids = {0: [0, 1, 2, 3], 1: [0], 2: [0, 1], 3: [0]}
    audio = {k: np.arange(len(v) * 3, dtype=np.float64).reshape(len(v), 3) + 10 * k for k, v in ids.items()}
    data = (ids, {}, {}, {}, audio, {}, [0, 1, 2], [3], {})
    pkl = tmp_path / "MELD_features_raw.pkl"
    pkl.write_bytes(pickle.dumps(data, protocol=2))
    rows, report = read_meld(write_meld(tmp_path), features=pkl, feature_format="dialoguernn")
    by_id = {r["id"]: r for r in rows}
    np.testing.assert_array_equal(by_id["train/dia0_utt3"]["acoustic"], audio[0][3:4].astype(np.float32))
    np.testing.assert_array_equal(by_id["validation/dia0_utt1"]["acoustic"], audio[2][1:2].astype(np.float32))
    np.testing.assert_array_equal(by_id["test/dia0_utt0"]["acoustic"], audio[3][0:1].astype(np.float32))
    assert "visual" not in rows[0]
    assert by_id["train/dia0_utt0"]["acoustic_feature_set"] == "dialoguernn:MELD_features_raw"
    with pytest.raises(ValueError, match="feature_format='unimse' but"):
        read_meld(tmp_path, features=pkl, feature_format="unimse")
    with pytest.raises(ValueError, match=r"must be one of \('unimse', 'dialoguernn'\) or None, got 'mult'"):
        read_meld(tmp_path, features=pkl, feature_format="mult")


REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "meld"


def test_real_meld_csvs():
    if not REAL.is_dir():
        pytest.skip(f"real MELD CSVs not found at {REAL}")
    rows, report = read_meld(REAL)
    assert dict(report.rows) == {"train": 9989, "validation": 1109, "test": 2610}
    assert report.total() == 0, report.to_records()  # nothing dropped, no mojibake, no encoding fallback
    assert not report.values
    assert len({r["id"] for r in rows}) == len(rows) == 13708
    assert len({r["dialogue_id"] for r in rows}) == 1038 + 114 + 280
    from unimse_hf.labels import MELD_EMOTIONS, POLARITIES

    assert all(r["meld_emotion"] in MELD_EMOTIONS and r["polarity"] in POLARITIES and r["text"] for r in rows)
    assert sum(r["meld_emotion"] == "neutral" for r in rows if r["split"] == "train") == 4710
    assert all(len(r["context_before"]) <= 5 and len(r["context_after"]) <= 5 for r in rows)
