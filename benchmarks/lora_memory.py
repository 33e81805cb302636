"""Trainable parameters and peak memory of one UniMSE training step at t5-base size: LoRA, the paper's trainable
set and full fine-tuning.

The model is a UniMSEForConditionalGeneration with t5-base's architecture (d_model 768, d_ff 3072, 12 + 12 blocks,
12 heads, vocabulary 32128; UniMSE defaults otherwise: 64-d acoustic and visual frames, PMF after the last three
encoder blocks) and random weights (no download). Settings:

- ``lora``: ``apply_lora`` with r 8, alpha 16 on q and v; fusion, modality encoders and projections in full;
- ``paper``: ``trainable_backbone_blocks: paper`` (the last two encoder and decoder blocks + the UniMSE modules);
- ``all``: every parameter trains.

Each setting runs in a fresh Python process (so one setting's memory never counts for another) that builds the
model, lets ``UniMSETrainer`` choose the trainable set and build its AdamW optimizer with one learning rate per
group, then runs one training step (``UniMSETrainer.compute_loss``: cross-entropy + both InfoNCE terms, backward,
optimizer step, which allocates AdamW's state) on a random batch. Memory: on CUDA, ``torch.cuda.max_memory_allocated``
during the step, and before it; on CPU, the process's peak resident set size (``ru_maxrss``, which includes the
weights, torch itself and whatever the allocator kept from building the model) and the resident set size just
before the step, so ``step_peak_above_start_mib`` is what the step added (gradients, AdamW state, activations).
Prints one JSON object; compare ratios between settings, not absolute numbers between machines.

    python benchmarks/lora_memory.py                       # the three settings, one process each
    python benchmarks/lora_memory.py --setting lora        # one setting in this process
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

SETTINGS = ("lora", "paper", "all")
T5_BASE = dict(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12, num_heads=12)


def rss_mib() -> float:
    """The current resident set size (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_setting(setting: str, batch: int, source: int, target: int, frames: int, seed: int) -> dict:
    import torch

    from unimse_hf import UniMSEConfig, UniMSEForConditionalGeneration, UniMSETrainer, UniMSETrainingArguments
    from unimse_hf.lora import LoraArguments, apply_lora, base_parameter_count

    cuda = torch.cuda.is_available()
    torch.manual_seed(seed)
    config = UniMSEConfig(**T5_BASE, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = UniMSEForConditionalGeneration(config)
    if setting == "lora":
        model = apply_lora(model, LoraArguments(use_lora=True, lora_r=8, lora_alpha=16, lora_target_modules=["q", "v"]))
    with tempfile.TemporaryDirectory() as output_dir:
        args = UniMSETrainingArguments(
            output_dir=output_dir, trainable_backbone_blocks=["paper" if setting == "paper" else "all"],
            per_device_train_batch_size=batch, optim="adamw_torch", report_to="none", use_cpu=not cuda,
            disable_tqdm=True,
        )  # fmt: skip
        trainer = UniMSETrainer(model=model, args=args, data_collator=lambda rows: rows)
    model = trainer.model
    optimizer = trainer.create_optimizer()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    inputs = {
        "input_ids": torch.randint(2, config.vocab_size, (batch, source), generator=generator),
        "attention_mask": torch.ones(batch, source, dtype=torch.long),
        "acoustic_features": torch.randn(batch, frames, config.acoustic_dim, generator=generator),
        "visual_features": torch.randn(batch, frames, config.visual_dim, generator=generator),
        "labels": torch.randint(2, config.vocab_size, (batch, target), generator=generator),
    }
    inputs = {key: value.to(device) for key, value in inputs.items()}
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start_memory = torch.cuda.memory_allocated() / 2**20
    else:
        start_memory = rss_mib()
    model.train()
    start = time.perf_counter()
    loss = trainer.compute_loss(model, inputs)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)  # keep the gradients allocated: they are part of a step's footprint
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mib()
    counts = trainer.trainable_parameter_counts
    return {
        "setting": setting,
        "trainable_parameters": sum(counts.values()),
        "trainable_by_group": counts,
        "model_parameters": base_parameter_count(model),
        "memory": "cuda max_memory_allocated" if cuda else "peak RSS (ru_maxrss)",
        "memory_before_step_mib": round(start_memory, 1),
        "peak_memory_mib": round(peak, 1),
        "step_peak_above_start_mib": round(peak - start_memory, 1),
        "step_seconds": round(seconds, 2),
        "loss": round(float(loss.detach()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, default=None, help="run one setting in this process")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--source-tokens", type=int, default=64)
    parser.add_argument("--target-tokens", type=int, default=16)
    parser.add_argument("--frames", type=int, default=50, help="acoustic and visual frames per sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.setting is not None:
        print(json.dumps(run_setting(args.setting, args.batch, args.source_tokens, args.target_tokens, args.frames,
                                     args.seed)))  # fmt: skip
        return
    results = {}
    for setting in SETTINGS:
        command = [sys.executable, __file__, "--setting", setting, "--batch", str(args.batch), "--source-tokens",
                   str(args.source_tokens), "--target-tokens", str(args.target_tokens), "--frames", str(args.frames),
                   "--seed", str(args.seed)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"setting {setting!r} failed:\n{done.stderr[-4000:]}")
        results[setting] = json.loads(done.stdout.strip().splitlines()[-1])
    full = results["all"]
    for result in results.values():
        result["trainable_vs_all"] = round(result["trainable_parameters"] / full["trainable_parameters"], 5)
        result["peak_vs_all"] = round(result["peak_memory_mib"] / full["peak_memory_mib"], 3)
        result["step_peak_above_start_vs_all"] = round(
            result["step_peak_above_start_mib"] / full["step_peak_above_start_mib"], 3
        )
    import torch

    print(json.dumps({
        "model": "UniMSE at t5-base size (random weights)",
        "batch": args.batch, "source_tokens": args.source_tokens, "target_tokens": args.target_tokens,
        "frames": args.frames,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)",
        "torch": torch.__version__, "python": platform.python_version(),
        "results": results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
