"""UniMSEFeatureExtractor on raw media: generated WAV / MP4 files (a real face, face-less frames), dims, masks,
partial results and errors."""

from __future__ import annotations

import importlib
import json
import warnings

import numpy as np
import pytest

pytest.importorskip("av", reason="the media extra (av, opensmile, opencv-python-headless) is not installed")
pytest.importorskip("opensmile", reason="the media extra is not installed")
pytest.importorskip("cv2", reason="the media extra is not installed")
pytest.importorskip("skimage", reason="scikit-image (dev extra) gives the face image")

from media_helpers import FPS, RATE, face_then_blank_mp4, speech_like, write_wav  # noqa: E402

from unimse_hf import UniMSEFeatureExtractor  # noqa: E402
from unimse_hf.media import (  # noqa: E402
    MediaError,
    MediaSettings,
    UniMSEMediaWarning,
    extract_media_features,
    reduce_dim,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(b"this is not a video file at all" * 50)
    text = folder / "notes.txt"
    text.write_text("hello\n" * 100)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "mp4": face_then_blank_mp4(folder / "talk.mp4"),  # 1 s astronaut, then 1 s without a face
        "silent_mp4": face_then_blank_mp4(folder / "silent.mp4", with_audio=False),
        "wav": write_wav(folder / "speech.wav", speech_like(2.0)),
        "garbage": garbage,
        "text": text,
        "empty": empty,
    }


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UniMSEMediaWarning)
        return function(*args, **kwargs)


def test_video_gives_configured_dims_and_masks_the_faceless_frames(media):
    extractor = UniMSEFeatureExtractor(acoustic_dim=64, visual_dim=32, acoustic_frame_rate=25.0, visual_frame_rate=5.0)
    features = extractor.extract_media(video=media["mp4"])
    assert features.acoustic.shape[1] == 64 and features.visual.shape[1] == 32
    assert 45 <= features.acoustic.shape[0] <= 55  # 2 s at 25 frames/s
    # 2 s sampled at 5 frames/s: the first second shows the face, the second does not
    assert features.face_mask.tolist() == [True] * 5 + [False] * 5
    np.testing.assert_allclose(features.visual_times, np.arange(10) / 5, atol=1 / FPS)
    assert features.visual.shape[0] == int(features.face_mask.sum()) and features.missing == {}
    assert np.isfinite(features.acoustic).all() and np.isfinite(features.visual).all()
    batch = extractor(video=[media["mp4"], None])
    assert batch["visual_features"].shape == (2, 5, 32) and batch["visual_mask"].tolist() == [[1] * 5, [0] * 5]
    assert batch["acoustic_mask"][1].sum() == 0 and batch["acoustic_mask"][0].sum() == features.acoustic.shape[0]
    np.testing.assert_allclose(batch["visual_features"][0].numpy(), features.visual)  # deterministic


def test_frame_rates_and_feature_sets_are_configurable(media):
    settings = MediaSettings(acoustic_feature_set="compare-lld", acoustic_frame_rate=10.0, acoustic_dim=None,
                             visual_frame_rate=10.0, visual_dim=None)  # fmt: skip
    features = extract_media_features(video=media["mp4"], settings=settings)
    assert features.acoustic.shape[1] == 130 and 18 <= features.acoustic.shape[0] <= 22  # 65 LLDs + deltas, 10/s
    assert features.visual.shape == (10, 328) and features.face_mask.sum() == 10  # 1 s of faces at 10 frames/s


def test_reduction_pads_or_projects_deterministically():
    frames = np.random.default_rng(0).normal(size=(7, 50)).astype(np.float32)
    assert np.array_equal(reduce_dim(frames, 64)[:, :50], frames) and not reduce_dim(frames, 64)[:, 50:].any()
    projected = reduce_dim(frames, 16)
    assert projected.shape == (7, 16) and np.array_equal(projected, reduce_dim(frames, 16))
    assert reduce_dim(frames, None) is not None and reduce_dim(frames, 50).shape == (7, 50)


def test_audio_array_needs_its_sampling_rate_and_is_resampled(media):
    extractor = UniMSEFeatureExtractor(acoustic_dim=16, visual_dim=8)
    waveform = speech_like(1.0, rate=8000)
    with pytest.raises(ValueError, match=r"audio is an array: give its sampling_rate \(Hz\) too"):
        extractor(audio=waveform)
    batch = extractor(audio=waveform, sampling_rate=8000)
    assert batch["acoustic_features"].shape[2] == 16 and 23 <= batch["acoustic_features"].shape[1] <= 26
    assert "visual_features" not in batch
    from_file = extractor(audio=str(media["wav"]))  # a path, read at its own rate
    assert from_file["acoustic_features"].shape[1] >= 48
    with pytest.raises(ValueError, match="sampling_rate is for a waveform array"):
        extractor(audio=str(media["wav"]), sampling_rate=16000)
    with pytest.raises(ValueError, match=r"audio is empty \(0 samples\)"):
        extractor(audio=np.zeros(0, np.float32), sampling_rate=RATE)


def test_video_without_audio_and_audio_only_file_give_documented_partial_results(media):
    extractor = UniMSEFeatureExtractor(acoustic_dim=8, visual_dim=8)
    with pytest.warns(UniMSEMediaWarning, match=r"acoustic features are missing \(masked\): .*has no audio stream"):
        silent = extractor.extract_media(video=media["silent_mp4"])
    assert silent.acoustic is None and silent.visual.shape == (5, 8) and "acoustic" in silent.missing
    with pytest.warns(UniMSEMediaWarning, match=r"visual features are missing \(masked\): .*no video stream"):
        audio_only = extractor.extract_media(video=media["wav"])
    assert audio_only.visual is None and audio_only.acoustic.shape[1] == 8 and "visual" in audio_only.missing
    batch = quiet(extractor, video=[media["silent_mp4"], media["wav"]])
    assert batch["acoustic_mask"][0].sum() == 0 and batch["acoustic_mask"][1].sum() > 0
    assert batch["visual_mask"][0].sum() == 5 and batch["visual_mask"][1].sum() == 0
    with pytest.raises(MediaError, match=r"audio: '.*silent.mp4' has no audio stream"):
        extractor.extract_media(audio=media["silent_mp4"])


@pytest.mark.parametrize(
    "key, error, match",
    [("garbage", MediaError, r"video: cannot read '.*garbage.mp4' as an audio or video file"),
     ("text", MediaError, r"video: cannot read '.*notes.txt' as an audio or video file"),
     ("empty", MediaError, r"video: '.*empty.mp4' is empty \(0 bytes\)")],
)  # fmt: skip
def test_unreadable_empty_and_unsupported_files_name_the_file(media, key, error, match):
    with pytest.raises(error, match=match):
        UniMSEFeatureExtractor().extract_media(video=media[key])


def test_missing_file_and_bad_arguments_get_clear_errors(media, tmp_path):
    extractor = UniMSEFeatureExtractor()
    with pytest.raises(FileNotFoundError, match=r"video: no such file '.*nowhere.mp4'"):
        extractor(video=str(tmp_path / "nowhere.mp4"))
    with pytest.raises(ValueError, match=r"give either acoustic= \(precomputed frames\) or audio= \(raw media\)"):
        extractor(acoustic=[np.zeros((3, 64))], audio=[speech_like(0.5)], sampling_rate=RATE)
    with pytest.raises(ValueError, match=r"audio and video must have one entry per sample each"):
        extractor(audio=[media["wav"]], video=[media["mp4"], media["mp4"]])
    with pytest.raises(TypeError, match=r"video must be a video file path .*got int"):
        extractor.extract_media(video=3)
    with pytest.raises(ValueError, match=r"acoustic_frame_rate must be a positive number at most 100"):
        UniMSEFeatureExtractor(acoustic_frame_rate=200)
    covarep = UniMSEFeatureExtractor(acoustic_feature_set="covarep")
    with pytest.raises(ValueError, match=r"acoustic_feature_set of this extractor is 'covarep': its model takes"):
        covarep.extract_media(audio=media["wav"])
    assert covarep.extract_media(video=media["mp4"], modalities=("visual",)).visual.shape[1] == 64


def test_settings_travel_with_the_saved_processor(media, tmp_path, tokenizer_dir):
    from transformers import AutoProcessor, AutoTokenizer

    from unimse_hf import UniMSEProcessor

    extractor = UniMSEFeatureExtractor(acoustic_dim=12, visual_dim=10, sampling_rate=22050,
                                       acoustic_feature_set="compare-lld", visual_feature_set="haar-hog",
                                       acoustic_frame_rate=20.0, visual_frame_rate=4.0)  # fmt: skip
    UniMSEProcessor(AutoTokenizer.from_pretrained(tokenizer_dir), extractor).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())["feature_extractor"]
    assert {key: saved[key] for key in ("sampling_rate", "acoustic_frame_rate", "visual_frame_rate")} == {
        "sampling_rate": 22050, "acoustic_frame_rate": 20.0, "visual_frame_rate": 4.0}  # fmt: skip
    loaded = AutoProcessor.from_pretrained(tmp_path).feature_extractor
    assert loaded.media_settings() == extractor.media_settings()
    before, after = extractor.extract_media(video=media["mp4"]), loaded.extract_media(video=media["mp4"])
    np.testing.assert_array_equal(before.acoustic, after.acoustic)
    np.testing.assert_array_equal(before.visual, after.visual)


def test_missing_media_libraries_name_the_extra(monkeypatch, media):
    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "unimse_hf.media":
            raise ImportError("No module named 'av'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"media extra \(pip install 'unimse-hf\[media\]'\)"):
        UniMSEFeatureExtractor()(video=media["mp4"])


def test_pipeline_runs_end_to_end_on_media_files_and_arrays(media, tmp_path, tokenizer_dir):
    import torch
    from test_trainer import ACOUSTIC_DIM, VISUAL_DIM, tiny_model
    from transformers import AutoTokenizer, pipeline

    from unimse_hf import UniMSEProcessor

    extractor = UniMSEFeatureExtractor(acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM)
    processor = UniMSEProcessor(AutoTokenizer.from_pretrained(tokenizer_dir), extractor)
    tiny_model(processor).save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    pipe = pipeline("multimodal-sentiment", model=str(tmp_path), max_new_tokens=8)
    text = "I love this movie"
    out = pipe({"text": text, "video": str(media["mp4"])})
    assert set(out) >= {"polarity", "score", "emotion", "generated"}
    frames = extractor.extract_media(video=media["mp4"])
    assert out == pipe({"text": text, "acoustic": frames.acoustic, "visual": frames.visual})  # same frames
    waveform = speech_like(1.0, rate=8000)
    from_array = pipe({"text": text, "audio": waveform, "sampling_rate": 8000})
    acoustic = extractor(audio=waveform, sampling_rate=8000)["acoustic_features"][0].numpy()
    assert from_array == pipe({"text": text, "acoustic": acoustic})
    dialogue = pipe({"dialogue": [{"text": "hi", "video": str(media["mp4"])},
                                  {"text": "bye", "audio": str(media["wav"])}, {"text": "ok"}]})  # fmt: skip
    assert len(dialogue) == 3
    with pytest.warns(UniMSEMediaWarning, match="acoustic features are missing"):
        assert pipe({"text": text, "video": str(media["silent_mp4"])})["valid"] in (True, False)
    with pytest.raises(ValueError, match=r"has both 'visual' frames and 'video'"):
        pipe({"text": text, "video": str(media["mp4"]), "visual": torch.zeros(3, VISUAL_DIM).numpy()})
    with pytest.raises(FileNotFoundError, match=r"inputs\['video'\]: no such file"):
        pipe({"text": text, "video": str(tmp_path / "nowhere.mp4")})
    with pytest.raises(MediaError, match="cannot read .*garbage.mp4"):
        pipe({"text": text, "video": str(media["garbage"])})
