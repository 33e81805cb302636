"""Dropout with 16-bit masks (``cpu_bf16``): the drop rate and scaling of ``nn.Dropout``, seeded masks, gradients
through the kept elements only, and a training run that follows the loss curve of torch's dropout."""

import pytest
import torch
from conftest import TINY_T5
from test_cpu_bf16 import random_samples, stack
from torch import nn

from unimse_hf import UniMSEConfig, UniMSEForConditionalGeneration
from unimse_hf import training_args as training_args_module
from unimse_hf.dropout_16bit import dropout_16bit, dropout_masks_16bit
from unimse_hf.trainer import UniMSETrainer
from unimse_hf.training_args import UniMSETrainingArguments

#: torch's dropout vs 16-bit masks, tiny config with dropout 0.1, 100 AdamW steps: every logged loss within 5% (other
#: masks: the curves differ by the dropout noise; measured: 0.7% at most)
CURVE_RTOL = 0.05


@pytest.mark.parametrize("p", [0.1, 0.5, 0.01])
def test_drop_rate_and_scale_are_those_of_nn_dropout(p):
    torch.manual_seed(0)
    ones = torch.ones(1_000_003)  # not a multiple of four lanes
    dropped = dropout_16bit(ones, p)
    kept = dropped != 0
    # 5 standard deviations of the binomial drop count
    assert abs((~kept).float().mean().item() - p) < 5 * (p * (1 - p) / ones.numel()) ** 0.5
    assert torch.allclose(dropped[kept], torch.full_like(dropped[kept], 1 / (1 - round(p * 2**16) / 2**16)))
    assert dropped.shape == ones.shape and dropped.dtype == ones.dtype
    assert dropout_16bit(ones.bfloat16(), p).dtype == torch.bfloat16


def test_masks_follow_the_seed_and_gradients_reach_the_kept_elements_only():
    x = torch.randn(4, 7, 5, requires_grad=True)
    torch.manual_seed(3)
    first = dropout_16bit(x, 0.3)
    torch.manual_seed(3)
    again = dropout_16bit(x, 0.3)
    assert torch.equal(first, again)
    first.sum().backward()
    scale = 1 / (1 - round(0.3 * 2**16) / 2**16)
    torch.testing.assert_close(x.grad, (first != 0).float() * scale)
    assert dropout_16bit(x, 0.0) is x
    assert (dropout_16bit(x, 1.0) == 0).all()
    with pytest.raises(ValueError, match=r"dropout probability p must be in \[0, 1\], got 1.5"):
        dropout_16bit(x, 1.5)


def test_patched_modules_drop_in_training_only_and_come_back():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    x = torch.ones(64, 3)
    with dropout_masks_16bit(model) as modules:
        assert modules == [model[1]]
        model.eval()
        torch.testing.assert_close(model(x), model[0](x))
        model.train()
        assert (model(x) == 0).any()
    assert "forward" not in vars(model[1])
    with dropout_masks_16bit(model, enabled=False) as modules:
        assert modules == []


def test_cpu_bf16_training_with_16bit_masks_follows_the_curve_of_torch_dropout(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    samples = random_samples(80)
    monkeypatch.setattr(training_args_module, "cpu_has_native_bf16", lambda: True)
    curves = {}
    for name in ("16bit", "torch"):
        torch.manual_seed(0)
        config = UniMSEConfig(**{**TINY_T5, "dropout_rate": 0.1}, pad_token_id=0, eos_token_id=1, acoustic_dim=6,
                              visual_dim=5, modality_hidden_size=16, fusion_bottleneck=16, contrastive_dim=8,
                              fusion_layers=[2], fusion_init="random")  # fmt: skip
        model = UniMSEForConditionalGeneration(config)
        args = UniMSETrainingArguments(
            output_dir=str(tmp_path / name), per_device_train_batch_size=8, max_steps=100, logging_steps=10,
            backbone_learning_rate=3e-3, fusion_learning_rate=3e-3, modality_learning_rate=3e-3, cpu_bf16=True,
            eval_strategy="no", save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, seed=0,
        )  # fmt: skip
        trainer = UniMSETrainer(model=model, args=args, train_dataset=samples, data_collator=stack)
        if name == "torch":  # the same run with torch's dropout masks
            monkeypatch.setattr("unimse_hf.trainer.dropout_masks_16bit", _unpatched)
        trainer.train()
        curves[name] = [log["loss"] for log in trainer.state.log_history if "loss" in log]
        assert all("forward" not in vars(module) for module in model.modules() if isinstance(module, nn.Dropout))
    assert len(curves["torch"]) == 10 and curves["torch"][-1] < 0.9 * curves["torch"][0]
    assert curves["16bit"] == pytest.approx(curves["torch"], rel=CURVE_RTOL)
    assert curves["16bit"] != curves["torch"]  # the masks did change


def _unpatched(model, enabled=True):
    return dropout_masks_16bit(model, enabled=False)
