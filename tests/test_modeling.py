"""UniMSEConfig and UniMSEForConditionalGeneration: fusion, missing modalities, validation, generate, GC, Hub I/O."""

import json
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import TINY_T5, tiny_unimse_config
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, T5Config, T5ForConditionalGeneration

from unimse_hf import UniMSEConfig, UniMSEForConditionalGeneration


def make_inputs(config, batch=3, length=7, frames=(5, 3, 4), seed=0):
    """Text with a padded last row; acoustic/visual frames of varying true lengths (right padding)."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(2, config.vocab_size, (batch, length), generator=g)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    attention_mask[-1, length - 2 :] = 0
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    for name, dim in (("acoustic", config.acoustic_dim), ("visual", config.visual_dim)):
        t_max = max(frames)
        features = torch.randn(batch, t_max, dim, generator=g)
        mask = (torch.arange(t_max)[None, :] < torch.tensor(frames[:batch])[:, None]).long()
        inputs[f"{name}_features"] = features * mask[..., None]
        inputs[f"{name}_mask"] = mask
    return inputs


def labels_for(config, batch=3, length=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(2, config.vocab_size, (batch, length), generator=g)
    labels[0, -1] = -100
    return labels


def enable_checkpointing(model, **checkpoint_kwargs):
    """``activation_checkpointing_enable`` (transformers >= 5.18), else its older name (deprecated from 5.18 on)."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=checkpoint_kwargs or None)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpoint_kwargs or None)


def random_model(**overrides):
    torch.manual_seed(0)
    return UniMSEForConditionalGeneration(tiny_unimse_config(fusion_init="random", **overrides)).eval()


# --- configuration -------------------------------------------------------------------------------------------


def test_config_defaults_follow_the_paper():
    config = UniMSEConfig(num_layers=12)
    assert (config.acoustic_dim, config.visual_dim, config.modality_hidden_size) == (64, 64, 32)
    assert config.fusion_layers == [9, 10, 11]
    assert (config.fusion_bottleneck, config.contrastive_dim, config.fusion_in_decoder) == (64, 30, False)
    assert config.fusion_init == "identity"
    assert config.decoder_start_token_id == 0
    assert UniMSEConfig(num_layers=2).fusion_layers == [0, 1]
    assert UniMSEConfig(num_layers=4, fusion_layers=[3, 1]).fusion_layers == [1, 3]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(fusion_layers=[6]), r"fusion_layers must index encoder blocks 0..5 .* got \[6\]"),
        (dict(fusion_layers=[-1]), r"fusion_layers must index encoder blocks"),
        (dict(fusion_layers=[4, 4]), r"fusion_layers must not repeat"),
        (dict(fusion_in_decoder=True, num_decoder_layers=2, fusion_layers=[4]), r"must index decoder blocks 0..1"),
        (dict(acoustic_dim=0), r"acoustic_dim must be a positive integer, got 0"),
        (dict(modality_dropout=1.5), r"modality_dropout must be in \[0, 1\), got 1.5"),
        (dict(fusion_init="zeros"), r"fusion_init must be one of \('identity', 'random'\), got 'zeros'"),
    ],
)
def test_config_rejects_impossible_values(kwargs, message):
    with pytest.raises(StrictDataclassClassValidationError) as error:
        UniMSEConfig(num_layers=6, **kwargs)
    assert isinstance(error.value.__cause__, ValueError)
    assert re.search(message, str(error.value.__cause__)), str(error.value.__cause__)


@pytest.mark.parametrize("kwargs", [dict(acoustic_dim="64"), dict(fusion_layers=["9"]), dict(fusion_in_decoder=1)])
def test_config_rejects_wrong_types(kwargs):
    with pytest.raises(StrictDataclassFieldValidationError, match=next(iter(kwargs))):
        UniMSEConfig(**kwargs)


def test_config_round_trip(tmp_path):
    config = tiny_unimse_config(fusion_layers=[0, 2], fusion_in_decoder=True)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, UniMSEConfig)
    assert {**loaded.to_dict(), "_name_or_path": ""} == config.to_dict()


# --- warm start and identity initialisation --------------------------------------------------------------------


@pytest.fixture
def saved_t5(tmp_path):
    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(T5Config(**TINY_T5)).eval()
    t5.save_pretrained(tmp_path / "t5")
    return t5, tmp_path / "t5"


@pytest.mark.parametrize("fusion_in_decoder", [False, True])
def test_identity_warm_start_reproduces_t5(saved_t5, fusion_in_decoder):
    t5, path = saved_t5
    model, info = UniMSEForConditionalGeneration.from_pretrained(
        path,
        acoustic_dim=6,
        visual_dim=5,
        modality_hidden_size=8,
        fusion_in_decoder=fusion_in_decoder,
        attn_implementation=t5.config._attn_implementation,  # the same attention kernel: equal to 1e-6
        output_loading_info=True,
    )
    model.eval()
    new = {
        "fusion",
        "acoustic_encoder",
        "visual_encoder",
        "text_projection",
        "acoustic_projection",
        "visual_projection",
    }
    assert info["missing_keys"] and all(any(part in key for part in new) for key in info["missing_keys"])
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    t5_state = t5.state_dict()
    for key, value in model.state_dict().items():
        if key in t5_state:
            assert torch.equal(value, t5_state[key]), key
    assert any("decoder.block.2.fusion" in key for key in info["missing_keys"]) == fusion_in_decoder

    inputs = make_inputs(model.config)
    labels = labels_for(model.config)
    with torch.no_grad():
        expected = t5(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels).logits
        text_only = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels)
        multimodal = model(**inputs, labels=labels)
    torch.testing.assert_close(text_only.logits, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(multimodal.logits, expected, rtol=0, atol=1e-6)


def test_random_fusion_init_uses_the_modalities():
    model = random_model()
    inputs = make_inputs(model.config)
    with torch.no_grad():
        with_av = model(**inputs, labels=labels_for(model.config)).logits
        text_only = model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels_for(model.config)
        ).logits
    assert not torch.allclose(with_av, text_only, atol=1e-4)


# --- modality inputs --------------------------------------------------------------------------------------------


def test_padding_frames_do_not_change_the_result():
    model = random_model()
    inputs = make_inputs(model.config)
    padded = dict(inputs)
    for name in ("acoustic", "visual"):
        features, mask = inputs[f"{name}_features"], inputs[f"{name}_mask"]
        padded[f"{name}_features"] = torch.cat([features, torch.randn(*features.shape[:1], 4, features.shape[2])], 1)
        padded[f"{name}_mask"] = torch.cat([mask, torch.zeros(mask.shape[0], 4, dtype=mask.dtype)], 1)
    labels = labels_for(model.config)
    with torch.no_grad():
        a, b = model(**inputs, labels=labels), model(**padded, labels=labels)
    for field in ("logits", "text_embeds", "acoustic_embeds", "visual_embeds"):
        torch.testing.assert_close(getattr(a, field), getattr(b, field), rtol=1e-5, atol=1e-6)


def test_missing_modality_for_some_samples_equals_running_them_without_it():
    model = random_model()
    inputs = make_inputs(model.config, frames=(5, 0, 4))  # sample 1 has no acoustic/visual frames
    labels = labels_for(model.config)
    with torch.no_grad():
        batch_out = model(**inputs, labels=labels)
        alone = model(
            input_ids=inputs["input_ids"][1:2], attention_mask=inputs["attention_mask"][1:2], labels=labels[1:2]
        )
    torch.testing.assert_close(batch_out.logits[1:2], alone.logits, rtol=1e-5, atol=1e-6)
    assert batch_out.acoustic_present.tolist() == [True, False, True]
    assert batch_out.visual_present.tolist() == [True, False, True]
    assert torch.count_nonzero(batch_out.acoustic_embeds[1]) == 0


def test_absent_modality_for_the_whole_batch():
    model = random_model()
    inputs = make_inputs(model.config)
    no_audio = {k: v for k, v in inputs.items() if not k.startswith("acoustic")}
    zero_mask = dict(inputs, acoustic_mask=torch.zeros_like(inputs["acoustic_mask"]))
    with torch.no_grad():
        a, b = model(**no_audio, labels=labels_for(model.config)), model(**zero_mask, labels=labels_for(model.config))
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-5, atol=1e-6)
    assert not a.acoustic_present.any() and a.visual_present.all()


def test_mask_may_be_omitted_when_every_frame_is_valid():
    model = random_model()
    inputs = make_inputs(model.config, frames=(5, 5, 5))
    without_masks = {k: v for k, v in inputs.items() if not k.endswith("_mask") or k == "attention_mask"}
    with torch.no_grad():
        a, b = model(**inputs, labels=labels_for(model.config)), model(**without_masks, labels=labels_for(model.config))
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=0)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda x: x.update(acoustic_features=torch.zeros(3, 5, 4)),
            "acoustic_features has 4 features per frame, config.acoustic_dim is 6",
        ),
        (
            lambda x: x.update(visual_features=x["visual_features"][:2], visual_mask=x["visual_mask"][:2]),
            "visual_features has batch size 2, the text inputs have batch size 3",
        ),
        (
            lambda x: x["acoustic_features"].__setitem__((0, 0, 0), float("nan")),
            "acoustic_features contains 1 non-finite values",
        ),
        (
            lambda x: x["visual_features"].__setitem__((1, 1, 1), float("-inf")),
            "visual_features contains 1 non-finite values",
        ),
        (
            lambda x: x.update(acoustic_mask=x["acoustic_mask"][:, :3]),
            r"acoustic_mask must have shape \(3, 5\) \(batch, frames\) to match acoustic_features, got \(3, 3\)",
        ),
        (
            lambda x: x.update(visual_mask=x["visual_mask"].flip(1)),
            "visual_mask must hold 1 for the valid frames followed by 0 for padding",
        ),
        (
            lambda x: x.update(acoustic_features=torch.zeros(3, 6)),
            r"acoustic_features must have shape \(batch, frames, 6\), got \(3, 6\)",
        ),
        (lambda x: x.update(visual_features=None), "visual_mask marks valid frames but visual_features is None"),
    ],
)
def test_bad_modality_inputs_raise_clear_errors(change, message):
    model = random_model()
    inputs = make_inputs(model.config)
    change(inputs)
    with pytest.raises(ValueError, match=message):
        model(**inputs, labels=labels_for(model.config))
    with pytest.raises(ValueError, match=message):
        model.generate(**inputs, max_new_tokens=2)


# --- generation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fusion_in_decoder", [False, True])
def test_generate_receives_the_modalities(fusion_in_decoder):
    model = random_model(fusion_in_decoder=fusion_in_decoder)
    inputs = make_inputs(model.config)
    out = model.generate(**inputs, max_new_tokens=1, do_sample=False, output_logits=True, return_dict_in_generate=True)
    start = torch.zeros(3, 1, dtype=torch.long)
    with torch.no_grad():
        expected = model(**inputs, decoder_input_ids=start).logits[:, -1]
        text_only = model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], decoder_input_ids=start
        ).logits[:, -1]
    torch.testing.assert_close(out.logits[0], expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out.logits[0], text_only, atol=1e-4)


@pytest.mark.parametrize("fusion_in_decoder", [False, True])
def test_beam_search_batch_equals_one_sample_at_a_time(fusion_in_decoder):
    model = random_model(fusion_in_decoder=fusion_in_decoder)
    inputs = make_inputs(model.config, frames=(5, 0, 4))
    batched = model.generate(**inputs, num_beams=3, max_new_tokens=6, min_new_tokens=6)
    for i in range(3):
        single = {k: v[i : i + 1] for k, v in inputs.items()}
        if i == 2:  # the text of the last sample is padded: drop its padding for the single run
            single = {k: (v[:, :5] if k in ("input_ids", "attention_mask") else v) for k, v in single.items()}
        alone = model.generate(**single, num_beams=3, max_new_tokens=6, min_new_tokens=6)
        assert batched[i].tolist() == alone[0].tolist()


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generation_with_the_kv_cache_equals_recomputing_without_it(num_beams):
    """The decoder must receive the cache under the installed name: a cache dropped on the way (transformers
    5.17-5.23 ignore an unknown ``cache`` keyword) makes the cached run decode from the last token alone."""
    model = random_model(fusion_in_decoder=True)
    inputs = make_inputs(model.config)
    kwargs = dict(
        num_beams=num_beams, max_new_tokens=6, min_new_tokens=6, output_scores=True, return_dict_in_generate=True
    )
    cached = model.generate(**inputs, use_cache=True, **kwargs)
    recomputed = model.generate(**inputs, use_cache=False, **kwargs)
    assert cached.sequences.tolist() == recomputed.sequences.tolist()
    for step_cached, step_recomputed in zip(cached.scores, recomputed.scores, strict=True):
        torch.testing.assert_close(step_cached, step_recomputed, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["cache", "past_key_values"])
def test_forward_takes_the_kv_cache_under_either_name(name):
    """One decoding step on a cache returned by forward equals the last position of a full forward."""
    from unimse_hf.modeling_unimse import OUTPUT_CACHE_FIELD

    model = random_model(fusion_in_decoder=True)
    inputs = make_inputs(model.config)
    decoder_ids = torch.tensor([[0, 5, 9]] * 3)
    with torch.no_grad():
        full = model(**inputs, decoder_input_ids=decoder_ids).logits[:, -1]
        first = model(**inputs, decoder_input_ids=decoder_ids[:, :2], use_cache=True)
        cache = getattr(first, OUTPUT_CACHE_FIELD)
        assert cache is not None
        encoder_outputs = model.encoder(**inputs)
        step = model(
            encoder_outputs=encoder_outputs,
            attention_mask=inputs["attention_mask"],
            decoder_input_ids=decoder_ids[:, 2:],
            use_cache=True,
            **{name: cache},
        ).logits[:, -1]
    torch.testing.assert_close(step, full, rtol=1e-5, atol=1e-5)


def test_forward_refuses_the_cache_under_both_names():
    model = random_model()
    inputs = make_inputs(model.config)
    with pytest.raises(ValueError, match="as cache or as past_key_values, not both"):
        model(**inputs, decoder_input_ids=torch.zeros(3, 1, dtype=torch.long), cache=object(), past_key_values=object())


def test_generation_emits_no_deprecation_warning():
    """Our code passes the KV cache under the installed name (no FutureWarning or deprecation log line)."""
    import logging
    import warnings

    model = random_model(fusion_in_decoder=True)
    inputs = make_inputs(model.config)
    if hasattr(logging.Logger.warning_once, "cache_clear"):  # transformers logs each deprecation once per process
        logging.Logger.warning_once.cache_clear()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    transformers_logger = logging.getLogger("transformers")
    transformers_logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.generate(**inputs, num_beams=2, max_new_tokens=3)
            model(**inputs, decoder_input_ids=torch.zeros(3, 2, dtype=torch.long), use_cache=True)
    finally:
        transformers_logger.removeHandler(handler)
    deprecations = [str(w.message) for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    deprecations += [r.getMessage() for r in records if "deprecat" in r.getMessage().lower()]
    assert deprecations == []


def test_modalities_without_text_raise_a_clear_error():
    model = random_model()
    inputs = make_inputs(model.config)
    del inputs["input_ids"]
    with pytest.raises(ValueError, match="pass exactly one of input_ids and inputs_embeds"):
        model(**inputs, labels=labels_for(model.config))


def test_forward_rejects_misspelled_modality_kwargs():
    model = random_model()
    inputs = make_inputs(model.config)
    inputs["visual_feats"] = inputs.pop("visual_features")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['visual_feats'\]"):
        model(**inputs, labels=labels_for(model.config))


def test_generate_rejects_misspelled_modality_kwargs():
    model = random_model()
    inputs = make_inputs(model.config)
    inputs["acoustic_feats"] = inputs.pop("acoustic_features")
    with pytest.raises(ValueError, match="acoustic_feats"):
        model.generate(**inputs, max_new_tokens=2)


# --- training paths ------------------------------------------------------------------------------------------


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    torch.manual_seed(0)
    model = UniMSEForConditionalGeneration(tiny_unimse_config(fusion_init="random", fusion_in_decoder=True))
    model.train()
    inputs, labels = make_inputs(model.config), labels_for(model.config)

    def loss_and_grads():
        model.zero_grad()
        out = model(**inputs, labels=labels)
        (out.loss + out.text_embeds.sum() + out.acoustic_embeds.sum()).backward()
        return out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    loss_off, grads_off = loss_and_grads()
    enable_checkpointing(model)
    assert all(block.gradient_checkpointing for block in model.encoder.block)
    loss_on, grads_on = loss_and_grads()
    torch.testing.assert_close(loss_on, loss_off, rtol=0, atol=0)
    assert grads_on.keys() == grads_off.keys()
    assert any("encoder.acoustic_encoder.lstm" in name for name in grads_on)
    assert any("encoder.block.2.fusion" in name for name in grads_on)
    for name in grads_off:
        torch.testing.assert_close(grads_on[name], grads_off[name], rtol=1e-5, atol=1e-6, msg=name)


def test_loss_is_normalised_by_num_items_in_batch_for_gradient_accumulation():
    model = random_model()
    inputs, labels = make_inputs(model.config), labels_for(model.config)
    tokens = int((labels != -100).sum())
    with torch.no_grad():
        mean = model(**inputs, labels=labels).loss
        same = model(**inputs, labels=labels, num_items_in_batch=torch.tensor(tokens)).loss
        halves = [
            model(**{k: v[rows] for k, v in inputs.items()}, labels=labels[rows], num_items_in_batch=tokens).loss
            for rows in (slice(0, 2), slice(2, 3))
        ]
    torch.testing.assert_close(same, mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(halves[0] + halves[1], mean, rtol=1e-5, atol=1e-6)  # accumulation == one big batch


def test_reentrant_checkpointing_is_refused_with_a_clear_error():
    model = random_model()
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.18
        with pytest.raises(ValueError, match="use_reentrant must be False for UniMSE gradient checkpointing"):
            model.activation_checkpointing_enable({"use_reentrant": True})
    with pytest.raises(ValueError, match="use_reentrant must be False for UniMSE gradient checkpointing"):
        enable_checkpointing(model, use_reentrant=True)
    assert not any(block.gradient_checkpointing for block in model.encoder.block)


def test_bfloat16_forward():
    model = random_model().to(torch.bfloat16)
    out = model(**make_inputs(model.config), labels=labels_for(model.config))
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)


def test_eager_attention_matches_sdpa():
    """The two kernels give the same logits, gradients (train mode, no dropout) and generated tokens."""
    results = {}
    for kernel in ("sdpa", "eager"):
        torch.manual_seed(0)  # the same weights for both (set_attn_implementation misses T5's stacks before 5.18)
        config = tiny_unimse_config(fusion_init="random", dropout_rate=0.0)
        config._attn_implementation = kernel
        model = UniMSEForConditionalGeneration(config)
        inputs, labels = make_inputs(model.config), labels_for(model.config)
        assert model.encoder.block[0].layer[0].SelfAttention.config._attn_implementation == kernel
        model.train().zero_grad(set_to_none=True)
        output = model(**inputs, labels=labels)
        output.loss.backward()
        gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        with torch.no_grad():
            generated = model.eval().generate(**inputs, max_new_tokens=6, min_new_tokens=6, num_beams=2)
        results[kernel] = output.logits.detach(), gradients, generated
    (sdpa_logits, sdpa_gradients, sdpa_tokens), (eager_logits, eager_gradients, eager_tokens) = results.values()
    torch.testing.assert_close(sdpa_logits, eager_logits, rtol=1e-4, atol=1e-5)
    assert sdpa_gradients.keys() == eager_gradients.keys() and len(sdpa_gradients) > 50
    for name, gradient in sdpa_gradients.items():
        torch.testing.assert_close(gradient, eager_gradients[name], rtol=1e-4, atol=1e-5, msg=name)
    assert torch.equal(sdpa_tokens, eager_tokens)


@pytest.mark.parametrize("accelerator", [False, True])
def test_attention_defaults_to_eager_only_without_an_accelerator(monkeypatch, tmp_path, accelerator):
    """No kernel requested: eager on a CPU-only machine (faster there, docs/performance.md), transformers' sdpa
    where an accelerator exists; a requested kernel is kept either way, at init and in from_pretrained."""
    import unimse_hf.modeling_unimse as modeling

    monkeypatch.setattr(modeling, "accelerator_available", lambda: accelerator)
    default = "sdpa" if accelerator else "eager"
    model = random_model()
    assert model.config._attn_implementation == default
    assert model.decoder.block[0].layer[1].EncDecAttention.config._attn_implementation == default
    model.save_pretrained(tmp_path)
    assert "_attn_implementation" not in json.loads((tmp_path / "config.json").read_text())
    assert UniMSEForConditionalGeneration.from_pretrained(tmp_path).config._attn_implementation == default
    for kernel in ("sdpa", "eager"):
        loaded = UniMSEForConditionalGeneration.from_pretrained(tmp_path, attn_implementation=kernel)
        assert loaded.encoder.block[-1].layer[0].SelfAttention.config._attn_implementation == kernel
        config = tiny_unimse_config()
        config._attn_implementation = kernel
        assert UniMSEForConditionalGeneration(config).config._attn_implementation == kernel


# --- saving, loading, Auto classes, remote code -----------------------------------------------------------------


def test_save_and_load_round_trip_with_auto_classes(tmp_path):
    model = random_model(fusion_in_decoder=True)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert {"configuration_unimse.py", "modeling_unimse.py"} <= {p.name for p in tmp_path.iterdir()}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "unimse"
    assert config["auto_map"] == {
        "AutoConfig": "configuration_unimse.UniMSEConfig",
        "AutoModel": "modeling_unimse.UniMSEForConditionalGeneration",
        "AutoModelForSeq2SeqLM": "modeling_unimse.UniMSEForConditionalGeneration",
    }
    inputs, labels = make_inputs(model.config), labels_for(model.config)
    with torch.no_grad():
        expected = model(**inputs, labels=labels).logits
    for auto_class in (AutoModel, AutoModelForSeq2SeqLM, UniMSEForConditionalGeneration):
        loaded = auto_class.from_pretrained(tmp_path).eval()
        assert type(loaded) is UniMSEForConditionalGeneration
        for key, value in model.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key]), key
        with torch.no_grad():
            torch.testing.assert_close(loaded(**inputs, labels=labels).logits, expected, rtol=1e-5, atol=1e-5)


def test_remote_code_loads_in_a_process_without_unimse_hf(tmp_path):
    model = random_model()
    model.save_pretrained(tmp_path / "model")
    inputs = make_inputs(model.config)
    torch.save(inputs, tmp_path / "inputs.pt")
    with torch.no_grad():
        expected = model(**inputs, decoder_input_ids=torch.zeros(3, 1, dtype=torch.long)).logits
    torch.save(expected, tmp_path / "expected.pt")
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["unimse_hf"] = None  # any import of the package now fails
        import torch
        from transformers import AutoModelForSeq2SeqLM
        try:
            import unimse_hf
        except ImportError:
            pass
        else:
            raise SystemExit("unimse_hf is importable")
        model = AutoModelForSeq2SeqLM.from_pretrained({str(tmp_path / "model")!r}, trust_remote_code=True).eval()
        assert not type(model).__module__.startswith("unimse_hf"), type(model).__module__
        inputs = torch.load({str(tmp_path / "inputs.pt")!r})
        with torch.no_grad():
            logits = model(**inputs, decoder_input_ids=torch.zeros(3, 1, dtype=torch.long)).logits
        torch.testing.assert_close(logits, torch.load({str(tmp_path / "expected.pt")!r}), rtol=1e-5, atol=1e-5)
        out = model.generate(**inputs, num_beams=2, max_new_tokens=3)
        print("remote-ok", type(model).__module__, tuple(out.shape))
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
    assert "remote-ok transformers_modules" in result.stdout


def test_forward_without_any_target_raises_before_the_encoder_runs():
    model = random_model()
    inputs = make_inputs(model.config)
    with pytest.raises(ValueError, match="no target: pass labels"):
        model(**inputs)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_forward_on_large_activations_stays_finite(dtype):
    """PMF gets T5's fp16 clamp: with the adapter's up-projection scaled up until its output leaves the float16
    range (weights of 3e4, still finite), the forward gives finite logits; without the clamp the overflow meets
    weights of both signs in the output projection and turns into NaN. bfloat16 has float32's range."""
    model = random_model(fusion_in_decoder=True)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".fusion.up_project.weight" in name:
                parameter.fill_(3e4)
    model = model.to(dtype)
    inputs = {key: value.to(dtype) if value.is_floating_point() else value
              for key, value in make_inputs(model.config).items()}  # fmt: skip
    fusion = model.encoder.block[model.config.fusion_layers[0]].fusion
    overflowed = []
    fusion.up_project.register_forward_hook(lambda module, args, out: overflowed.append(bool(torch.isinf(out).any())))
    with torch.no_grad():
        logits = model(**inputs, labels=labels_for(model.config)).logits
    assert logits.dtype == dtype and bool(torch.isfinite(logits).all())
    assert overflowed[0] is (dtype == torch.float16)  # float16 did overflow inside PMF; bfloat16 did not
