"""`unimse-hf build-dataset ... --feature-format meld=raw-media`: a MELD.Raw-like folder of generated clips becomes
frame features, with the on-disk cache making a second (or interrupted) build resume without re-extracting."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("av", reason="the media extra (av, opensmile, opencv-python-headless) is not installed")
pytest.importorskip("opensmile", reason="the media extra is not installed")
pytest.importorskip("cv2", reason="the media extra is not installed")
pytest.importorskip("skimage", reason="scikit-image (dev extra) gives the face image")

from datasets import load_dataset  # noqa: E402
from media_helpers import face_then_blank_mp4, speech_like, write_wav  # noqa: E402
from test_build_dataset_cli import MELD_HEADER, MELD_ROWS, MMSA_HEADER  # noqa: E402

from hub_datasets.build import build_dataset  # noqa: E402
from hub_datasets.raw_media import index_media_folder, media_file_for  # noqa: E402
from unimse_hf.cli import main  # noqa: E402
from unimse_hf.media import MediaSettings, UniMSEMediaWarning  # noqa: E402

SETTINGS = MediaSettings(acoustic_dim=16, visual_dim=8)
# every build warns once about the broken clip; the first test checks that warning
pytestmark = pytest.mark.filterwarnings("ignore:.*dia0_utt2.*:unimse_hf.media.UniMSEMediaWarning")


@pytest.fixture(scope="module")
def meld(tmp_path_factory):
    """MELD CSVs (4 train, 2 dev, 2 test rows of dialogue 0) and a MELD.Raw folder: train utt0 (face + audio),
    utt1 (silent video), utt2 (a broken file), no utt3; dev utt0 as a WAV; a macOS resource fork to skip."""
    root = tmp_path_factory.mktemp("meld")
    source = root / "meld"
    source.mkdir()
    for split, rows in MELD_ROWS.items():
        lines = [f'{i + 1},{text},Ross,{emo},{sent},0,{i},1,1,"00:00:01,000","00:00:02,000"\n'
                 for i, (text, emo, sent) in enumerate(rows)]  # fmt: skip
        (source / f"{split}_sent_emo.csv").write_text(MELD_HEADER + "".join(lines))
    raw = root / "MELD.Raw"
    train, dev = raw / "train" / "train_splits", raw / "dev" / "dev_splits_complete"
    train.mkdir(parents=True)
    dev.mkdir(parents=True)
    face_then_blank_mp4(train / "dia0_utt0.mp4", faces=5, blanks=5)
    face_then_blank_mp4(train / "dia0_utt1.mp4", faces=5, blanks=5, with_audio=False)
    (train / "dia0_utt2.mp4").write_bytes(b"not a video" * 20)
    (train / "._dia0_utt0.mp4").write_bytes(b"\x00\x05\x16\x07 resource fork")
    write_wav(dev / "dia0_utt0.wav", speech_like(1.0))
    return source, raw


def test_rows_are_matched_to_the_meld_raw_layout(meld):
    _, raw = meld
    index = index_media_folder(raw)
    assert ("train_splits", "._dia0_utt0") not in index
    row = {"id": "train/dia0_utt0", "split": "train"}
    assert media_file_for("meld", row, index).name == "dia0_utt0.mp4"
    assert media_file_for("meld", {"id": "validation/dia0_utt0", "split": "validation"}, index).suffix == ".wav"
    assert media_file_for("meld", {"id": "test/dia0_utt0", "split": "test"}, index) is None
    # MOSI / MOSEI: MMSA's Raw/{video}/{clip}.mp4 and CMU's Segmented/{video}_{clip}.mp4
    assert media_file_for("mosi", {"id": "train_splits$_$dia0_utt0", "split": "train"}, index).name == "dia0_utt0.mp4"


def test_build_extracts_counts_and_resumes_from_the_cache(meld, tmp_path, monkeypatch):
    source, raw = meld
    cache = tmp_path / "cache"
    kwargs = dict(features={"meld": raw}, feature_formats={"meld": "raw-media"}, media_settings=SETTINGS,
                  media_cache=cache, show_progress=False)  # fmt: skip
    with pytest.warns(UniMSEMediaWarning, match=r"train/dia0_utt2: video: cannot read .*dia0_utt2.mp4"):
        first = build_dataset("meld", {"meld": source}, tmp_path / "out1", **kwargs)
    train = {row["id"]: row for row in first.dataset["train"]}
    talk = train["train/dia0_utt0"]
    assert np.asarray(talk["acoustic"]).shape[1] == 16 and len(talk["acoustic"]) > 20
    assert np.asarray(talk["visual"]).shape == (3, 8)  # 1 s at 5 frames/s, the face in the first half
    assert (talk["acoustic_feature_set"], talk["visual_feature_set"]) == ("egemaps-lld", "haar-hog")
    silent = train["train/dia0_utt1"]
    assert len(silent["acoustic"]) == 0 and len(silent["visual"]) == 3  # no audio stream: zero acoustic frames
    for broken_or_absent in ("train/dia0_utt2", "train/dia0_utt3"):
        row = train[broken_or_absent]  # kept, with zero frames and no feature set
        assert len(row["acoustic"]) == len(row["visual"]) == 0 and row["visual_feature_set"] == ""
    wav = next(r for r in first.dataset["validation"] if r["id"] == "validation/dia0_utt0")
    assert len(wav["acoustic"]) > 0 and len(wav["visual"]) == 0
    records = {(r["split"], r["reason"]): r["count"] for r in first.report.to_records() if r["corpus"] == "meld"}
    assert records[("train", "media file unreadable (zero frames)")] == 1
    assert records[("train", "acoustic: not in the media file (zero frames)")] == 1
    assert records[("validation", "visual: not in the media file (zero frames)")] == 1
    assert records[("test", "visual: no features for this id")] == 2  # no test clips at all
    assert first.info["media_settings"] == SETTINGS.to_dict()
    stored = sorted(p.name for p in cache.rglob("*.npz"))
    assert len(stored) == 3  # the two MP4s and the WAV; the broken file is not cached

    # a build after an interruption extracts only the files the cache lacks; the next one extracts nothing
    import unimse_hf.media.cache as cache_module

    calls = []
    extract = cache_module.extract_media_features
    monkeypatch.setattr(cache_module, "extract_media_features", lambda *a, **k: calls.append(1) or extract(*a, **k))
    next(cache.rglob("*.npz")).unlink()  # as if the first build had stopped before this file
    second = build_dataset("meld", {"meld": source}, tmp_path / "out2", **kwargs)
    resumed = len(calls)
    build_dataset("meld", {"meld": source}, tmp_path / "out3", **kwargs)
    assert (resumed, len(calls) - resumed) == (1 + 1, 1)  # the deleted entry + the broken file (never cached)
    again = {row["id"]: row for row in second.dataset["train"]}
    np.testing.assert_array_equal(np.asarray(again["train/dia0_utt0"]["acoustic"]), np.asarray(talk["acoustic"]))


def test_cache_key_changes_with_the_settings(meld, tmp_path):
    source, raw = meld
    for dim in (16, 4):
        settings = MediaSettings(acoustic_dim=dim, visual_dim=8)
        build_dataset("meld", {"meld": source}, tmp_path / f"out{dim}", features={"meld": raw},
                      feature_formats={"meld": "raw-media"}, media_settings=settings, media_cache=tmp_path / "cache",
                      show_progress=False)  # fmt: skip
    folders = sorted(p for p in (tmp_path / "cache").iterdir() if p.is_dir())
    assert len(folders) == 2
    assert {json.loads((f / "settings.json").read_text())["acoustic_dim"] for f in folders} == {16, 4}


def test_cli_with_the_processor_settings_and_clear_errors(meld, tmp_path, capsys, tokenizer_dir):
    from transformers import AutoTokenizer

    from unimse_hf import UniMSEFeatureExtractor, UniMSEProcessor

    source, raw = meld
    processor_dir = tmp_path / "processor"
    extractor = UniMSEFeatureExtractor(acoustic_dim=12, visual_dim=6, visual_frame_rate=2.0)
    UniMSEProcessor(AutoTokenizer.from_pretrained(tokenizer_dir), extractor).save_pretrained(processor_dir)
    out = tmp_path / "out"
    argv = ["build-dataset", "meld", "--source", str(source), "--features", f"meld={raw}", "--feature-format",
            "meld=raw-media", "--media-extractor", str(processor_dir), "--media-cache", str(tmp_path / "cache"),
            "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    ds = load_dataset(str(out), "meld", cache_dir=str(tmp_path / "hf_cache"))
    talk = next(r for r in ds["train"] if r["id"] == "train/dia0_utt0")
    assert np.asarray(talk["acoustic"]).shape[1] == 12 and np.asarray(talk["visual"]).shape == (1, 6)  # 2 frames/s
    info = json.loads((out / "build_info" / "meld.json").read_text())
    assert info["media_settings"] == extractor.media_settings().to_dict()

    with pytest.raises(SystemExit, match=r"--media-extractor: no such file or folder '.*nowhere'"):
        main([*argv[:-5], "--media-extractor", str(tmp_path / "nowhere"), "--out", str(out), "--no-progress"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match=r"holds no media files"):
        main([*argv[:4], "--features", f"meld={empty}", *argv[6:]])
    (tmp_path / "mosi").mkdir()
    (tmp_path / "mosi" / "label.csv").write_text(MMSA_HEADER + "vid,0,HI,1.0,x,train,0\n")
    with pytest.raises(SystemExit, match=r"none of the 1 mosi rows has a readable media file"):
        main(["build-dataset", "mosi", "--source", str(tmp_path / "mosi"), "--features", str(raw),
              "--feature-format", "raw-media", "--media-cache", str(tmp_path / "cache"), "--out", str(out),
              "--no-progress"])  # fmt: skip
