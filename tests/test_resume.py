"""Exact resume: a run interrupted after a checkpoint and resumed ends with the weights of an uninterrupted run.

Weights are compared with ``torch.equal``: on CPU the same seed, data order, dropout masks and optimizer state give
the same floating-point operations in the same order, so the result is bitwise identical; any tolerance would hide
a resume that replays a different batch or dropout mask.
"""

import json

import accelerate
import pytest
import torch
import yaml
from packaging.version import Version
from safetensors.torch import load_file
from test_build_dataset_cli import source  # noqa: F401  (the synthetic MELD/MOSI/MOSEI source fixture)
from test_train_cli import CONFIGS
from test_trainer import processor, synthetic_rows, tiny_model, training_args  # noqa: F401  (processor: fixture)
from transformers import TrainerCallback

from unimse_hf import UniMSEForConditionalGeneration
from unimse_hf.cli import main
from unimse_hf.trainer import UniMSETrainer

# a resume in the middle of an epoch replays the epoch's data order through accelerate: exact with accelerate 1.15,
# not with 1.3 or 1.6 (the floor environment); releases in between were not bisected
exact_mid_epoch = pytest.mark.skipif(
    Version(accelerate.__version__) < Version("1.15"),
    reason=f"exact mid-epoch resume is checked with accelerate >= 1.15, found {accelerate.__version__}",
)

DROPOUT = {"dropout_rate": 0.1, "modality_dropout": 0.1}  # on, so that a wrong RNG state changes the weights
LOSS_PARTS = ("ce_loss", "contrastive_acoustic_loss", "contrastive_visual_loss")


def dropout_model(processor, seed: int) -> UniMSEForConditionalGeneration:  # noqa: F811
    config = tiny_model(processor).config
    config.update(DROPOUT)
    torch.manual_seed(seed)
    return UniMSEForConditionalGeneration(config)


class StopAt(TrainerCallback):
    """Stop training after optimizer step ``step`` (its checkpoint is still written): an interrupted run."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    different = [name for name in state_a if not torch.equal(state_a[name], state_b[name])]
    assert not different, different


@pytest.mark.parametrize(
    "stop", [pytest.param(6, id="mid-epoch", marks=exact_mid_epoch), pytest.param(10, id="epoch-boundary")]
)  # 5 steps per epoch
def test_trainer_resumed_from_a_checkpoint_ends_with_the_uninterrupted_weights(tmp_path, processor, stop):  # noqa: F811
    train = synthetic_rows(40, 0, "train")

    def trainer(folder, model_seed=0, **overrides):
        args = training_args(tmp_path / folder, num_train_epochs=3, per_device_train_batch_size=8,
                             save_strategy="steps", save_steps=stop, **overrides)  # fmt: skip
        return UniMSETrainer(model=dropout_model(processor, model_seed), args=args, train_dataset=train,
                             processing_class=processor)  # fmt: skip

    full = trainer("full", logging_steps=1)  # one log per step: the reference for the averaged parts below
    full.train()
    interrupted = trainer("run", logging_steps=4)
    interrupted.add_callback(StopAt(stop))
    interrupted.train()
    assert interrupted.state.global_step == stop and (tmp_path / "run" / f"checkpoint-{stop}").is_dir()
    assert not all(
        torch.equal(a, b) for a, b in zip(interrupted.model.parameters(), full.model.parameters(), strict=True)
    )

    resumed = trainer("run", model_seed=1, logging_steps=4)  # other initial weights: they come from the checkpoint
    resumed.train(resume_from_checkpoint=str(tmp_path / "run" / f"checkpoint-{stop}"))
    assert resumed.state.global_step == full.state.global_step == 15
    assert_same_weights(resumed.model, full.model)

    # loss parts: each log after the resume averages over the steps since the previous log (or the checkpoint),
    # the same steps as `loss`
    per_step = {log["step"]: log for log in full.state.log_history if "ce_loss" in log}
    logs = [log for log in resumed.state.log_history if "ce_loss" in log and log["step"] > stop]
    assert [log["step"] for log in logs] == [step for step in (8, 12) if step > stop]
    previous = stop
    for log in logs:
        steps = range(previous + 1, log["step"] + 1)
        for key in ("loss", *LOSS_PARTS):
            expected = sum(per_step[step][key] for step in steps) / len(steps)
            assert log[key] == pytest.approx(expected, rel=1e-4, abs=1e-5), (log["step"], key)
        previous = log["step"]


@exact_mid_epoch
def test_train_cli_resume_from_checkpoint_ends_with_the_uninterrupted_weights(source, tmp_path):  # noqa: F811
    data = tmp_path / "unified"
    assert main(["build-dataset", "meld", "--source", str(source / "meld"), "--out", str(data), "--no-progress"]) == 0
    tiny = next(path for path in CONFIGS if path.stem == "tiny")
    values = yaml.safe_load(tiny.read_text())
    values["tokenizer_name"] = str((tiny.parent / values["tokenizer_name"]).resolve())
    values["model_config"].update(DROPOUT)
    config = tmp_path / "tiny_dropout.yaml"
    config.write_text(yaml.safe_dump(values))
    # 4 training rows, batch 1, 3 epochs: 12 steps, a checkpoint at step 5 (mid-epoch)
    common = ["train", str(config), "--dataset_name", str(data), "--dataset_config_name", "meld",
              "--per_device_train_batch_size", "1", "--num_train_epochs", "3", "--save_strategy", "steps",
              "--save_steps", "5", "--logging_steps", "1", "--test_splits", "none"]  # fmt: skip
    assert main([*common, "--output_dir", str(tmp_path / "full")]) == 0
    checkpoint = tmp_path / "full" / "checkpoint-5"
    assert main([*common, "--output_dir", str(tmp_path / "resumed"), "--resume_from_checkpoint", str(checkpoint)]) == 0

    full = load_file(tmp_path / "full" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    assert full.keys() == resumed.keys()
    assert [name for name in full if not torch.equal(full[name], resumed[name])] == []
    # it did resume: the same per-step losses after the checkpoint, and a train_loss over steps 6-12 only
    full_losses, resumed_losses = (
        {log["step"]: log["loss"] for log in json.loads((tmp_path / run / "trainer_state.json").read_text())[
            "log_history"] if "loss" in log} for run in ("full", "resumed")
    )  # fmt: skip
    assert resumed_losses == full_losses and len(full_losses) == 12
    # train_loss: the mean over the resumed steps 6-12 (transformers >= 5.18) or over all 12 steps (5.17)
    train_loss = json.loads((tmp_path / "resumed" / "train_results.json").read_text())["train_loss"]
    means = [sum(full_losses[step] for step in steps) / len(steps) for steps in (range(6, 13), range(1, 13))]
    assert train_loss == pytest.approx(means[0], rel=1e-5) or train_loss == pytest.approx(means[1], rel=1e-5)
    with pytest.raises(SystemExit, match=r"resume_from_checkpoint must be a checkpoint-<step> folder.*'nowhere'"):
        main([*common, "--output_dir", str(tmp_path / "bad"), "--resume_from_checkpoint", "nowhere"])
