"""UniMSEProcessor: model input text (docs/method.md), tokenisation, acoustic/visual padding, save/load."""

import csv
import json

import numpy as np
import pytest
import torch
from conftest import FIXTURES, SHARED_DATA, TOKENIZER_DIR
from transformers import AutoProcessor, AutoTokenizer

import unimse_hf
from unimse_hf import UniMSEDataCollator, UniMSEProcessor
from unimse_hf.feature_extraction_unimse import UniMSEFeatureExtractor
from unimse_hf.processing_unimse import UniMSEDataWarning

MELD_FIXTURE = FIXTURES / "meld" / "dev_dialogue2.csv"


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


@pytest.fixture
def processor(tokenizer):
    return UniMSEProcessor(tokenizer, UniMSEFeatureExtractor(acoustic_dim=4, visual_dim=3))


def meld_dialogue_rows(path=MELD_FIXTURE, max_context=5):
    """Unified-schema text columns of one MELD dialogue (context_before nearest last, context_after nearest first)."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["Utterance_ID"]))
    texts = [r["Utterance"] for r in rows]
    speakers = [r["Speaker"] for r in rows]
    return [
        {
            "text": texts[i],
            "speaker": speakers[i],
            "context_before": texts[max(0, i - max_context) : i],
            "speakers_before": speakers[max(0, i - max_context) : i],
            "context_after": texts[i + 1 : i + 1 + max_context],
            "speakers_after": speakers[i + 1 : i + 1 + max_context],
        }
        for i in range(len(rows))
    ]


# -------------------------------------------------------------------------------------------------------- text
MELD_EXPECTED = {
    # dialogue start: no past side, no leading </s>
    0: "sst2 sentence: Joey Hey Estelle, listen </s> Estelle Well! Well! Well! Joey Tribbiani! So you came back "
    "huh? They Joey What are you talkin’ about? I never left you! You’ve always been my agent!",
    # one utterance of past context
    1: "sst2 sentence: Joey Hey Estelle, listen </s> Estelle Well! Well! Well! Joey Tribbiani! So you came back "
    "huh? They </s> Joey What are you talkin’ about? I never left you! You’ve always been my agent! "
    "Estelle Really?!",
    # full ±2 window
    2: "sst2 sentence: Joey Hey Estelle, listen Estelle Well! Well! Well! Joey Tribbiani! So you came back huh? "
    "They </s> Joey What are you talkin’ about? I never left you! You’ve always been my agent! </s> "
    "Estelle Really?! Joey Yeah!",
    # dialogue end: no future side, no trailing </s>
    5: "sst2 sentence: Estelle Really?! Joey Yeah! </s> Estelle Oh well, no harm, no foul.",
}


@pytest.mark.parametrize("index", sorted(MELD_EXPECTED))
def test_meld_input_text_matches_spec(processor, index):
    rows = meld_dialogue_rows()
    row = rows[index]
    assert processor.build_input_text(**row) == MELD_EXPECTED[index]
    # the batch path (dataset rows through the collator) builds the same text
    ids = UniMSEDataCollator(processor, target_column=None)([row | {"corpus": "meld"}])["input_ids"][0].tolist()
    assert ids == processor.tokenizer(MELD_EXPECTED[index])["input_ids"]


def test_fence_is_tokenised_as_eos(processor):
    ids = processor(MELD_EXPECTED[2].removeprefix("sst2 sentence: "))["input_ids"][0].tolist()
    assert ids.count(processor.tokenizer.eos_token_id) == 3  # two fences + the final EOS
    assert processor.tokenizer.eos_token_id == 1


def test_meld_fixture_matches_the_real_csv():
    source = SHARED_DATA / "meld" / "dev_sent_emo.csv"
    if not source.exists():
        pytest.skip(f"real MELD data not found at {source} (only present in the development checkout)")
    with open(source, encoding="utf-8", newline="") as f:
        real = [row for row in csv.DictReader(f) if row["Dialogue_ID"] == "2"]
    with open(MELD_FIXTURE, encoding="utf-8", newline="") as f:
        assert list(csv.DictReader(f)) == real


def test_past_mode_window_and_speakers_options(tokenizer):
    row = meld_dialogue_rows()[2]
    past = UniMSEProcessor(tokenizer, context_mode="past")
    assert past.build_input_text(**row) == (
        "sst2 sentence: Joey Hey Estelle, listen Estelle Well! Well! Well! Joey Tribbiani! So you came back huh? "
        "They </s> Joey What are you talkin’ about? I never left you! You’ve always been my agent!"
    )
    narrow = UniMSEProcessor(tokenizer, context_window=1, use_speakers=False, prefix="")
    assert narrow.build_input_text(**row) == (
        "Well! Well! Well! Joey Tribbiani! So you came back huh? They </s> What are you talkin’ about? I never "
        "left you! You’ve always been my agent! </s> Really?!"
    )
    none = UniMSEProcessor(tokenizer, context_window=0)
    assert none.build_input_text(**row) == "sst2 sentence: Joey " + row["text"]


def test_msa_and_iemocap_style_inputs(processor):
    # MSA: no context, text kept as given (only stripped)
    assert processor.build_input_text("  a LOT of sad parts ") == "sst2 sentence: a LOT of sad parts"
    # IEMOCAP: per-speaker windows without speaker names
    text = processor.build_input_text("now", context_before=["one", "two", "three"], context_after=["later"])
    assert text == "sst2 sentence: two three </s> now </s> later"


def test_plain_python_batch_call(processor):
    out = processor(
        ["Yeah!", "Really?!"],
        speaker=["Joey", "Estelle"],
        context_before=[["Really?!"], []],
        speakers_before=[["Estelle"], []],
    )
    first = processor.tokenizer("sst2 sentence: Estelle Really?! </s> Joey Yeah!")["input_ids"]
    second = processor.tokenizer("sst2 sentence: Estelle Really?!")["input_ids"]
    assert out["input_ids"][0].tolist() == first
    assert out["input_ids"][1].tolist() == second + [0] * (len(first) - len(second))
    assert out["attention_mask"].tolist()[1] == [int(t != 0) for t in out["input_ids"][1].tolist()]
    assert set(out) == {"input_ids", "attention_mask"}  # text-only batch


# ------------------------------------------------------------------------------------------------ truncation, targets
def test_truncation_warns_with_counts(tokenizer):
    processor = UniMSEProcessor(tokenizer, max_source_length=12)
    long_text = "one two three four five six seven eight nine ten"
    full = len(tokenizer(processor.build_input_text(long_text))["input_ids"])
    assert full > 12 >= len(tokenizer(processor.build_input_text("hi"))["input_ids"])
    with pytest.warns(
        UniMSEDataWarning,
        match=rf"input text: truncated 1 of 2 samples to 12 tokens \({full - 12} tokens cut in total, "
        rf"at most {full - 12} from one sample\)",
    ):
        out = processor([long_text, "hi"])
    assert out["input_ids"].shape == (2, 12)
    assert out["input_ids"][0, -1].item() == tokenizer.eos_token_id  # EOS kept at the end


def test_targets_are_padded_with_minus_100(processor):
    out = processor(["a", "b"], text_target=["positive,1.2,joy,excited", "neutral,0.0,neutral,neutral"])
    labels = out["labels"]
    short = processor.tokenizer("positive,1.2,joy,excited")["input_ids"]
    assert labels[0, : len(short)].tolist() == short and (labels[0, len(short) :] == -100).all()
    assert processor.batch_decode(labels) == ["positive,1.2,joy,excited", "neutral,0.0,neutral,neutral"]
    only_targets = processor(text_target="negative,-1.0,anger,anger")
    assert set(only_targets) == {"labels"}
    parsed = processor.post_process_generation(only_targets["labels"])
    assert parsed[0].score == -1.0 and parsed[0].is_well_formed


def test_target_truncation_warns(tokenizer):
    processor = UniMSEProcessor(tokenizer, max_target_length=5)
    with pytest.warns(UniMSEDataWarning, match="text_target: truncated 1 of 1 samples to 5 tokens"):
        out = processor("x", text_target="positive,0.6666666865348816,joy,excited")
    assert out["labels"].shape == (1, 5)


# -------------------------------------------------------------------------------------------------------- frames
def test_frames_are_right_padded_with_masks(processor):
    a0 = np.arange(8, dtype=np.float64).reshape(2, 4)  # numpy
    a2 = torch.ones(3, 4)  # tensor
    v1 = [[1.0, 2.0, 3.0]]  # nested list
    out = processor(["a", "b", "c"], acoustic=[a0, None, a2], visual=[None, v1, None])
    assert out["acoustic_features"].shape == (3, 3, 4) and out["acoustic_features"].dtype == torch.float32
    assert out["acoustic_mask"].dtype == torch.int64
    assert out["acoustic_mask"].tolist() == [[1, 1, 0], [0, 0, 0], [1, 1, 1]]
    assert torch.equal(out["acoustic_features"][0, :2], torch.as_tensor(a0, dtype=torch.float32))
    assert (out["acoustic_features"][0, 2] == 0).all() and (out["acoustic_features"][1] == 0).all()
    assert out["visual_features"].shape == (3, 1, 3) and out["visual_mask"].tolist() == [[0], [1], [0]]


def test_single_sample_and_3d_batch_frames(processor):
    out = processor("a", acoustic=np.ones((5, 4)), visual=np.zeros((0, 3)))
    assert out["acoustic_mask"].tolist() == [[1] * 5]
    assert "visual_features" not in out and "visual_mask" not in out  # zero frames = no visual in the batch
    out = processor(["a", "b"], acoustic=np.ones((2, 3, 4)))
    assert out["acoustic_features"].shape == (2, 3, 4) and out["acoustic_mask"].sum().item() == 6


def test_non_finite_frames_are_zeroed_and_counted(processor):
    bad = np.ones((3, 4), dtype=np.float32)
    bad[0, 0], bad[1, 2], bad[2, 3] = np.nan, -np.inf, np.inf  # MOSEI COVAREP has -inf
    with pytest.warns(UniMSEDataWarning, match=r"acoustic: replaced 3 NaN/inf values in 1 of 2 samples by 0"):
        out = processor(["a", "b"], acoustic=[bad, np.ones((1, 4))])
    features = out["acoustic_features"]
    assert torch.isfinite(features).all() and features[0, 0, 0] == 0 and features[0, 0, 1] == 1


def test_model_accepts_processor_output(tokenizer):
    from conftest import tiny_unimse_config

    from unimse_hf import UniMSEForConditionalGeneration

    config = tiny_unimse_config(vocab_size=tokenizer.vocab_size + 100)
    model = UniMSEForConditionalGeneration(config).eval()
    extractor = UniMSEFeatureExtractor(acoustic_dim=config.acoustic_dim, visual_dim=config.visual_dim)
    processor = UniMSEProcessor(tokenizer, extractor)
    batch = processor(
        ["good", "bad"],
        acoustic=[np.ones((4, 6)), None],
        visual=[np.ones((2, 5)), np.ones((3, 5))],
        text_target=["positive,1.0,joy,joy", "negative,-1.0,anger,anger"],
    )
    assert torch.isfinite(model(**batch).loss)


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(text=["ok", 3]), TypeError, r"text\[1\] must be a str, got int 3"),
        (dict(text=42), TypeError, "text must be a list of str, got int 42"),
        (dict(text=None), ValueError, "text and text_target are both None"),
        (dict(text="a", acoustic=np.ones((2, 5))), ValueError, r"acoustic\[0\] has 5 features per frame, "
         "acoustic_dim is 4"),
        (dict(text="a", visual=np.ones(3)), ValueError, r"visual\[0\] must be 2-D \(frames, dim\), got shape \(3,\)"),
        (dict(text="a", acoustic="loud"), TypeError, r"acoustic\[0\] must be a \(frames, dim\) array of numbers"),
        (dict(text=["a", "b"], acoustic=[np.ones((1, 4))]), ValueError, r"acoustic must have one entry per text \(2\)"),
        (dict(text=["a", "b"], speaker="Joey"), TypeError, r"speaker must be a list with one entry per text"),
        (dict(text="a", speaker=3), TypeError, "speaker must be a str, got int 3"),
        (dict(text="a", context_before="b"), TypeError, "context_before must be a list of str"),
        (dict(text="a", context_before=["b", "c"], speakers_before=["B"]), ValueError,
         r"speakers_before must have one name per utterance of context_before \(2\), got 1"),
        (dict(text=["a", "b"], text_target=["x"]), ValueError, r"text_target must have one entry per text \(2\)"),
        (dict(text="a", return_tensors="np"), ValueError, "return_tensors must be 'pt'"),
    ],
)  # fmt: skip
def test_bad_inputs_raise_clear_errors(processor, kwargs, error, message):
    with pytest.raises(error, match=message):
        processor(**kwargs)


def test_batch_mixing_frame_dims_is_rejected(tokenizer):
    processor = UniMSEProcessor(tokenizer, UniMSEFeatureExtractor(acoustic_dim=None, visual_dim=None))
    with pytest.raises(ValueError, match=r"visual\[2\] has 35 features per frame but visual\[0\] has 64"):
        processor(["a", "b", "c"], visual=[np.ones((2, 64)), None, np.zeros((2, 35))])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(context_mode="future"), "context_mode must be one of"),
        (dict(context_window=-1), "context_window must be an int >= 0, got -1"),
        (dict(max_source_length=1), "max_source_length must be an int >= 2"),
    ],
)
def test_bad_options_raise(tokenizer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        UniMSEProcessor(tokenizer, **kwargs)
    with pytest.raises(TypeError, match="feature_extractor must be a UniMSEFeatureExtractor or None, got dict"):
        UniMSEProcessor(tokenizer, {"acoustic_dim": 4})


def test_processor_composes_tokenizer_and_feature_extractor(tokenizer):
    default = UniMSEProcessor(tokenizer)
    assert isinstance(default.feature_extractor, UniMSEFeatureExtractor)
    assert (default.acoustic_dim, default.visual_dim) == (64, 64)  # UniMSEConfig's defaults
    assert default.model_input_names == ["input_ids", "attention_mask", "acoustic_features", "acoustic_mask",
                                         "visual_features", "visual_mask"]  # fmt: skip
    extractor = UniMSEFeatureExtractor(acoustic_dim=4, visual_dim=None)
    by_keyword = UniMSEProcessor(tokenizer=tokenizer, feature_extractor=extractor)
    assert by_keyword.feature_extractor is extractor and (by_keyword.acoustic_dim, by_keyword.visual_dim) == (4, None)


# ------------------------------------------------------------------------------------------------ save / load
def test_save_pretrained_round_trip(tmp_path, tokenizer):
    extractor = UniMSEFeatureExtractor(acoustic_dim=6, visual_dim=None, sampling_rate=16000,
                                       acoustic_feature_set="covarep", padding_value=-1.0)  # fmt: skip
    processor = UniMSEProcessor(
        tokenizer, extractor, prefix="msa: ", context_window=1, context_mode="past", use_speakers=False,
        max_source_length=64, max_target_length=16,
    )  # fmt: skip
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["processor_class"] == "UniMSEProcessor" and saved["context_mode"] == "past"
    assert saved["feature_extractor"]["feature_extractor_type"] == "UniMSEFeatureExtractor"
    assert saved["feature_extractor"]["acoustic_feature_set"] == "covarep"
    row = meld_dialogue_rows()[2]
    frames = [np.ones((2, 6)), np.ones((3, 6))]
    for loaded in (UniMSEProcessor.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)):
        assert isinstance(loaded, UniMSEProcessor)
        options = ("prefix", "context_window", "context_mode", "use_speakers", "max_source_length",
                   "max_target_length", "acoustic_dim", "visual_dim")  # fmt: skip
        assert {k: getattr(loaded, k) for k in options} == {k: getattr(processor, k) for k in options}
        assert loaded.feature_extractor.to_dict() == processor.feature_extractor.to_dict()
        assert loaded(["a", "b"], acoustic=frames)["acoustic_features"][0, 2].tolist() == [-1.0] * 6
        assert (
            loaded.build_input_text(**row)
            == processor.build_input_text(**row)
            == (
                "msa: Well! Well! Well! Joey Tribbiani! So you came back huh? They </s> What are you talkin’ about? "
                "I never left you! You’ve always been my agent!"
            )
        )
        assert torch.equal(loaded(row["text"])["input_ids"], processor(row["text"])["input_ids"])


def test_auto_processor_from_a_model_folder(tmp_path, tokenizer):
    from conftest import tiny_unimse_config

    tiny_unimse_config().save_pretrained(tmp_path)
    UniMSEProcessor(tokenizer).save_pretrained(tmp_path)
    assert isinstance(AutoProcessor.from_pretrained(tmp_path), unimse_hf.UniMSEProcessor)


def test_saved_processor_loads_as_remote_code_without_unimse_hf(tmp_path, tokenizer):
    """The save folder carries auto_map + processing_unimse.py and the files it imports (labels.py,
    feature_extraction_unimse.py): plain transformers loads it, without unimse_hf installed."""
    import os
    import subprocess
    import sys

    extractor = UniMSEFeatureExtractor(acoustic_dim=3, visual_dim=None)
    UniMSEProcessor(tokenizer, extractor, context_window=1).save_pretrained(tmp_path / "proc")
    assert {"processing_unimse.py", "labels.py", "feature_extraction_unimse.py"} <= set(os.listdir(tmp_path / "proc"))
    script = (
        "import sys; sys.modules['unimse_hf'] = None; import numpy as np; from transformers import AutoProcessor; "
        f"p = AutoProcessor.from_pretrained({str(tmp_path / 'proc')!r}, trust_remote_code=True); "
        "out = p('c', acoustic=np.ones((2, 3))); "
        "print(type(p).__module__, type(p.feature_extractor).__module__, p.acoustic_dim, p.visual_dim, "
        "out['acoustic_mask'].tolist(), p.build_input_text('c', context_before=['a', 'b']), sep='|')"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    module, extractor_module, *printed = result.stdout.strip().split("|")
    assert module.startswith("transformers_modules.") and extractor_module.startswith("transformers_modules.")
    assert printed == ["3", "None", "[[1, 1]]", "sst2 sentence: b </s> c"]
