"""The frozen-prefix cache (``cache_frozen_prefix``): the cached encoder gives the uncached outputs in eval mode and
the uncached loss curve without dropout, runs the frozen blocks once per text, and refuses a trainable set whose lower
blocks train."""

import pytest
import torch
from conftest import TINY_T5
from test_cpu_bf16 import BATCH, arguments, one_thread, random_samples, stack  # noqa: F401 (one_thread: autouse)
from transformers import TrainerCallback

from unimse_hf import UniMSEConfig, UniMSEForConditionalGeneration
from unimse_hf import training_args as training_args_module
from unimse_hf.frozen_prefix import FrozenPrefixCache, frozen_prefix_cached, frozen_prefix_length
from unimse_hf.lora import LoraArguments, apply_lora
from unimse_hf.trainer import UniMSETrainer

#: cached vs uncached, float32 storage, one forward in eval mode: logits within this (measured: 1.4e-6, from the
#: masked padding's rounding in the attention sums)
EVAL_ATOL = 1e-5
#: cached vs uncached, 100 AdamW steps without dropout: every logged loss within this relative tolerance (measured:
#: equal)
CURVE_RTOL = 1e-4
#: with dropout 0.1 the cached blocks run without it: each logged loss of the cached run within 10% of the uncached
#: (measured: 5.1% at most, the cached curve below: less dropout noise), and both curves fall
DROPOUT_CURVE_RTOL = 0.1


def tiny_model(dropout: float = 0.0, seed: int = 0) -> UniMSEForConditionalGeneration:
    """Four encoder blocks, fused in the last two: under the paper's trainable set blocks 0-1 are the prefix."""
    torch.manual_seed(seed)
    sizes = dict(acoustic_dim=6, visual_dim=5, modality_hidden_size=16, fusion_bottleneck=16, contrastive_dim=8)
    config = UniMSEConfig(**{**TINY_T5, "num_layers": 4, "dropout_rate": dropout}, pad_token_id=0, eos_token_id=1,
                          **sizes, modality_dropout=0.0, fusion_layers=[2, 3], fusion_init="random")  # fmt: skip
    return UniMSEForConditionalGeneration(config)


def freeze_paper_style(model: UniMSEForConditionalGeneration) -> None:
    """Freeze what ``trainable_backbone_blocks: paper`` freezes below encoder block 2 (embedding, blocks 0-1)."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not any(part in name for part in ("shared", "encoder.block.0.", "encoder.block.1.")))


def padded_batch(seed: int = 1) -> dict[str, torch.Tensor]:
    """Four texts of 9, 6, 3 and 9 tokens padded to 9, with labels and modality features."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(4, 9, dtype=torch.long)
    mask[1, 6:] = mask[2, 3:] = 0
    return {
        "input_ids": torch.randint(2, TINY_T5["vocab_size"], (4, 9), generator=g) * mask,
        "attention_mask": mask,
        "labels": torch.randint(2, TINY_T5["vocab_size"], (4, 5), generator=g),
        "acoustic_features": torch.randn(4, 7, 6, generator=g),
        "visual_features": torch.randn(4, 3, 5, generator=g),
    }


def test_prefix_length_stops_at_the_first_fused_or_trainable_block():
    model = tiny_model()
    freeze_paper_style(model)
    assert frozen_prefix_length(model) == 2
    model.encoder.block[1].layer[0].SelfAttention.q.weight.requires_grad_(True)
    assert frozen_prefix_length(model) == 1
    model.shared.weight.requires_grad_(True)
    assert frozen_prefix_length(model) == 0


def test_cached_encoder_gives_the_uncached_outputs_in_eval_mode():
    model = tiny_model(dropout=0.1).eval()
    freeze_paper_style(model)
    batch = padded_batch()
    longer = dict(batch)  # the same texts padded to 13 tokens and in another order: the same cache entries
    order = torch.tensor([2, 0, 3, 1])
    for key in ("input_ids", "attention_mask"):
        longer[key] = torch.cat([batch[key], torch.zeros(4, 4, dtype=torch.long)], dim=1)[order]
    for key in ("labels", "acoustic_features", "visual_features"):
        longer[key] = batch[key][order]
    generate_inputs = {key: value for key, value in batch.items() if key != "labels"}
    with torch.no_grad():
        reference = model(**batch)
        reference_ids = model.generate(**generate_inputs, max_new_tokens=4)
        with frozen_prefix_cached(model) as cache:
            first = model(**batch)  # fills
            second = model(**batch)  # hits
            moved = model(**longer)
            generated = model.generate(**generate_inputs, max_new_tokens=4)
    assert (cache.misses, cache.hits, len(cache)) == (4, 12, 4)
    assert cache.nbytes == (9 + 6 + 3 + 9) * 32 * 4  # valid tokens x d_model x float32
    for outputs in (first, second):
        torch.testing.assert_close(outputs.logits, reference.logits, rtol=0, atol=EVAL_ATOL)
        torch.testing.assert_close(outputs.text_embeds, reference.text_embeds, rtol=0, atol=EVAL_ATOL)
    torch.testing.assert_close(moved.logits, reference.logits[order], rtol=0, atol=EVAL_ATOL)
    assert torch.equal(generated, reference_ids)
    assert model.encoder.frozen_prefix_cache is None  # detached on leaving


def test_cached_prefix_runs_without_dropout_and_leaves_the_blocks_in_training_mode():
    model = tiny_model(dropout=0.5).train()
    freeze_paper_style(model)
    batch = padded_batch()
    cache = FrozenPrefixCache(2)
    stored = cache.hidden_states(model.encoder, batch["input_ids"], batch["attention_mask"])
    with torch.no_grad():
        model.encoder.eval()
        expected, _ = model.encoder.run_blocks(
            model.encoder.embed_tokens(batch["input_ids"]), batch["attention_mask"], stop=2
        )
    model.train()
    valid = batch["attention_mask"].bool()
    torch.testing.assert_close(stored[valid], expected[valid], rtol=0, atol=0)
    assert (stored[~valid] == 0).all()
    assert all(block.training for block in model.encoder.block)
    with pytest.raises(ValueError, match="num_blocks must be >= 1"):
        FrozenPrefixCache(0)


def train_curve(tmp_path, dropout: float, cache: bool, **overrides) -> tuple[list[float], list[int], UniMSETrainer]:
    """Logged losses of 100 steps (10 epochs of 80 samples) and the batch sizes block 0 of the encoder saw."""
    model = tiny_model(dropout)
    block_calls = []
    model.encoder.block[0].register_forward_hook(lambda module, inputs, output: block_calls.append(len(inputs[0])))
    args = arguments(tmp_path, cache_frozen_prefix=cache, **overrides)
    trainer = UniMSETrainer(model=model, args=args, train_dataset=random_samples(BATCH * 10), data_collator=stack)
    trainer.train()
    return [log["loss"] for log in trainer.state.log_history if "loss" in log], block_calls, trainer


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_training_with_the_cache_runs_the_prefix_once_per_text_and_keeps_the_loss_curve(tmp_path, dropout):
    reference, reference_calls, _ = train_curve(tmp_path / "plain", dropout, cache=False)
    cached, calls, trainer = train_curve(tmp_path / "cached", dropout, cache=True)
    assert len(reference_calls) == 100  # without the cache block 0 runs at every step
    assert calls == [BATCH] * 10  # with it, once per text: the 10 batches of the first epoch
    assert trainer.model.encoder.frozen_prefix_cache is None
    assert reference[-1] < 0.9 * reference[0] and cached[-1] < 0.9 * cached[0]  # both learn
    assert cached == pytest.approx(reference, rel=CURVE_RTOL if dropout == 0 else DROPOUT_CURVE_RTOL)


def test_cache_under_cpu_bf16_stores_bf16(tmp_path, monkeypatch):
    monkeypatch.setattr(training_args_module, "cpu_has_native_bf16", lambda: True)
    model = tiny_model()
    seen = []
    original = FrozenPrefixCache._fill

    def fill(self, *args):
        original(self, *args)
        seen.extend({hidden.dtype for hidden in self._store.values()})

    monkeypatch.setattr(FrozenPrefixCache, "_fill", fill)
    args = arguments(tmp_path, cpu_bf16=True, cache_frozen_prefix=True, max_steps=2)
    trainer = UniMSETrainer(model=model, args=args, train_dataset=random_samples(BATCH * 2), data_collator=stack)
    trainer.train()
    assert set(seen) == {torch.bfloat16}


@pytest.mark.parametrize("trainable", ["all", "lora"])
def test_cache_refuses_a_trainable_set_whose_lower_blocks_train(tmp_path, trainable):
    model = tiny_model()
    if trainable == "lora":
        model = apply_lora(model, LoraArguments(use_lora=True, lora_r=2, lora_alpha=4, lora_target_modules=["q"]))
    args = arguments(tmp_path, cache_frozen_prefix=True, trainable_backbone_blocks=["all"], max_steps=1)
    trainer = UniMSETrainer(model=model, args=args, train_dataset=random_samples(BATCH), data_collator=stack)
    message = "the token embedding trains" if trainable == "all" else "encoder block 0 trains"
    with pytest.raises(ValueError, match=f"cache_frozen_prefix=True needs frozen encoder blocks.*{message}"):
        trainer.train()


def test_cache_serves_evaluation_and_generation_inside_a_cpu_bf16_run(tmp_path, monkeypatch):
    """Inside ``train()`` (frozen weights in bf16, cache stored in bf16) the evaluations fill and then hit the cache,
    and a forward or ``generate`` outside autocast on cached texts gives the uncached logits."""
    monkeypatch.setattr(training_args_module, "cpu_has_native_bf16", lambda: True)
    model = tiny_model(dropout=0.1)
    batch = padded_batch()
    checks = {}

    class Probe(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step != 6:
                return
            encoder, mode = model.encoder, model.training
            model.eval()
            with torch.no_grad():
                first = model(**batch).logits  # fills (outside the Trainer's autocast, as generate runs)
                cached = model(**batch).logits
                generated = model.generate(**{k: v for k, v in batch.items() if k != "labels"}, max_new_tokens=3)
                cache, encoder.frozen_prefix_cache = encoder.frozen_prefix_cache, None
                plain = model(**batch).logits
                encoder.frozen_prefix_cache = cache
            model.train(mode)
            checks.update(first=first, cached=cached, plain=plain, generated=generated, hits=cache.hits)

    args = arguments(tmp_path, cpu_bf16=True, cache_frozen_prefix=True, max_steps=8, eval_strategy="steps",
                     eval_steps=4, predict_with_generate=False, per_device_eval_batch_size=BATCH,
                     metric_for_best_model=None)  # fmt: skip
    trainer = UniMSETrainer(model=model, args=args, train_dataset=random_samples(BATCH * 2),
                            eval_dataset=random_samples(BATCH, seed=2), data_collator=stack,
                            callbacks=[Probe()])  # fmt: skip
    trainer.train()
    evaluations = [log for log in trainer.state.log_history if "eval_loss" in log]
    assert len(evaluations) == 2 and evaluations[0]["eval_loss"] != evaluations[1]["eval_loss"]
    # steps 1-2 fill the 16 training texts and the first evaluation its 8 texts; steps 3-6 hit (32), then the
    # probe's 4 texts fill once and hit twice (its second forward and generate's encoder pass)
    assert checks["hits"] == BATCH * 4 + 4 + 4
    scale = checks["plain"].std()
    assert (checks["cached"] - checks["plain"]).abs().max() <= 0.05 * scale  # bf16 storage of the stream only
    torch.testing.assert_close(checks["first"], checks["cached"], rtol=0, atol=0)
    assert checks["generated"].shape == (4, 4)
