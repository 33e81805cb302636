"""pipeline("multimodal-sentiment"): input forms, batching, errors, and loading from every kind of saved folder."""

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from test_trainer import ACOUSTIC_DIM, TOKENIZER_DIR, VISUAL_DIM, tiny_model
from transformers import AutoModel, AutoModelForSeq2SeqLM, AutoProcessor, AutoTokenizer, pipeline
from transformers.dynamic_module_utils import get_class_from_dynamic_module

import unimse_hf  # noqa: F401  (registers the task)
from unimse_hf import UniMSEFeatureExtractor, UniMSEForConditionalGeneration, UniMSEProcessor
from unimse_hf.pipeline_unimse import MultimodalSentimentPipeline

LOVE = "positive,1.5,joy,excited"
HATE = "negative,-2.0,sadness,frustrated"
FIELDS = {"polarity", "score", "emotion", "iemocap_emotion", "generated", "valid"}


@pytest.fixture(scope="module")
def processor():
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    return UniMSEProcessor(tokenizer, UniMSEFeatureExtractor(acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM))


def save_love_hate_model(processor: UniMSEProcessor, folder: Path) -> Path:
    """Train a tiny UniMSE on two universal labels ("love" -> LOVE, else HATE), save it with ``processor`` to
    ``folder`` and return ``folder``."""
    model = tiny_model(processor)
    texts = ["I love it", "we love this so much", "I hate it", "this is awful, I hate you", "love love", "hate hate"]
    batch = processor(texts, text_target=[LOVE if "love" in text else HATE for text in texts])
    # lr 1e-2: at 3e-2 the loss oscillated on an AVX2-only CPU and a probe flipped to the other label at step 60
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(80):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model_dir(processor, tmp_path_factory):
    return save_love_hate_model(processor, tmp_path_factory.mktemp("unimse"))


@pytest.fixture(scope="module")
def pipe(model_dir):
    return pipeline("multimodal-sentiment", model=str(model_dir))


def frames(count: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def direct_generation(pipe, text: str, **processor_kwargs) -> str:
    """The universal label that model.generate gives on the processor's output, without the pipeline."""
    inputs = pipe.processor(text, **processor_kwargs)
    with torch.no_grad():
        return pipe.processor.decode(pipe.model.generate(**inputs, max_new_tokens=32)[0])


def test_a_string_gives_the_parsed_universal_label(pipe):
    out = pipe("I love you")
    assert out == {"polarity": "positive", "score": 1.5, "emotion": "joy", "iemocap_emotion": "excited",
                   "generated": LOVE, "valid": True}  # fmt: skip
    assert pipe("I hate that")["generated"] == HATE
    assert isinstance(pipe(["I love you"]), list)


def test_dict_with_context_speaker_and_features_equals_direct_generation(pipe):
    acoustic, visual = frames(7, ACOUSTIC_DIM), frames(3, VISUAL_DIM, seed=1)
    item = {"text": "I hate it", "speaker": "Joey", "context_before": ["one", {"text": "two", "speaker": "Ross"}],
            "context_after": ["three"], "acoustic": acoustic, "visual": visual}  # fmt: skip
    out = pipe(item)
    assert set(out) == FIELDS
    expected = direct_generation(
        pipe, "I hate it", speaker="Joey", context_before=["one", "two"], speakers_before=["", "Ross"],
        context_after=["three"], acoustic=acoustic, visual=visual,
    )  # fmt: skip
    assert out["generated"] == expected
    # the features reach the model: a text-only input is not the same call
    model_inputs = pipe.preprocess(pipe.normalize_input(item)[0])
    assert model_inputs["acoustic_features"].shape == (1, 7, ACOUSTIC_DIM)
    assert model_inputs["visual_mask"].tolist() == [[1, 1, 1]]


def test_features_change_the_prediction_scores(pipe):
    """Trained on text only, the model's fusion is still the identity; moved off it, frames change the scores."""
    model = copy.deepcopy(pipe.model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".fusion." in name:
                parameter.add_(0.5 * torch.randn(parameter.shape, generator=generator))
    moved = pipeline("multimodal-sentiment", model=model, processor=pipe.processor, return_probabilities=True)
    text_only = moved("I hate it")["probabilities"]
    assert moved({"text": "I hate it", "acoustic": 5 * frames(9, ACOUSTIC_DIM)})["probabilities"] != text_only


def test_a_pipeline_with_bf16_weights_gives_the_float32_labels(pipe, model_dir):
    """``dtype=torch.bfloat16`` (the recommended CPU inference setting where bf16 is native, docs/performance.md):
    float32 features go in as they are, and the labels are the float32 model's."""
    half = pipeline("multimodal-sentiment", model=str(model_dir), dtype=torch.bfloat16, return_probabilities=True)
    assert {parameter.dtype for parameter in half.model.parameters()} == {torch.bfloat16}
    items = ["I love you", "I hate that", {"text": "I hate it", "acoustic": frames(7, ACOUSTIC_DIM),
                                           "visual": frames(3, VISUAL_DIM, seed=1)}]  # fmt: skip
    for item, ours, theirs in zip(items, half(items), pipe(items, return_probabilities=True), strict=True):
        assert ours["generated"] == theirs["generated"], item
        for field, probability in ours["probabilities"].items():
            assert probability == pytest.approx(theirs["probabilities"][field], abs=0.05), (item, field)


def test_dialogue_gives_one_prediction_per_utterance_with_its_context(pipe):
    texts = ["I love it", "I hate it", "love love", "hate hate", "we love this so much"]
    dialogue = {"dialogue": [{"speaker": f"S{i % 2}", "text": text} for i, text in enumerate(texts)]}
    out = pipe(dialogue)
    assert isinstance(out, list) and len(out) == 5
    assert all(set(prediction) == FIELDS for prediction in out)
    records = pipe.normalize_input(dialogue)
    assert records[2]["context_before"] == ["I love it", "I hate it"]
    assert records[2]["context_after"] == ["hate hate", "we love this so much"]
    third = pipe.processor.decode(pipe.preprocess(records[2])["input_ids"][0])
    past = pipe.processor.decode(pipe.preprocess(records[2], context_mode="past")["input_ids"][0])
    assert "hate hate" in third and "S1 I hate it" in third
    assert "hate hate" not in past and "S1 I hate it" in past
    expected = direct_generation(pipe, "love love", speaker="S0", context_before=["I love it", "I hate it"],
                                 speakers_before=["S0", "S1"], context_after=["hate hate", "we love this so much"],
                                 speakers_after=["S1", "S0"])  # fmt: skip
    assert out[2]["generated"] == expected
    assert len(pipe(dialogue, context_mode="past")) == 5


def test_a_batch_equals_one_at_a_time(pipe):
    inputs = [
        "I love it",
        {"text": "I hate it", "acoustic": frames(5, ACOUSTIC_DIM)},
        {"dialogue": [{"text": "hate hate", "visual": frames(4, VISUAL_DIM)}, {"text": "love love"}]},
        {"text": "we love this", "acoustic": frames(2, ACOUSTIC_DIM, 3), "visual": frames(6, VISUAL_DIM, 4)},
        {"text": "hello", "context_before": ["I love it"]},
    ]
    one_at_a_time = [pipe(item, return_probabilities=True) for item in inputs]
    for batch_size in (2, 8):
        assert _close(pipe(inputs, batch_size=batch_size, return_probabilities=True), one_at_a_time)
    assert pipe([]) == []


def _close(a, b) -> bool:
    """Same labels; probabilities equal up to float noise of padded batches."""
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    same = {key: a[key] for key in FIELDS} == {key: b[key] for key in FIELDS}
    return same and all(
        (a["probabilities"][k] is None) == (b["probabilities"][k] is None)
        and (a["probabilities"][k] is None or abs(a["probabilities"][k] - b["probabilities"][k]) < 1e-4)
        for k in a["probabilities"]
    )


def test_probabilities_per_field(pipe):
    out = pipe("I love you", return_probabilities=True)
    probabilities = out["probabilities"]
    assert list(probabilities) == ["polarity", "score", "emotion", "iemocap_emotion"]
    assert all(0.0 < p <= 1.0 for p in probabilities.values()), probabilities
    beams = pipe("I love you", return_probabilities=True, num_beams=3)["probabilities"]
    assert all(0.0 < p <= 1.0 for p in beams.values()), beams


def test_generation_kwargs_pass_through(pipe):
    assert pipe("I love you", max_new_tokens=2)["generated"] == "positive,"
    assert pipe("I love you", generate_kwargs={"max_new_tokens": 2})["generated"] == "positive,"
    short = pipeline("multimodal-sentiment", model=pipe.model, processor=pipe.processor, max_new_tokens=2)
    assert short("I love you")["valid"] is False
    assert pipe("I love you", num_beams=2)["generated"] == LOVE


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ({"speaker": "Joey"}, ValueError, r"inputs\['text'\] is missing"),
        ({"text": "   "}, ValueError, r"inputs\['text'\] is empty"),
        ({"text": 3}, TypeError, r"inputs\['text'\] must be a non-empty str"),
        (42, TypeError, "inputs must be a str, a dict with 'text'"),
        ({"txt": "hi"}, ValueError, r"unknown keys \['txt'\]"),
        ({"text": "hi", "acoustic": np.zeros((4, ACOUSTIC_DIM + 1))}, ValueError,
         rf"inputs\['acoustic'\] must be a \(frames, {ACOUSTIC_DIM}\) array .* got shape \(4, {ACOUSTIC_DIM + 1}\)"),
        ({"text": "hi", "visual": np.zeros(VISUAL_DIM)}, ValueError, r"inputs\['visual'\] must be a \(frames,"),
        ({"text": "hi", "visual": np.zeros((2, 3, VISUAL_DIM))}, ValueError, r"got shape \(2, 3, "),
        ({"text": "hi", "acoustic": np.full((2, ACOUSTIC_DIM), np.nan)}, ValueError, r"holds \d+ NaN/inf values"),
        ({"text": "hi", "acoustic": "frames.npy"}, TypeError, r"inputs\['acoustic'\] must be a \(frames"),
        ({"text": "hi", "context_before": "one"}, TypeError, r"context_before'\] must be a list of utterances"),
        ({"dialogue": []}, ValueError, r"inputs\['dialogue'\] must be a non-empty list"),
        ({"dialogue": ["hi"]}, TypeError, r"inputs\['dialogue'\]\[0\] must be a dict"),
        ({"dialogue": [{"text": "a"}, {"speaker": "B"}]}, ValueError, r"\['dialogue'\]\[1\]\['text'\] is missing"),
        ({"dialogue": [{"text": "a"}], "text": "b"}, ValueError, "takes the key 'dialogue' only"),
    ],
)  # fmt: skip
def test_bad_inputs_get_clear_errors(pipe, bad, error, match):
    with pytest.raises(error, match=match):
        pipe(bad)


def test_bad_inputs_in_a_list_are_named_by_position(pipe):
    with pytest.raises(ValueError, match=r"inputs\[1\]\['text'\] is empty"):
        pipe(["fine", {"text": ""}])
    with pytest.raises(TypeError, match="inputs must be"):
        pipe(x for x in ["a"])


def test_bad_parameters_get_clear_errors(pipe, processor):
    with pytest.raises(ValueError, match="context_mode must be 'bidirectional' or 'past', got 'future'"):
        pipe("hi", context_mode="future")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['max_tokens'\]"):
        pipe("hi", max_tokens=3)
    past = UniMSEProcessor(processor.tokenizer, processor.feature_extractor, context_mode="past")
    with pytest.raises(ValueError, match="processor builds past-only contexts"):
        pipeline("multimodal-sentiment", model=pipe.model, processor=past, context_mode="bidirectional")
    with pytest.raises(ValueError, match="needs a UniMSEProcessor"):
        MultimodalSentimentPipeline(model=pipe.model, processor=None)


def test_auto_classes_load_the_saved_folder(model_dir):
    """AutoModel gives the generation model (docs/architecture.md), like AutoModelForSeq2SeqLM."""
    config = json.loads((model_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == config["auto_map"]["AutoModelForSeq2SeqLM"]
    assert config["custom_pipelines"]["multimodal-sentiment"]["impl"] == "pipeline_unimse.MultimodalSentimentPipeline"
    assert (model_dir / "pipeline_unimse.py").is_file() and (model_dir / "labels.py").is_file()
    for auto_class in (AutoModel, AutoModelForSeq2SeqLM):
        assert type(auto_class.from_pretrained(model_dir)) is UniMSEForConditionalGeneration
    assert type(AutoProcessor.from_pretrained(model_dir)) is UniMSEProcessor
    # loaded with the package in use, the folder's custom_pipelines entry is not kept: pipeline() then takes the
    # registered class without trust_remote_code
    assert not hasattr(AutoModel.from_pretrained(model_dir).config, "custom_pipelines")


def remote_code_model(model_dir):
    """The model as trust_remote_code=True loads it where unimse_hf is not installed: the folder's copy of the class."""
    return get_class_from_dynamic_module("modeling_unimse.UniMSEForConditionalGeneration", model_dir).from_pretrained(
        model_dir
    )


def test_pipeline_takes_a_model_loaded_as_remote_code(pipe, model_dir):
    remote = remote_code_model(model_dir)
    assert type(remote).__module__.startswith("transformers_modules")
    classifier = pipeline("multimodal-sentiment", model=remote, processor=AutoProcessor.from_pretrained(model_dir))
    assert type(classifier) is MultimodalSentimentPipeline
    item = {"text": "I love it", "acoustic": frames(3, ACOUSTIC_DIM)}
    assert classifier(item) == pipe(item)


def test_pipeline_from_the_folder_in_a_process_without_unimse_hf(model_dir, tmp_path):
    acoustic = frames(4, ACOUSTIC_DIM)
    np.save(tmp_path / "acoustic.npy", acoustic)
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["unimse_hf"] = None  # any import of the package now fails
        import numpy as np
        from transformers import AutoModel, AutoModelForSeq2SeqLM, AutoProcessor, pipeline
        folder = {str(model_dir)!r}
        for auto_class in (AutoModel, AutoModelForSeq2SeqLM, AutoProcessor):
            loaded = auto_class.from_pretrained(folder, trust_remote_code=True)
            assert type(loaded).__module__.startswith("transformers_modules"), type(loaded).__module__
        classifier = pipeline("multimodal-sentiment", model=folder, trust_remote_code=True)
        assert type(classifier).__module__.startswith("transformers_modules"), type(classifier).__module__
        acoustic = np.load({str(tmp_path / "acoustic.npy")!r})
        out = [classifier("I love you"), classifier({{"text": "I hate it", "acoustic": acoustic}}),
               classifier({{"dialogue": [{{"text": "love love"}}, {{"text": "hate hate"}}]}})]
        print("OUT" + json.dumps(out))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.split("OUT", 1)[1])
    local = pipeline("multimodal-sentiment", model=str(model_dir))
    expected = [local("I love you"), local({"text": "I hate it", "acoustic": acoustic}),
                local({"dialogue": [{"text": "love love"}, {"text": "hate hate"}]})]  # fmt: skip
    assert remote == expected


def test_a_model_loaded_as_remote_code_saves_a_folder_without_the_pipeline(model_dir, tmp_path):
    remote = remote_code_model(model_dir)
    remote.save_pretrained(tmp_path)
    assert "custom_pipelines" not in json.loads((tmp_path / "config.json").read_text())


def test_the_trainer_output_folder_serves_the_pipeline(processor, tmp_path):
    from test_trainer import synthetic_rows, training_args

    from unimse_hf import UniMSETrainer

    model = tiny_model(processor).eval()
    trainer = UniMSETrainer(model=model, args=training_args(tmp_path), train_dataset=synthetic_rows(8, 0, "train"),
                            processing_class=processor)  # fmt: skip
    trainer.save_model()
    assert (tmp_path / "pipeline_unimse.py").is_file()
    item = {"text": "so sad", "visual": frames(3, VISUAL_DIM)}
    direct = pipeline("multimodal-sentiment", model=model, processor=processor)
    assert pipeline("multimodal-sentiment", model=tmp_path)(item) == direct(item)
