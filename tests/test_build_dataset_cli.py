"""`unimse-hf build-dataset` on tiny synthetic sources: single corpus (no model, no network), a mixture with a
tiny random encoder, official labels, and a mocked push."""

import json
from types import SimpleNamespace
from unittest.mock import MagicMock, patch

import pytest
from data_helpers import save_tiny_encoder
from datasets import load_dataset

from unimse_hf.cli import main

MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
MELD_ROWS = {
    "train": [
        ("i love this movie", "joy", "positive"),
        ("so sad", "sadness", "negative"),
        ("ok", "neutral", "neutral"),
        ("i hate it", "anger", "negative"),
    ],
    "dev": [("yes", "surprise", "positive"), ("no", "neutral", "neutral")],
    "test": [("well", "neutral", "neutral"), ("the movie was bad", "disgust", "negative")],
}
MMSA_HEADER = "video_id,clip_id,text,label,annotation,mode,label_by\n"
MMSA_ROWS = [
    ("I LOVE IT", 2.0, "train"),
    ("SO SAD", -1.4, "train"),
    ("OK", 0.0, "train"),
    ("GREAT", 1.2, "valid"),
    ("BAD", -2.0, "test"),
    ("THE MOVIE", 0.4, "test"),
]


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "data"
    (root / "meld").mkdir(parents=True)
    for split, rows in MELD_ROWS.items():
        lines = [
            f'{i + 1},{text},Ross,{emo},{sent},0,{i},1,1,"00:00:01,000","00:00:02,000"\n'
            for i, (text, emo, sent) in enumerate(rows)
        ]
        (root / "meld" / f"{split}_sent_emo.csv").write_text(MELD_HEADER + "".join(lines))
    for corpus in ("mosi", "mosei"):
        (root / corpus).mkdir()
        lines = [f"{corpus}vid,{i},{text},{score},x,{mode},0\n" for i, (text, score, mode) in enumerate(MMSA_ROWS)]
        (root / corpus / "label.csv").write_text(MMSA_HEADER + "".join(lines))
    return root


def _load(folder, config, tmp_path):
    return load_dataset(str(folder), config, cache_dir=str(tmp_path / "cache"))


def test_single_corpus_needs_no_model(source, tmp_path, capsys):
    out = tmp_path / "hub"
    assert main(["build-dataset", "meld", "--source", str(source / "meld"), "--out", str(out), "--no-progress"]) == 0
    assert "built 'meld'" in capsys.readouterr().out
    ds = _load(out, "meld", tmp_path)
    assert {s: len(d) for s, d in ds.items()} == {"train": 4, "validation": 2, "test": 2}
    train = ds["train"]
    assert list(train["meld_emotion_origin"]) == ["gold"] * 4 and list(train["score_origin"]) == ["missing"] * 4
    # the target holds placeholders for the fields MELD lacks; the field columns stay empty (metrics read gold only)
    assert set(train["iemocap_emotion"]) == {None} and set(train["score"]) == {None}
    for row in train:
        polarity, score, meld, iemocap = row["universal_label"].split(",")
        assert (polarity, meld) == (row["polarity"], row["meld_emotion"]) and (score, iemocap) == ("0.0", "neutral")
    assert train[0]["id"] == "train/dia0_utt0" and train[1]["context_before"] == ["i love this movie"]


def test_mixture_with_a_tiny_encoder_and_mocked_push(source, tmp_path, capsys):
    encoder = save_tiny_encoder(tmp_path / "encoder")
    api = MagicMock()
    api.upload_folder.return_value = SimpleNamespace(commit_url="https://hub/c/1")
    out = tmp_path / "hub"
    with patch("hub_datasets.publish.HfApi", return_value=api):
        code = main(
            [
                "build-dataset",
                "moseld",
                "--source",
                str(source),
                "--out",
                str(out),
                "--no-progress",
                "--pseudo-labels",
                str(encoder),
                "--pooling",
                "mean",
                "--seed",
                "1",
                "--push-to-hub",
                "me/unified",
            ]
        )
    assert code == 0 and "pushed to me/unified" in capsys.readouterr().out
    api.create_repo.assert_called_once_with("me/unified", repo_type="dataset", private=True, exist_ok=True)
    ds = _load(out, "moseld", tmp_path)
    assert len(ds["train"]) == 3 + 3 + 4 and len(ds["test_meld"]) == 2 and len(ds["validation_mosi"]) == 1
    train = ds["train"]
    assert list(train["corpus"]) != sorted(train["corpus"])  # shuffled
    meld_sad = next(r for r in train if r["text"] == "so sad" and r["corpus"] == "meld")
    # the only negative MSA *training* donor is "so sad" (-1.4); "bad" (-2.0) is a test row; no IEMOCAP donors
    assert (meld_sad["score"], meld_sad["score_origin"]) == (pytest.approx(-1.4), "pseudo")
    assert meld_sad["universal_label"] == "negative,-1.4,sadness,neutral"
    card = (out / "README.md").read_text()
    assert "local folder 'encoder'" in card and "model.safetensors" in card and str(tmp_path) not in card
    info = json.loads((out / "build_info" / "moseld.json").read_text())["pseudo_labels"]
    assert (info["embedding_backend"], info["pooling"]) == ("transformers", "mean") and isinstance(info["bf16"], bool)
    mosi_love = next(r for r in train if r["id"] == "mosivid$_$0" and r["corpus"] == "mosi")
    assert mosi_love["meld_emotion"] in ("joy", "surprise") and mosi_love["meld_emotion_origin"] == "pseudo"


def test_official_mixture_and_argument_errors(source, tmp_path):
    out = tmp_path / "hub"
    with pytest.raises(SystemExit, match="needs pseudo_labels"):
        main(["build-dataset", "mos", "--source", str(source), "--out", str(out), "--no-progress"])
    with pytest.raises(SystemExit, match="no 'iemocap' sub-folder"):
        main(["build-dataset", "moseldmp", "--source", str(source), "--out", str(out), "--pseudo-labels", "x"])
    with pytest.raises(SystemExit, match="only serve as pseudo-label donors"):
        main(
            [
                "build-dataset",
                "mosi",
                "--source",
                str(source / "mosi"),
                "--source",
                f"meld={source / 'meld'}",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
    with pytest.raises(SystemExit, match=r"covers \('mosi', 'mosei', 'meld'\) only"):
        main(["build-dataset", "iemocap", "--source", str(source), "--out", str(out), "--pseudo-labels", "official"])
    with pytest.raises(SystemExit, match="official v4 labels of mosi"):
        main(
            [
                "build-dataset",
                "mosi",
                "--source",
                str(source / "mosi"),
                "--out",
                str(out),
                "--no-progress",
                "--pseudo-labels",
                "official",
            ]
        )


def _mmsa_features(path, corpus, audio_dim, vision_dim):
    """A tiny MMSA unaligned pickle for the synthetic MMSA rows (ids ``{corpus}vid$_${i}``; row 1 absent)."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(audio_dim)
    data = {}
    for split, mode in (("train", "train"), ("valid", "valid"), ("test", "test")):
        ids = [f"{corpus}vid$_${i}" for i, (_, _, m) in enumerate(MMSA_ROWS) if m == mode and i != 1]
        data[split] = {
            "id": np.array(ids),
            "raw_text": np.array(["x"] * len(ids)),
            "audio": rng.normal(size=(len(ids), 4, audio_dim)).astype(np.float32),
            "vision": rng.normal(size=(len(ids), 4, vision_dim)).astype(np.float32),
            "audio_lengths": [3] * len(ids),
            "vision_lengths": [2] * len(ids),
        }
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def test_mixture_features_are_padded_and_filled(source, tmp_path):
    import numpy as np

    encoder = save_tiny_encoder(tmp_path / "encoder")
    out = tmp_path / "hub"
    code = main(
        [
            "build-dataset",
            "moseld",
            "--source",
            str(source),
            "--out",
            str(out),
            "--no-progress",
            "--pseudo-labels",
            str(encoder),
            "--feature-format",
            "mmsa",
            "--features",
            f"mosi={_mmsa_features(tmp_path / 'mosi.pkl', 'mosi', 3, 2)}",
            "--features",
            f"mosei={_mmsa_features(tmp_path / 'mosei.pkl', 'mosei', 5, 2)}",
        ]
    )
    assert code == 0
    ds = _load(out, "moseld", tmp_path)
    assert ds["train"].features["acoustic"].shape == (None, 5) and ds["train"].features["visual"].shape == (None, 2)
    shapes = {(r["corpus"], r["id"]): np.asarray(r["acoustic"]).shape for r in ds["train"].with_format("numpy")}
    assert shapes[("mosi", "mosivid$_$0")] == (3, 5) and shapes[("mosei", "moseivid$_$0")] == (3, 5)
    assert shapes[("mosi", "mosivid$_$1")] == (0, 5)  # id without features: zero frames (reader)
    assert all(shape == (0, 5) for (corpus, _), shape in shapes.items() if corpus == "meld")
    mosi0 = next(r for r in ds["train"].with_format("numpy") if r["id"] == "mosivid$_$0")
    assert not mosi0["acoustic"][:, 3:].any()  # zero-padded from 3 to 5 dims
    info = (out / "README.md").read_text()
    assert "acoustic zero-padded from 3 to 5 dims per frame" in info
    assert "no acoustic features: zero-frame (0, 5) arrays added" in info


IEMOCAP = {
    (1, "Ses01F_impro01"): [
        ("F000", "hap", "i love it"),
        ("M000", "fru", "this is bad"),
        ("F001", "neu", "ok"),
        ("M001", "sur", "wow"),
    ],
    (5, "Ses05F_impro01"): [("F000", "ang", "no"), ("M000", "exc", "yes great")],
}


def test_moseldmp_with_iemocap_and_the_public_push_refusal(source, tmp_path, capsys):
    from data_helpers import write_iemocap_release

    write_iemocap_release(source / "iemocap", IEMOCAP)
    encoder = save_tiny_encoder(tmp_path / "encoder")
    api = MagicMock()
    api.repo_info.return_value = SimpleNamespace(private=False, gated=False)
    out = tmp_path / "hub"
    args = [
        "build-dataset",
        "moseldmp",
        "--source",
        str(source),
        "--out",
        str(out),
        "--no-progress",
        "--pseudo-labels",
        str(encoder),
    ]
    with patch("hub_datasets.publish.HfApi", return_value=api), pytest.raises(SystemExit, match="refusing"):
        main([*args, "--push-to-hub", "me/public", "--public"])
    api.upload_folder.assert_not_called()
    ds = _load(out, "moseldmp", tmp_path)  # the folder was written before the refused push
    assert "test_iemocap" in ds and "validation_iemocap" not in ds  # no IEMOCAP validation dialogue here
    train = list(ds["train"])
    iem = {r["id"]: r for r in train if r["corpus"] == "iemocap"}
    assert "Ses01F_impro01_M001" not in iem  # 'sur' dropped by the reader
    assert iem["Ses01F_impro01_M000"]["score"] == pytest.approx(-1.4)  # the one negative MSA training donor
    assert iem["Ses01F_impro01_F001"]["universal_label"] == "neutral,0.0,neutral,neutral"
    mosi_sad = next(r for r in train if r["corpus"] == "mosi" and r["text"] == "so sad")
    assert mosi_sad["iemocap_emotion"] == "frustrated" and mosi_sad["iemocap_emotion_origin"] == "pseudo"
    assert "IEMOCAP is licensed by USC SAIL" in (out / "README.md").read_text()
