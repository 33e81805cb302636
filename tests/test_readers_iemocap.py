"""IEMOCAP reader on a small synthetic release folder written here (no real IEMOCAP data: licence-restricted)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from hub_datasets import read_iemocap
from hub_datasets.iemocap import is_validation_dialogue

# dialogue -> [(turn suffix, start, end, label, text)]; None label = turn absent from EmoEvaluation
DIALOGUES = {
    (1, "Ses01F_impro01"): [
        ("F000", 6.29, 8.23, "neu", "Excuse me."),
        ("M000", 8.50, 10.1, "fru", "Do you have your forms?"),
        ("F001", 10.3, 11.0, "xxx", "Yeah."),
        ("M001", 11.2, 13.0, "ang", "Let me see them."),
        ("F002", 13.1, 14.0, "hap", "Here you go!"),
        ("M002", 14.5, 15.0, "sur", "Oh."),
        ("F003", 15.1, 16.0, None, "Thanks."),
    ],
    (2, "Ses02M_script01_1"): [("M000", 1.0, 2.0, "sad", "I miss him."), ("F000", 2.5, 3.0, "exc", "Wow!")],
    (5, "Ses05F_impro03"): [("F000", 0.5, 1.5, "neu", "Test line."), ("M000", 2.0, 3.0, "ang", "No.")],
}


def write_release(root: Path) -> Path:
    for (session, dialogue), turns in DIALOGUES.items():
        base = root / f"Session{session}" / "dialog"
        (base / "transcriptions").mkdir(parents=True, exist_ok=True)
        (base / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
        lines = [f"{dialogue}_{t} [{s:08.4f}-{e:08.4f}]: {text}" for t, s, e, _, text in turns]
        lines[-1] = lines[-1].replace("-", " - ", 1) if "[" in lines[-1] else lines[-1]  # spaced timestamps
        lines.insert(2, "M: [LAUGHTER]")  # non-turn line
        lines.append(f"{dialogue}_MXX0 [020.0000-021.0000]: overlapping speech")  # a turn never evaluated
        (base / "transcriptions" / f"{dialogue}.txt").write_text("\n".join(lines) + "\n")
        blocks = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for t, s, e, label, _ in turns:
            if label is not None:
                blocks += [
                    f"[{s:.4f} - {e:.4f}]\t{dialogue}_{t}\t{label}\t[2.5000, 2.5000, 2.5000]",
                    "C-E1:\tNeutral;\t()",
                    "A-E3:\tval 3; act 2; dom  2;\t()",
                    "",
                ]
        (base / "EmoEvaluation" / f"{dialogue}.txt").write_text("\n".join(blocks))
    return root


def test_rows_labels_splits_and_report(tmp_path):
    rows, report = read_iemocap(write_release(tmp_path), validation_dialogues=["Ses02M_script01_1"])
    by_id = {r["id"]: r for r in rows}
    assert list(by_id) == [
        "Ses01F_impro01_F000",
        "Ses01F_impro01_M000",
        "Ses01F_impro01_M001",
        "Ses01F_impro01_F002",
        "Ses02M_script01_1_M000",
        "Ses02M_script01_1_F000",
        "Ses05F_impro03_F000",
        "Ses05F_impro03_M000",
    ]
    assert dict(report.rows) == {"train": 4, "validation": 2, "test": 2}
    row = by_id["Ses01F_impro01_M000"]
    assert (row["iemocap_emotion"], row["polarity"]) == ("frustrated", "negative")
    assert row["iemocap_emotion_origin"] == row["polarity_origin"] == "gold"
    assert row["score_origin"] == row["meld_emotion_origin"] == "missing" and row["meld_emotion"] is None
    assert row["speaker"] == "Ses01_M" and row["dialogue_id"] == "Ses01F_impro01" and row["split"] == "train"
    assert [by_id[i]["iemocap_emotion"] for i in ("Ses01F_impro01_F002", "Ses02M_script01_1_F000")] == [
        "joy",
        "excited",
    ]
    assert by_id["Ses02M_script01_1_F000"]["polarity"] == "positive"
    assert by_id["Ses05F_impro03_F000"]["split"] == "test"
    assert report.ids_for("label 'xxx' is not one of the 6 classes") == ["Ses01F_impro01_F001"]
    assert report.ids_for("label 'sur' is not one of the 6 classes") == ["Ses01F_impro01_M002"]
    assert report.ids_for("turn has no EmoEvaluation label") == [
        "Ses01F_impro01_F003",
        "Ses01F_impro01_MXX0",
        "Ses02M_script01_1_MXX0",
        "Ses05F_impro03_MXX0",
    ]
    assert report.total("note", "transcription line is not a turn (skipped)") == len(DIALOGUES)


def test_per_speaker_and_conversation_windows(tmp_path):
    write_release(tmp_path)
    rows, _ = read_iemocap(tmp_path, context_size=2)
    row = {r["id"]: r for r in rows}["Ses01F_impro01_F002"]
    # same speaker's turns, labelled or not, no speaker names
    assert row["context_before"] == ["Excuse me.", "Yeah."] and row["speakers_before"] == ["", ""]
    assert row["context_after"] == ["Thanks."] and row["speakers_after"] == [""]
    rows, _ = read_iemocap(tmp_path, context="conversation", context_size=2)
    row = {r["id"]: r for r in rows}["Ses01F_impro01_F002"]
    assert row["context_before"] == ["Yeah.", "Let me see them."]
    assert row["speakers_before"] == ["Ses01_F", "Ses01_M"]
    assert row["context_after"] == ["Oh.", "Thanks."]
    with pytest.raises(ValueError, match="context must be one of"):
        read_iemocap(tmp_path, context="dialogue")


def test_validation_rule_is_deterministic_and_whole_dialogues():
    names = [f"Ses0{s}{g}_impro{n:02d}" for s in range(1, 5) for g in "FM" for n in range(1, 40)]
    chosen = [n for n in names if is_validation_dialogue(n, 0.1)]
    assert chosen == [n for n in names if is_validation_dialogue(n, 0.1)]
    assert 0.04 < len(chosen) / len(names) < 0.16
    assert not any(is_validation_dialogue(n, 0.0) for n in names)


def test_unimse_and_mult_feature_pickles(tmp_path):
    write_release(tmp_path)
    rng = np.random.default_rng(0)
    video = [
        {"Ses01F_impro01_F000": rng.normal(size=(3, 35)), "Ses01F_impro01_M000": rng.normal(size=(2, 35))},
        {"Ses02M_script01_1_M000": rng.normal(size=(4, 35))},
        {"Ses05F_impro03_F000": np.full((2, 35), -np.inf), "Ses05F_impro03_M999": rng.normal(size=(1, 35))},
    ]
    pkl = tmp_path / "iemocap_data_0610.pkl"
    pkl.write_bytes(pickle.dumps({"video": video}, protocol=5))
    rows, report = read_iemocap(tmp_path, features=pkl, validation_dialogues=["Ses02M_script01_1"])
    by_id = {r["id"]: r for r in rows}
    assert "acoustic" not in rows[0]
    assert by_id["Ses01F_impro01_F000"]["visual"].shape == (3, 35)
    np.testing.assert_array_equal(by_id["Ses05F_impro03_F000"]["visual"], np.zeros((2, 35), np.float32))
    assert by_id["Ses01F_impro01_M001"]["visual"].shape == (0, 35)
    assert report.ids_for("visual: features with no label row") == ["Ses05F_impro03_M999"]
    assert report.ids_for("visual: feature file puts this id in validation") == []

    audio = np.zeros((2, 4, 3), np.float32)
    audio[0, 2:] = 1.0  # left-padded: 2 real frames
    audio[1, :] = 2.0
    mult = {
        "train": {
            "id": np.array([[b"Ses01F_impro01_M001", b"", b""], [b"Ses02M_script01_1_F000", b"", b""]]),
            "audio": audio,
            "vision": np.ones((2, 4, 5), np.float32),
            "labels": np.zeros((2, 4, 2)),
        }
    }
    pkl = tmp_path / "iemocap_data.pkl"
    pkl.write_bytes(pickle.dumps(mult, protocol=3))
    rows, report = read_iemocap(
        tmp_path, features=pkl, feature_format="mult", validation_dialogues=["Ses02M_script01_1"]
    )
    by_id = {r["id"]: r for r in rows}
    np.testing.assert_array_equal(by_id["Ses01F_impro01_M001"]["acoustic"], np.ones((2, 3), np.float32))
    assert by_id["Ses02M_script01_1_F000"]["acoustic"].shape == (4, 3)
    assert report.ids_for("acoustic: feature file puts this id in train") == ["Ses02M_script01_1_F000"]
    assert sum(r["acoustic"].shape == (0, 3) for r in rows) == 6
