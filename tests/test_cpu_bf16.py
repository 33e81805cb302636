"""The recommended CPU setting (``cpu_bf16``): when it turns bf16 autocast on, that bf16 keeps the model's outputs
and the loss curve of float32 within the stated tolerances, and that holding the frozen weights in bf16 changes no
product and saves float32."""

import pytest
import torch
from conftest import TINY_T5

from unimse_hf import UniMSEConfig, UniMSEForConditionalGeneration
from unimse_hf import training_args as training_args_module
from unimse_hf.frozen_bf16 import frozen_linear_weights_in_bf16
from unimse_hf.trainer import UniMSETrainer
from unimse_hf.training_args import UniMSETrainingArguments

#: bf16 vs float32, tiny config, 100 AdamW steps: every logged loss (mean of 10 steps) within 1% (measured: 0.12%)
LOSS_CURVE_RTOL = 0.01
#: bf16 autocast vs float32, one forward of the same weights: logits within 10% of their standard deviation (measured:
#: 3.4%), loss within 1%
LOGITS_TOL = 0.1
BATCH, TOKENS, FRAMES, TARGET = 8, 12, 10, 6


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on cores shared with other jobs, two threads of a tiny model wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(seed: int = 0) -> UniMSEForConditionalGeneration:
    torch.manual_seed(seed)
    config = UniMSEConfig(**TINY_T5, pad_token_id=0, eos_token_id=1, acoustic_dim=6, visual_dim=5,
                          modality_hidden_size=16, fusion_bottleneck=16, contrastive_dim=8, modality_dropout=0.0,
                          fusion_layers=[2], fusion_init="random")  # fmt: skip
    return UniMSEForConditionalGeneration(config)


def random_samples(n: int, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    """``n`` samples: ``input_ids`` `(TOKENS,)`, ``labels`` `(TARGET,)` whose first token is a function of the
    text (so there is something to learn), acoustic `(FRAMES, 6)` and visual `(FRAMES, 5)` features."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        input_ids = torch.randint(2, TINY_T5["vocab_size"], (TOKENS,), generator=g)
        labels = torch.randint(2, TINY_T5["vocab_size"], (TARGET,), generator=g)
        labels[0] = input_ids[0]
        samples.append({
            "input_ids": input_ids, "attention_mask": torch.ones(TOKENS, dtype=torch.long), "labels": labels,
            "acoustic_features": torch.randn(FRAMES, 6, generator=g),
            "visual_features": torch.randn(FRAMES, 5, generator=g),
        })  # fmt: skip
    return samples


def stack(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([sample[key] for sample in samples]) for key in samples[0]}


def arguments(tmp_path, **overrides) -> UniMSETrainingArguments:
    values = dict(output_dir=str(tmp_path), per_device_train_batch_size=BATCH, max_steps=100, logging_steps=10,
                  backbone_learning_rate=3e-3, fusion_learning_rate=3e-3, modality_learning_rate=3e-3,
                  trainable_backbone_blocks=["paper"], eval_strategy="no", save_strategy="no", report_to="none",
                  use_cpu=True, disable_tqdm=True, seed=0, optim="adamw_torch")  # fmt: skip
    return UniMSETrainingArguments(**{**values, **overrides})


@pytest.mark.parametrize(
    ("native", "accelerator", "use_cpu", "fp16", "expected"),
    [
        (True, False, False, False, True),  # a CPU-only machine with AMX / AVX512-BF16
        (True, True, True, False, True),  # a GPU machine told to train on its CPU
        (True, True, False, False, False),  # training on the GPU: untouched
        (False, False, False, False, False),  # emulated bf16 would be slower than float32
    ],
)
def test_cpu_bf16_turns_bf16_on_only_for_a_cpu_run_with_native_bf16(
    tmp_path, monkeypatch, native, accelerator, use_cpu, fp16, expected
):
    monkeypatch.setattr(training_args_module, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(training_args_module, "accelerator_available", lambda: accelerator)
    if accelerator and not use_cpu:  # construction would look for the GPU: only the decision is checked here
        monkeypatch.setattr(training_args_module.Seq2SeqTrainingArguments, "__post_init__", lambda self: None)
    args = UniMSETrainingArguments(output_dir=str(tmp_path), cpu_bf16=True, use_cpu=use_cpu, fp16=fp16)
    assert args.bf16 is expected
    assert UniMSETrainingArguments(output_dir=str(tmp_path), use_cpu=use_cpu or not accelerator).bf16 is False


def test_bf16_autocast_keeps_the_model_outputs():
    model = tiny_model().eval()
    batch = stack(random_samples(BATCH))
    head_dtypes = []
    model.lm_head.register_forward_hook(lambda module, inputs, output: head_dtypes.append(output.dtype))
    with torch.no_grad():
        reference = model(**batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(**batch)
            unlabelled = model(
                **{key: value for key, value in batch.items() if key != "labels"},
                decoder_input_ids=model._shift_right(batch["labels"]),
            )
    assert head_dtypes == [torch.float32, torch.bfloat16, torch.bfloat16]  # autocast ran the products in bf16
    # with labels, the float32 logits the loss reads come back (accelerate's mixed precision copies none again)
    assert mixed.logits.dtype == torch.float32 and unlabelled.logits.dtype == torch.bfloat16
    assert torch.equal(mixed.logits, unlabelled.logits.float())
    scale = reference.logits.std()
    assert (mixed.logits.float() - reference.logits).abs().max() <= LOGITS_TOL * scale
    assert mixed.loss.item() == pytest.approx(reference.loss.item(), rel=0.01)
    for name in ("text_embeds", "acoustic_embeds", "visual_embeds"):
        ours, theirs = getattr(mixed, name).float(), getattr(reference, name)
        assert (ours - theirs).abs().max() <= LOGITS_TOL * theirs.std(), name


def test_bf16_training_follows_the_float32_loss_curve_over_100_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(training_args_module, "cpu_has_native_bf16", lambda: True)  # the same on any CPU
    samples = random_samples(BATCH * 10)
    curves, linear_dtypes = {}, {}
    for name, cpu_bf16 in (("fp32", False), ("bf16", True)):
        model = tiny_model()
        args = arguments(tmp_path / name, cpu_bf16=cpu_bf16)
        assert args.bf16 is cpu_bf16
        dtypes = linear_dtypes[name] = set()
        model.lm_head.register_forward_hook(lambda module, inputs, output, dtypes=dtypes: dtypes.add(output.dtype))
        trainer = UniMSETrainer(model=model, args=args, train_dataset=samples, data_collator=stack)
        trainer.train()
        curves[name] = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert linear_dtypes == {"fp32": {torch.float32}, "bf16": {torch.bfloat16}}  # the Trainer's path autocasts
    assert len(curves["fp32"]) == 10
    assert curves["fp32"][-1] < 0.8 * curves["fp32"][0]  # the curve falls: a comparison of something that learns
    assert curves["bf16"] == pytest.approx(curves["fp32"], rel=LOSS_CURVE_RTOL)


def freeze_lower_blocks(model: UniMSEForConditionalGeneration) -> None:
    """Freeze blocks 0-1 of both stacks and the tied embedding / LM head (as a trainable set may)."""
    for name, parameter in model.named_parameters():
        if any(f"{stack}.block.{i}." in name for stack in ("encoder", "decoder") for i in (0, 1)) or "shared" in name:
            parameter.requires_grad_(False)


def test_frozen_weights_in_bf16_keep_the_autocast_products_and_come_back_as_float32():
    model = tiny_model().eval()
    freeze_lower_blocks(model)
    batch = stack(random_samples(BATCH))
    original = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            reference = model(**batch)
        plain = model(**batch)
        with frozen_linear_weights_in_bf16(model) as layers:
            converted = {name for name, module in model.named_modules() if module in layers}
            with torch.autocast("cpu", dtype=torch.bfloat16):
                stored = model(**batch)
            outside = model(**batch)  # where autocast is off, as generate() runs the encoder
            generated = model.generate(**{k: v for k, v in batch.items() if k != "labels"}, max_new_tokens=4)
    # every projection of the frozen blocks (encoder: q, k, v, o, wi, wo; decoder: + cross-attention q, k, v, o), not
    # the LM head tied to the frozen embedding
    assert len(converted) == 2 * 6 + 2 * 10 and "lm_head" not in converted
    assert all(parameter.dtype == torch.float32 for parameter in model.parameters())
    torch.testing.assert_close(stored.logits, reference.logits, rtol=0, atol=0)  # the same products, bit for bit
    assert outside.logits.dtype == torch.float32 and generated.shape[0] == BATCH
    assert (outside.logits - plain.logits).abs().max() <= LOGITS_TOL * plain.logits.std()
    for name, parameter in model.named_parameters():  # float32 again, rounded to bf16 where they were converted
        rounded = original[name].bfloat16().float() if name.rsplit(".", 1)[0] in converted else original[name]
        assert torch.equal(parameter, rounded), name


def test_frozen_weights_in_bf16_keep_the_autocast_gradients_bit_for_bit():
    """Training mode with dropout: the shared input casts (q/k/v, the cross-attention k/v of every decoder block) and
    the bf16 copy of the tied LM head give autocast's loss and gradients exactly."""
    model = tiny_model()
    freeze_lower_blocks(model)
    batch = stack(random_samples(BATCH))
    assert model.lm_head.weight is model.shared.weight and not model.lm_head.weight.requires_grad

    def loss_and_gradients():
        torch.manual_seed(3)  # the same dropout masks
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
        return loss.detach(), gradients

    reference_loss, reference = loss_and_gradients()
    head_dtypes = []
    model.lm_head.register_forward_hook(lambda module, inputs, output: head_dtypes.append(output.dtype))
    with frozen_linear_weights_in_bf16(model) as layers:
        assert model.lm_head not in layers and model.lm_head.weight.dtype == torch.float32  # tied: a copy is read
        assert "forward" in vars(model.lm_head)
        loss, gradients = loss_and_gradients()
    assert head_dtypes == [torch.bfloat16]
    assert reference and gradients.keys() == reference.keys()
    assert torch.equal(loss, reference_loss)
    for name, gradient in gradients.items():
        assert torch.equal(gradient, reference[name]), name
    assert model.shared.weight.dtype == torch.float32 and "forward" not in vars(model.lm_head)


def test_cpu_bf16_training_holds_frozen_weights_in_bf16_and_saves_float32(tmp_path, monkeypatch):
    from safetensors import safe_open

    monkeypatch.setattr(training_args_module, "cpu_has_native_bf16", lambda: True)
    model = tiny_model()
    args = arguments(tmp_path, cpu_bf16=True, max_steps=4, save_strategy="steps", save_steps=2)
    trainer = UniMSETrainer(model=model, args=args, train_dataset=random_samples(BATCH * 4), data_collator=stack)
    frozen = model.encoder.block[0].layer[0].SelfAttention.q  # below the paper's trainable blocks
    assert not frozen.weight.requires_grad
    seen = set()
    frozen.register_forward_hook(lambda module, inputs, output: seen.add(module.weight.dtype))
    trainer.train()
    assert seen == {torch.bfloat16} and frozen.weight.dtype == torch.float32
    for checkpoint in ("checkpoint-2", "checkpoint-4"):
        with safe_open(tmp_path / checkpoint / "model.safetensors", "pt") as weights:
            assert {weights.get_slice(key).get_dtype() for key in weights.keys()} == {"F32"}, checkpoint
    reloaded = UniMSEForConditionalGeneration.from_pretrained(tmp_path / "checkpoint-4")
    for name, parameter in reloaded.named_parameters():
        assert torch.equal(parameter, model.get_parameter(name)), name
