"""MOSI/MOSEI readers: MMSA label.csv, MMSA/MulT feature pickles and CMU .csd files, on small files written here."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from hub_datasets import read_mosei, read_mosi
from hub_datasets.segment_ids import segment_row_id

LABELS = [
    # video_id, clip_id, text, label, annotation, mode
    ("vid_A1", "1", "THIS  IS   GREAT", "1.4", "Positive", "train"),
    ("vid_A1", "2", "Not good at all.", "-2.0", "Negative", "train"),
    ("vid_A1", "10", "MEH", "0.0", "Neutral", "valid"),
    ("xY-9", "3", "I LOVED IT", "2.6", "Positive", "test"),
    ("xY-9", "4", "NO FEATURES FOR ME", "-0.4", "Positive", "test"),
]


def write_labels(folder: Path, rows=LABELS) -> Path:
    path = folder / "label.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "clip_id", "text", "label", "annotation", "mode", "label_by"])
        for row in rows:
            writer.writerow([*row, 0])
    return path


def left_padded(n_frames: int, length: int, dim: int, seed: int) -> np.ndarray:
    """(n_frames, dim) with ``length`` non-zero frames at the end."""
    out = np.zeros((n_frames, dim), np.float32)
    out[n_frames - length :] = np.random.default_rng(seed).uniform(0.5, 1.5, (length, dim))
    return out


# ids per split of the feature files: the clip "xY-9$_$4" is absent, "ghost$_$7" has no label row, and the order
# inside each split differs from label.csv (matching must be by id)
FEATURE_IDS = {"train": ["vid_A1$_$2", "vid_A1$_$1"], "valid": ["vid_A1$_$10"], "test": ["ghost$_$7", "xY-9$_$3"]}
LENGTHS = {"vid_A1$_$1": 3, "vid_A1$_$2": 5, "vid_A1$_$10": 1, "ghost$_$7": 2, "xY-9$_$3": 4}


def mmsa_pickle(aligned: bool) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """An MMSA pickle dict, and the expected acoustic/visual arrays per id."""
    data, expected_a, expected_v = {}, {}, {}
    for split, ids in FEATURE_IDS.items():
        audio = np.stack([left_padded(6, LENGTHS[i], 5, k) for k, i in enumerate(ids)])
        vision = np.stack([left_padded(6, LENGTHS[i], 2, 10 + k) for k, i in enumerate(ids)])
        if not aligned:  # MMSA unaligned: valid frames first, lengths given
            audio, vision = audio[:, ::-1].copy(), vision[:, ::-1].copy()
        part = {"id": np.array(ids), "audio": audio, "vision": vision, "raw_text": np.array(["x"] * len(ids))}
        if not aligned:
            part["audio_lengths"] = [LENGTHS[i] for i in ids]
            part["vision_lengths"] = [LENGTHS[i] for i in ids]
        data[split] = part
        for k, i in enumerate(ids):
            n = LENGTHS[i]
            expected_a[i] = audio[k, -n:] if aligned else audio[k, :n]
            expected_v[i] = vision[k, -n:] if aligned else vision[k, :n]
    # -inf in the audio of one kept frame (MMSA audio does this) and NaN in one visual value
    data["train"]["audio"][1, -1 if aligned else 0, 0] = -np.inf
    expected_a["vid_A1$_$1"] = expected_a["vid_A1$_$1"].copy()
    expected_a["vid_A1$_$1"][-1 if aligned else 0, 0] = 0.0
    data["test"]["vision"][1, -1 if aligned else 0, 1] = np.nan
    expected_v["xY-9$_$3"] = expected_v["xY-9$_$3"].copy()
    expected_v["xY-9$_$3"][-1 if aligned else 0, 1] = 0.0
    return data, expected_a, expected_v


def test_labels_only(tmp_path):
    rows, report = read_mosi(write_labels(tmp_path))
    by_id = {r["id"]: r for r in rows}
    assert list(by_id) == ["vid_A1$_$1", "vid_A1$_$2", "vid_A1$_$10", "xY-9$_$3", "xY-9$_$4"]
    assert by_id["vid_A1$_$1"]["text"] == "this is great"
    assert by_id["vid_A1$_$2"]["text"] == "not good at all."
    assert by_id["vid_A1$_$10"]["split"] == "validation"
    assert by_id["xY-9$_$3"]["score"] == pytest.approx(2.6)
    assert [by_id[i]["polarity"] for i in by_id] == ["positive", "negative", "neutral", "positive", "negative"]
    assert all(r["score_origin"] == r["polarity_origin"] == "gold" for r in rows)
    assert all(r["meld_emotion"] is None and r["meld_emotion_origin"] == "missing" for r in rows)
    assert "acoustic" not in rows[0]
    assert dict(report.rows) == {"train": 2, "validation": 1, "test": 2}
    # "Positive" annotation with a negative score: kept, polarity from the score, noted
    assert report.ids_for("annotation disagrees with sign(score); polarity follows the score") == ["xY-9$_$4"]


def test_bad_label_rows_are_counted_not_silently_dropped(tmp_path):
    bad = [*LABELS, ("v", "1", "x", "nan", "", "train"), ("v", "2", "x", "1.0", "", "holdout"), LABELS[0]]
    rows, report = read_mosei(write_labels(tmp_path, bad))
    assert len(rows) == len(LABELS)
    assert report.total("dropped") == 3
    assert report.ids_for("score is not a finite number") == ["v$_$1"]
    assert report.ids_for("unknown mode 'holdout'") == ["v$_$2"]
    assert report.ids_for("duplicate id") == ["vid_A1$_$1"]
    assert {r["corpus"] for r in rows} == {"mosei"}


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_mmsa_pickle_matched_by_id(tmp_path, aligned, protocol):
    data, expected_a, expected_v = mmsa_pickle(aligned)
    pkl = tmp_path / ("aligned_50.pkl" if aligned else "unaligned_50.pkl")
    pkl.write_bytes(pickle.dumps(data, protocol=protocol))
    rows, report = read_mosi(write_labels(tmp_path), features=pkl)
    by_id = {r["id"]: r for r in rows}
    for row_id, expected in expected_a.items():
        if row_id in by_id:
            np.testing.assert_array_equal(by_id[row_id]["acoustic"], expected)
            np.testing.assert_array_equal(by_id[row_id]["visual"], expected_v[row_id])
            assert by_id[row_id]["acoustic"].dtype == np.float32
    assert by_id["vid_A1$_$1"]["acoustic"].shape == (3, 5)
    assert by_id["vid_A1$_$10"]["visual"].shape == (1, 2)
    # in labels, not in features: kept with None, counted and listed
    assert by_id["xY-9$_$4"]["acoustic"].shape == (0, 5) and by_id["xY-9$_$4"]["visual"].shape == (0, 2)
    assert by_id["xY-9$_$4"]["acoustic_feature_set"] == ""
    assert report.ids_for("acoustic: no features for this id") == ["xY-9$_$4"]
    # in features, not in labels: reported
    assert report.ids_for("acoustic: features with no label row") == ["ghost$_$7"]
    assert report.values["acoustic: non-finite values set to 0"] == 1
    assert report.values["visual: non-finite values set to 0"] == 1
    name = "mmsa:aligned_50" if aligned else "mmsa:unaligned_50"
    assert {r["acoustic_feature_set"] for r in rows} == {name, ""}
    assert report.feature_sets == {"acoustic": name, "visual": name}
    assert len(rows) == 5


def test_mult_pickle_and_all_zero_rows(tmp_path):
    ids = ["vid_A1_1", "vid_A1[2]", "xY-9_3"]  # MulT id[:, 0] forms
    audio = np.stack([left_padded(4, 2, 3, 0), np.zeros((4, 3), np.float32), left_padded(4, 4, 3, 1)])
    vision = np.stack([left_padded(4, 1, 2, 2), left_padded(4, 3, 2, 3), left_padded(4, 2, 2, 4)])
    id_array = np.array([[i.encode(), b"0.0", b"1.0"] for i in ids])
    data = {
        "train": {"id": id_array[:2], "audio": audio[:2], "vision": vision[:2], "labels": np.zeros((2, 1, 1))},
        "test": {"id": id_array[2:], "audio": audio[2:], "vision": vision[2:], "labels": np.zeros((1, 1, 1))},
    }
    pkl = tmp_path / "mosi_data_0610.pkl"
    pkl.write_bytes(pickle.dumps(data, protocol=4))
    rows, report = read_mosi(write_labels(tmp_path), features=pkl, feature_format="unimse")
    by_id = {r["id"]: r for r in rows}
    np.testing.assert_array_equal(by_id["vid_A1$_$1"]["acoustic"], audio[0, 2:])
    np.testing.assert_array_equal(by_id["vid_A1$_$2"]["visual"], vision[1, 1:])
    # all-zero acoustic row keeps one zero frame and is noted
    np.testing.assert_array_equal(by_id["vid_A1$_$2"]["acoustic"], np.zeros((1, 3), np.float32))
    assert report.ids_for("acoustic: all frames are zero (kept one zero frame)") == ["vid_A1$_$2"]
    assert by_id["xY-9$_$3"]["acoustic"].shape == (4, 3)
    assert by_id["vid_A1$_$10"]["acoustic"].shape == (0, 3)
    assert sorted(report.ids_for("acoustic: no features for this id")) == ["vid_A1$_$10", "xY-9$_$4"]
    assert by_id["vid_A1$_$1"]["acoustic_feature_set"] == "unimse:mosi_data_0610"
    with pytest.raises(ValueError, match="feature_format='mmsa' but"):
        read_mosi(write_labels(tmp_path), features=pkl, feature_format="mmsa")


def test_mixed_dims_raise(tmp_path):
    data, _, _ = mmsa_pickle(aligned=True)
    data["test"]["audio"] = np.zeros((2, 6, 7), np.float32)
    pkl = tmp_path / "aligned_50.pkl"
    pkl.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=r"one per-frame dim, got \[5, 7\]"):
        read_mosi(write_labels(tmp_path), features=pkl)


def write_csd(path: Path, name: str, entries: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    with h5py.File(path, "w") as handle:
        root = handle.create_group(name)
        data = root.create_group("data")
        for key, (features, intervals) in entries.items():
            group = data.create_group(key)
            group["features"] = features
            group["intervals"] = intervals
        root.create_group("metadata")["dimension names"] = np.array([b"f0"])


def test_csd_segment_keys(tmp_path):
    a1 = np.arange(6, dtype=np.float64).reshape(3, 2)
    a1[1, 0] = np.inf
    entries = {
        "vid_A1[1]": (a1, np.zeros((3, 2))),
        "xY-9[3]": (np.ones((2, 2)), np.zeros((2, 2))),
        "nolabel[9]": (np.ones((1, 2)), np.zeros((1, 2))),
    }
    write_csd(tmp_path / "COVAREP.csd", "COVAREP", entries)
    write_csd(tmp_path / "FACET.csd", "FACET", {"vid_A1[2]": (np.ones((5, 4)), np.zeros((5, 2)))})
    rows, report = read_mosi(
        write_labels(tmp_path), features={"acoustic": tmp_path / "COVAREP.csd", "visual": tmp_path / "FACET.csd"}
    )
    by_id = {r["id"]: r for r in rows}
    expected = a1.astype(np.float32)
    expected[1, 0] = 0
    np.testing.assert_array_equal(by_id["vid_A1$_$1"]["acoustic"], expected)
    assert by_id["vid_A1$_$1"]["acoustic_feature_set"] == "csd:COVAREP"
    assert by_id["vid_A1$_$1"]["visual"].shape == (0, 4)
    assert by_id["vid_A1$_$2"]["visual"].shape == (5, 4)
    assert report.ids_for("acoustic: features with no label row") == ["nolabel$_$9"]
    assert report.values["acoustic: non-finite values set to 0"] == 1


def test_csd_video_keys_cut_by_segment_times(tmp_path):
    # one frame per 0.5 s over 0..5 s; clip 1 = [0.9, 2.1) overlaps frames 1..4, clip 2 = [4.0, 5.0) frames 8..9
    times = np.arange(0, 5, 0.5)
    intervals = np.stack([times, times + 0.5], axis=1)
    features = np.arange(20, dtype=np.float32).reshape(10, 2)
    write_csd(tmp_path / "a.csd", "COVAREP", {"vid_A1": (features, intervals)})
    seg = tmp_path / "segments"
    seg.mkdir()
    (seg / "train.tsv").write_text(
        "id\tstart\tstop\tcid\tvid\ttext\n"
        "vid_A1_1\t0.9\t2.1\t1\tvid_A1\tx\nvid_A1_2\t4.0\t5.0\t2\tvid_A1\tx\nvid_A1_10\t7.0\t8.0\t10\tvid_A1\tx\n"
    )
    rows, report = read_mosi(write_labels(tmp_path), features={"acoustic": tmp_path / "a.csd"}, segments=seg)
    by_id = {r["id"]: r for r in rows}
    np.testing.assert_array_equal(by_id["vid_A1$_$1"]["acoustic"], features[1:5])
    np.testing.assert_array_equal(by_id["vid_A1$_$2"]["acoustic"], features[8:10])
    assert by_id["vid_A1$_$10"]["acoustic"].shape == (0, 2)
    assert report.ids_for("acoustic: no .csd frame inside the segment's time span") == ["vid_A1$_$10"]
    with pytest.raises(ValueError, match="pass segments="):
        read_mosi(write_labels(tmp_path), features={"acoustic": tmp_path / "a.csd"})


def test_segment_row_id_forms():
    assert segment_row_id("c7UH_rxdZv4_24") == "c7UH_rxdZv4$_$24"
    assert segment_row_id(b"-3g5yACwYnA[10]") == "-3g5yACwYnA$_$10"
    assert segment_row_id("03bSnISJMiM$_$11") == "03bSnISJMiM$_$11"
    assert segment_row_id("novideoclip") is None


def test_rows_build_a_dataset_with_the_unified_schema(tmp_path):
    from datasets import Dataset

    from unimse_hf.data.schema import unified_features

    data, _, _ = mmsa_pickle(aligned=False)
    pkl = tmp_path / "unaligned_50.pkl"
    pkl.write_bytes(pickle.dumps(data))
    rows, report = read_mosi(write_labels(tmp_path), features=pkl)
    dataset = Dataset.from_list(rows, features=unified_features(acoustic_dim=5, visual_dim=2)).with_format("numpy")
    lengths = [a.shape[0] for a in dataset[0:5]["acoustic"]]
    assert lengths == [3, 5, 1, 4, 0]  # the id missing from the features has zero frames
    assert dataset[4]["visual"].shape == (0, 2) and dataset[4]["visual_feature_set"] == ""
