"""Several processes: ``torchrun --nproc_per_node 2 -m unimse_hf train`` (DDP over gloo on a CPU-only machine) against
one process with the same global batch.

Why the two runs see the same global batches: the Trainer's sampler (accelerate's seedable sampler) draws one
permutation of the training rows from the seed, the same in every process and the same as in a single process, and
the per-process batches of B rows are dealt round-robin, so step k of the 2-process run trains on rows
``perm[2Bk : 2B(k+1)]`` split over the two processes, which is the batch of 2B rows at step k of the 1-process run.
The test trains two epochs of two steps each, so it also checks that the second epoch's reshuffle agrees.

Why the losses agree: the cross-entropy is a mean over the target tokens of the whole global batch in both runs (the
Trainer counts the tokens across processes, ``average_tokens_across_devices``) and DDP averages the gradients, so
both runs take the same optimizer steps; dropout is 0 in tiny.yaml and the synthetic MELD rows have no acoustic or
visual frames (the contrastive terms, whose in-batch negatives are per process, are 0 in both runs).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_build_dataset_cli import MELD_HEADER

from unimse_hf.cli import main
from unimse_hf.training_args import UniMSETrainingArguments, launched_without_accelerator

# the training argument that turns activation checkpointing on (transformers 5.18 renamed gradient_checkpointing)
CHECKPOINTING_FIELD = next(
    name
    for name in ("activation_checkpointing", "gradient_checkpointing")
    if name in UniMSETrainingArguments.__dataclass_fields__
)

TINY = Path(__file__).resolve().parents[1] / "training_args" / "tiny.yaml"
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
#: float32 sums over ~100 target tokens grouped per process instead of all at once, and gloo's all-reduce adding the
#: two gradient halves in another order than one backward pass, give differences of a few units in the last place
#: (seen: 5e-8 relative), which Adam carries over four steps; a real difference (another batch, a loss normalised
#: per process, gradients not synchronised) moves the loss by 1e-3 or more.
LOSS_TOLERANCE = 1e-5
EMOTIONS = [("joy", "positive"), ("sadness", "negative"), ("neutral", "neutral"), ("anger", "negative"),
            ("surprise", "positive"), ("fear", "negative"), ("disgust", "negative")]  # fmt: skip
SIZES = {"train": 8, "dev": 5, "test": 3}  # odd dev and test sizes: the last evaluation batch is padded


def write_meld_source(root: Path) -> Path:
    """A synthetic MELD source (the CSV layout of the official release) with :data:`SIZES` rows."""
    root.mkdir(parents=True)
    for split, size in SIZES.items():
        lines = []
        for i in range(size):
            emotion, sentiment = EMOTIONS[(i + len(split)) % len(EMOTIONS)]
            text = f"{split} line {i} about the movie" + " really" * (i % 4)  # different lengths: padding differs
            dialogue, utterance = i // 3, i % 3
            lines.append(f'{i + 1},{text},Ross,{emotion},{sentiment},{dialogue},{utterance},1,1,"00:00:01,000",'
                         f'"00:00:02,000"\n')  # fmt: skip
        (root / f"{split}_sent_emo.csv").write_text(MELD_HEADER + "".join(lines))
    return root


def logged_losses(output_dir: Path) -> list[tuple[int, float, float]]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [(entry["step"], entry["loss"], entry["ce_loss"]) for entry in history if "loss" in entry]


def test_launched_without_accelerator_reads_world_size(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launched_without_accelerator()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not launched_without_accelerator()
    monkeypatch.setenv("WORLD_SIZE", "2")
    accelerator = getattr(torch, "accelerator", None)
    found = accelerator is not None and accelerator.current_accelerator() is not None
    has_accelerator = found or torch.cuda.is_available()
    assert launched_without_accelerator() is not has_accelerator


def test_ddp_finds_unused_parameters_unless_told_otherwise(tmp_path):
    assert UniMSETrainingArguments(output_dir=str(tmp_path), report_to="none").ddp_find_unused_parameters is True
    args = UniMSETrainingArguments(output_dir=str(tmp_path), report_to="none", ddp_find_unused_parameters=False)
    assert args.ddp_find_unused_parameters is False


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found next to the Python interpreter or on PATH")
@pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="torch.distributed with the gloo backend is needed for two CPU processes",
)
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    data = tmp_path / "unified"
    source = write_meld_source(tmp_path / "meld")
    assert main(["build-dataset", "meld", "--source", str(source), "--out", str(data), "--no-progress"]) == 0
    # activation checkpointing on: DDP must still find the parameters a text-only step leaves without gradient
    common = ["--dataset_name", str(data), "--dataset_config_name", "meld", "--num_train_epochs", "2",
              "--logging_steps", "1", "--per_device_eval_batch_size", "2", "--seed", "0",
              f"--{CHECKPOINTING_FIELD}", "true"]  # fmt: skip

    one = tmp_path / "one"
    args = ["train", str(TINY), *common, "--per_device_train_batch_size", "4", "--use_cpu", "true"]
    assert main([*args, "--output_dir", str(one)]) == 0

    two = tmp_path / "two"
    # no GPU visible (also on a GPU machine): the processes find none and set use_cpu themselves (gloo)
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache-2proc"), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    command = [TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "unimse_hf", "train", str(TINY), *common,
               "--per_device_train_batch_size", "2", "--output_dir", str(two)]  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]

    results_one = json.loads((one / "all_results.json").read_text())
    results_two = json.loads((two / "all_results.json").read_text())
    assert (results_one["world_size"], results_two["world_size"]) == (1, 2)

    losses_one, losses_two = logged_losses(one), logged_losses(two)
    assert [step for step, _, _ in losses_two] == [step for step, _, _ in losses_one] == [1, 2, 3, 4]
    for (step, loss_one, ce_one), (_, loss_two, ce_two) in zip(losses_one, losses_two, strict=True):
        assert loss_two == pytest.approx(loss_one, rel=LOSS_TOLERANCE), f"loss at step {step}"
        assert ce_two == pytest.approx(ce_one, rel=LOSS_TOLERANCE, abs=2e-6), f"ce_loss at step {step}"  # 6 decimals
    assert results_two["train_loss"] == pytest.approx(results_one["train_loss"], rel=LOSS_TOLERANCE)

    # every dev/test row scored exactly once: the padding rows of the last, uneven batch are dropped after the gather
    for results in (results_one, results_two):
        assert results["eval_meld_num_samples"] == results["eval_num_samples"] == SIZES["dev"]
        assert results["test_meld_num_samples"] == results["test_num_samples"] == SIZES["test"]
    assert run.stdout.count("eval meld ") == 1  # the results table is printed by the main process only
