"""UniMSE performance on this machine: training steps, generation, peak memory and MFU, as JSON and a markdown table.

Every row runs in a fresh Python process (so its peak resident set size is its own) on random-weight models of
T5-small or T5-base size (no download), with ``--tokens`` text tokens, ``--frames`` acoustic and ``--frames // 5``
visual frames of 64 features and ``--target-tokens`` label tokens per sample.

- ``train`` rows: ``UniMSETrainer.train()`` (the real path: the accelerate-prepared model, bf16 autocast when the
  arguments ask for it, ``compute_loss`` with both InfoNCE terms, backward, AdamW step) for a few steps on one
  fixed batch; ``plain T5`` rows run ``Seq2SeqTrainer.train()`` on a ``T5ForConditionalGeneration`` of the same
  size, trainable set, arguments and batch (text only); the ``cached prefix`` row adds ``cache_frozen_prefix``
  (the fixed batch is cached from the first step on: what every epoch after the first costs). ``s/step`` is the
  median of the timed steps (between the ``on_step_begin`` and ``on_step_end`` callbacks), after two untimed steps;
  the second of them is counted by
  ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and attention, forward and backward; LSTMs and
  element-wise work are not counted), which gives ``GFLOP/step``. ``MFU`` = FLOP per step / s per step / the
  measured matmul peak of the row's dtype (fp32 or bf16); ``MFU vs bf16 peak`` divides by the bf16 peak always.
- ``generate`` rows: ``model.generate`` in eval mode on one batch, greedy or 4 beams, every sample forced to the
  label length (random weights never stop by themselves): the package's labels (score with one decimal) or the
  official unrounded ones (``max 20`` tokens, the official generation length); ``fp32``, ``bf16`` (autocast over the
  float32 weights) or ``bf16-weights`` (the model itself in bf16, as ``from_pretrained(..., dtype=torch.bfloat16)``
  loads it: no per-step weight casts). ``utt/s`` = batch / median seconds.
- ``overhead`` rows: the fusion overhead, UniMSE over plain T5 at the same size, dtype, trainable set (the paper's)
  and attention kernel, both stepped by their trainers' own ``training_step`` (``compute_loss``, for UniMSE with
  both InfoNCE terms, and backward) and an AdamW step, alternating in one process (T5 first in even pairs, UniMSE
  first in odd ones): the ratio of each pair, after one untimed pair whose FLOPs are counted; then the same for
  greedy generation of the package's labels. The median of the pair ratios is the overhead (separate rows, each
  in its own process, differ by up to ~15% from load alone).
- ``--rounds`` passes over all rows (a load change then hits each row): each row reports its fastest round.
- ``peak RSS``: the row's process ``ru_maxrss`` (weights, torch, activations, optimizer state).
- matmul peaks: best of 5 ``torch.mm`` of two 2048 x 2048 matrices per dtype, in the parent process.
- ``--quick``: a tiny config, batch 2, one timed step, every row in this process (a smoke test of the code paths;
  its figures mean nothing).
- the pseudo-label embedding row is :func:`embedding_speed.measure` on ``--embedding-data`` (skipped without it).
- the raw-media rows are :func:`media_speed.measure` on a generated 20 s clip (2 s with ``--quick``): seconds of
  media per CPU second, acoustic and visual (skipped, with the reason, without the media extra).

Ratios within one run are what to compare; absolute seconds depend on the machine and its load (``load`` columns).

    python benchmarks/bench.py                # the full table (t5-small and t5-base, batch 8 and 32)
    python benchmarks/bench.py --quick        # every code path on a tiny config, a few seconds
    python benchmarks/bench.py --kinds overhead --sizes base --batches 32 --rounds 1   # the fusion overhead only
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import TrainerCallback

SIZES = {  # T5 architectures (random weights)
    "tiny": dict(vocab_size=256, d_model=32, d_kv=8, d_ff=64, num_layers=4, num_heads=4),
    "small": dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8),
    "base": dict(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12),
}
ACOUSTIC_DIM = VISUAL_DIM = 64
#: token counts of the universal labels of the package (score with one decimal) and of the official code
#: (unrounded scores; it generates at most 20 tokens)
LABEL_TOKENS = {"package": None, "official": 20}
PAPER_EPOCHS = 20  # training_args/paper.yaml: the amortised speed-up of the frozen-prefix cache is over these
TOKENIZER_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "t5-tokenizer"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def package_label_tokens() -> int:
    """Longest tokenized universal label of the package (one-decimal scores from -3.0 to 3.0, every emotion pair),
    EOS included."""
    from transformers import AutoTokenizer

    from unimse_hf.labels import IEMOCAP_EMOTIONS, MELD_EMOTIONS, format_universal_label, polarity_from_score

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    labels = [
        format_universal_label(polarity_from_score(score / 10), score / 10, meld, iemocap)
        for score in range(-30, 31, 7)
        for meld in MELD_EMOTIONS
        for iemocap in IEMOCAP_EMOTIONS
    ]
    return max(len(ids) for ids in tokenizer(labels)["input_ids"])


def matmul_peaks(size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Best GFLOP/s of ``torch.mm`` on ``(size, size)`` matrices in fp32 and bf16."""

    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        pair = torch.randn(2, size, size, dtype=dtype)
        torch.mm(*pair)
        best = min(_seconds(lambda pair=pair: torch.mm(*pair)) for _ in range(repeats))
        peaks[name] = 2 * size**3 / best / 1e9
    return peaks


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_inputs(config, batch: int, tokens: int, frames: int, target_tokens: int, seed: int = 1) -> dict:
    """One random batch: ``input_ids``/``attention_mask`` `(batch, tokens)`, acoustic `(batch, frames, 64)` and
    visual `(batch, frames // 5, 64)` features with masks (a third to all frames valid), ``labels``
    `(batch, target_tokens)`."""

    g = torch.Generator().manual_seed(seed)
    inputs = {
        "input_ids": torch.randint(2, config.vocab_size, (batch, tokens), generator=g),
        "attention_mask": torch.ones(batch, tokens, dtype=torch.long),
        "labels": torch.randint(2, config.vocab_size, (batch, target_tokens), generator=g),
    }
    for name, count in (("acoustic", frames), ("visual", max(frames // 5, 1))):
        lengths = torch.randint(max(count // 3, 1), count + 1, (batch,), generator=g)
        mask = (torch.arange(count)[None] < lengths[:, None]).long()
        inputs[f"{name}_features"] = torch.randn(batch, count, 64, generator=g) * mask[..., None]
        inputs[f"{name}_mask"] = mask
    return inputs


def build_model(model: str, size: str, trainable: str, attn_implementation: str | None = None):
    """A random-weight ``T5ForConditionalGeneration`` or UniMSE model of ``size`` (the class's default attention
    kernel unless ``attn_implementation`` names one)."""
    from transformers import T5Config, T5ForConditionalGeneration

    from unimse_hf import UniMSEConfig, UniMSEForConditionalGeneration
    from unimse_hf.lora import LoraArguments, apply_lora

    torch.manual_seed(0)
    common = dict(SIZES[size], decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    if model == "t5":
        config = T5Config(**common)
    else:
        config = UniMSEConfig(**common, acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM, fusion_init="random")
    if attn_implementation is not None:  # at init: set_attn_implementation misses T5's stacks before 5.18
        config._attn_implementation = attn_implementation
    if model == "t5":
        return T5ForConditionalGeneration(config)
    unimse = UniMSEForConditionalGeneration(config)
    if trainable == "lora":
        unimse = apply_lora(
            unimse, LoraArguments(use_lora=True, lora_r=8, lora_alpha=16, lora_target_modules=["q", "v"])
        )
    return unimse


class StepTimer(TrainerCallback):
    """Skips the first training step (it fills the frozen-prefix cache where there is one), counts the FLOPs of
    the second, times the others."""

    def __init__(self):
        self.seconds: list[float] = []
        self.flops = 0
        self._counter: FlopCounterMode | None = None
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == 1:
            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        elapsed = time.perf_counter() - self._start
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self.flops = self._counter.get_total_flops()
            self._counter = None
        elif state.global_step > 2:
            self.seconds.append(elapsed)


def run_train(row: dict) -> dict:
    """One ``train`` row (module docstring) in this process."""
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    from unimse_hf import UniMSETrainer, UniMSETrainingArguments
    from unimse_hf.trainer import trainable_backbone_names

    model = build_model(row["model"], row["size"], row["trainable"])
    inputs = make_inputs(model.config, row["batch"], row["tokens"], row["frames"], row["target_tokens"])
    if row["model"] == "t5":
        inputs = {key: inputs[key] for key in ("input_ids", "attention_mask", "labels")}
    blocks = ["all" if row["trainable"] == "lora" else row["trainable"]]
    common = dict(
        per_device_train_batch_size=row["batch"], max_steps=row["steps"] + 2, bf16=row["dtype"] == "bf16",
        use_cpu=True, report_to="none", save_strategy="no", eval_strategy="no", logging_steps=10_000,
        disable_tqdm=True, optim="adamw_torch", dataloader_num_workers=0, seed=0,
    )  # fmt: skip
    timer = StepTimer()
    dataset = list(range(row["batch"] * (row["steps"] + 2)))
    rss_before = peak_rss_mib()
    with tempfile.TemporaryDirectory(dir="/tmp") as output_dir:
        if row["model"] == "t5":
            keep = trainable_backbone_names(model, blocks)
            for name, parameter in model.named_parameters():
                parameter.requires_grad_(name in keep)
            args = Seq2SeqTrainingArguments(output_dir=output_dir, remove_unused_columns=False, **common)
            trainer = Seq2SeqTrainer(
                model=model, args=args, train_dataset=dataset, data_collator=lambda _: dict(inputs)
            )
        else:
            # bf16 rows: cpu_bf16 (also the frozen weights held in bf16, frozen_bf16.py); "cache" rows add the
            # frozen-prefix cache (frozen_prefix.py), whose every timed step finds the fixed batch cached
            args = UniMSETrainingArguments(
                output_dir=output_dir, trainable_backbone_blocks=blocks, cpu_bf16=row["dtype"] == "bf16",
                cache_frozen_prefix=row.get("cache", False), **common,
            )  # fmt: skip
            trainer = UniMSETrainer(model=model, args=args, train_dataset=dataset, data_collator=lambda _: dict(inputs))
        trainer.add_callback(timer)
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its logs; stdout is for the results
            trainer.train()
        total = time.perf_counter() - start
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = {
        "seconds_per_step": statistics.median(timer.seconds),
        "step_seconds": [round(s, 4) for s in timer.seconds],
        "flops_per_step": timer.flops,
        "trainable_parameters": trainable,
        "attn_implementation": model.config._attn_implementation,
        "train_seconds_total": round(total, 2),
        "rss_before_train_mib": round(rss_before, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    if row["model"] == "unimse" and row["trainable"] == "paper" and not row.get("cache"):
        result["frozen_prefix_seconds"] = frozen_prefix_seconds(trainer.model, inputs, row["dtype"])
    return result


def frozen_prefix_seconds(model, inputs: dict, dtype: str) -> float:
    """Median seconds of the encoder blocks below the first fused block on ``inputs`` (training mode, no gradient,
    under the row's autocast): what caching their outputs across epochs would save per step at most."""

    encoder = model.encoder
    first = min(model.config.fusion_layers)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16")

    def prefix():
        with torch.no_grad(), autocast:
            hidden = encoder.embed_tokens(inputs["input_ids"])
            bias = None
            for block in encoder.block[:first]:
                hidden, bias, _ = block(hidden, attention_mask=None, position_bias=bias)

    prefix()
    return statistics.median(_seconds(prefix) for _ in range(3))


def run_generate(row: dict) -> dict:
    """One ``generate`` row (module docstring) in this process."""

    model = build_model("unimse", row["size"], "paper").eval()
    inputs = make_inputs(model.config, row["batch"], row["tokens"], row["frames"], 1)
    inputs.pop("labels")
    new_tokens = row["label_tokens"]
    if row["dtype"] == "bf16-weights":  # the weights themselves in bf16 (from_pretrained(..., dtype=torch.bfloat16))
        model.to(torch.bfloat16)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=row["dtype"] == "bf16")

    def generate():
        with torch.inference_mode(), autocast:
            return model.generate(
                **inputs, num_beams=row["beams"], do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens
            )

    sequences = generate()
    seconds = statistics.median(_seconds(generate) for _ in range(row["repeats"]))
    return {
        "seconds_per_batch": seconds,
        "utterances_per_second": row["batch"] / seconds,
        "tokens_per_sample": sequences.shape[1] - 1,  # less the decoder start token
        "attn_implementation": model.config._attn_implementation,
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def run_overhead(row: dict) -> dict:
    """One ``overhead`` row (module docstring) in this process."""
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    from unimse_hf import UniMSETrainer, UniMSETrainingArguments
    from unimse_hf.trainer import trainable_backbone_names

    unimse = build_model("unimse", row["size"], "paper")
    # the same attention kernel: the kernel is not what is compared
    t5 = build_model("t5", row["size"], "paper", attn_implementation=unimse.config._attn_implementation)
    inputs = {"unimse": make_inputs(unimse.config, row["batch"], row["tokens"], row["frames"], row["target_tokens"])}
    inputs["t5"] = {key: inputs["unimse"][key] for key in ("input_ids", "attention_mask", "labels")}
    common = dict(per_device_train_batch_size=row["batch"], use_cpu=True, report_to="none", optim="adamw_torch",
                  seed=0)  # fmt: skip
    with tempfile.TemporaryDirectory(dir="/tmp") as output_dir:
        keep = trainable_backbone_names(t5, ["paper"])
        for name, parameter in t5.named_parameters():
            parameter.requires_grad_(name in keep)
        args = Seq2SeqTrainingArguments(output_dir=output_dir, **common)
        trainers = {"t5": Seq2SeqTrainer(model=t5, args=args)}
        args = UniMSETrainingArguments(output_dir=output_dir, trainable_backbone_blocks=["paper"], **common)
        trainers["unimse"] = UniMSETrainer(model=unimse, args=args, data_collator=lambda _: {})
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=row["dtype"] == "bf16")

    def train_step(name: str):
        trainer = trainers[name]
        with autocast:
            trainer.training_step(trainer.model, dict(inputs[name]))
        trainer.optimizer.step()
        trainer.model.zero_grad(set_to_none=True)

    def generate(name: str):
        model = trainers[name].model.eval()
        batch = {key: value for key, value in inputs[name].items() if key != "labels"}
        with torch.inference_mode(), autocast:
            model.generate(**batch, do_sample=False, max_new_tokens=row["label_tokens"],
                           min_new_tokens=row["label_tokens"])  # fmt: skip

    flops = {}
    for name, trainer in trainers.items():
        trainer.create_optimizer()
        trainer.current_gradient_accumulation_steps = 1  # what train() sets before each step
        with FlopCounterMode(display=False) as counter:
            train_step(name)
        flops[name] = counter.get_total_flops()
    result = {"attn_implementation": unimse.config._attn_implementation, "flop_ratio": flops["unimse"] / flops["t5"]}
    for phase, fn in (("step", train_step), ("generate", generate)):
        seconds = {"t5": [], "unimse": []}
        for pair in range(row["pairs"] + 1):  # the first pair warms up
            for name in ("t5", "unimse") if pair % 2 == 0 else ("unimse", "t5"):
                elapsed = _seconds(functools.partial(fn, name))
                if pair:
                    seconds[name].append(elapsed)
        ratios = [u / t for u, t in zip(seconds["unimse"], seconds["t5"], strict=True)]
        result |= {
            f"t5_{phase}_seconds": statistics.median(seconds["t5"]),
            f"unimse_{phase}_seconds": statistics.median(seconds["unimse"]),
            f"{phase}_ratios": [round(ratio, 4) for ratio in ratios],
            f"{phase}_ratio": statistics.median(ratios),
        }
    return result | {"peak_rss_mib": round(peak_rss_mib(), 1)}


RUNNERS = {"train": run_train, "generate": run_generate, "overhead": run_overhead}


def run_row(row: dict, fresh_process: bool = True) -> dict:
    """``row`` in a fresh Python process (or in this one: ``--quick``, whose peak RSS is then the run's); returns
    the row with its results and the load average before it."""
    load = os.getloadavg()[0]
    if not fresh_process:
        return {
            **row,
            **RUNNERS[row["kind"]](row),
            "load_before": round(load, 2),
        }
    done = subprocess.run(
        [sys.executable, __file__, "--row", json.dumps(row), "--threads", str(torch.get_num_threads())],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"row {row} failed:\n{done.stderr[-4000:]}")
    return {**row, **json.loads(done.stdout.strip().splitlines()[-1]), "load_before": round(load, 2)}


def best_round(results: list[dict]) -> dict:
    """The fastest of a row's rounds (the one least slowed by other jobs on shared cores), with every round's
    seconds under ``round_seconds`` and the highest peak RSS; an ``overhead`` row pools the pairs of its rounds."""
    if results[0]["kind"] == "overhead":
        pooled = dict(results[0], peak_rss_mib=max(result["peak_rss_mib"] for result in results))
        for phase in ("step", "generate"):
            pooled[f"{phase}_ratios"] = [ratio for result in results for ratio in result[f"{phase}_ratios"]]
            pooled[f"{phase}_ratio"] = statistics.median(pooled[f"{phase}_ratios"])
            for name in ("t5", "unimse"):
                key = f"{name}_{phase}_seconds"
                pooled[key] = statistics.median(result[key] for result in results)
        return pooled
    key = "seconds_per_step" if results[0]["kind"] == "train" else "seconds_per_batch"
    best = dict(min(results, key=lambda result: result[key]))
    best["round_seconds"] = [round(result[key], 4) for result in results]
    best["peak_rss_mib"] = max(result["peak_rss_mib"] for result in results)
    return best


def plan(args) -> list[dict]:
    """The rows of a run (those of ``args.kinds``): per size and batch, the training steps, the generations, then
    the fusion overhead."""
    shape = dict(tokens=args.tokens, frames=args.frames, target_tokens=args.target_tokens)
    label_tokens = package_label_tokens()
    rows = []
    for size in args.sizes:
        for batch in args.batches:
            at = dict(size=size, batch=batch, **shape)
            for model, trainable, dtype, cache in (
                ("t5", "paper", "fp32", False), ("t5", "paper", "bf16", False), ("unimse", "paper", "fp32", False),
                ("unimse", "paper", "bf16", False), ("unimse", "paper", "bf16", True), ("unimse", "all", "bf16", False),
                ("unimse", "lora", "bf16", False),
            ):  # fmt: skip
                rows.append(dict(kind="train", model=model, trainable=trainable, dtype=dtype, cache=cache,
                                 steps=args.steps, **at))  # fmt: skip
            for labels, dtype, beams in (
                ("official", "fp32", 1), ("package", "fp32", 1), ("package", "bf16", 1),
                ("package", "bf16-weights", 1), ("package", "bf16-weights", 4),
            ):  # fmt: skip
                tokens = LABEL_TOKENS[labels] or label_tokens
                rows.append(dict(kind="generate", labels=labels, dtype=dtype, beams=beams, label_tokens=tokens,
                                 repeats=args.repeats, **at))  # fmt: skip
            for dtype in ("fp32", "bf16"):
                rows.append(dict(kind="overhead", dtype=dtype, pairs=args.steps + 2, label_tokens=label_tokens, **at))
    return [row for row in rows if row["kind"] in args.kinds]


def summarise(rows: list[dict], peaks: dict[str, float]) -> dict:
    """Add MFU to the training rows and the ratios the targets are stated in, per size and batch."""
    for row in rows:
        if row["kind"] == "train":
            achieved = row["flops_per_step"] / row["seconds_per_step"] / 1e9
            row["gflops_per_second"] = round(achieved, 1)
            row["mfu"] = round(achieved / peaks[row["dtype"]], 4)
            row["mfu_vs_bf16_peak"] = round(achieved / peaks["bf16"], 4)
    ratios = {}
    for size in dict.fromkeys(row["size"] for row in rows):
        for batch in dict.fromkeys(row["batch"] for row in rows):

            def find(size=size, batch=batch, **match):
                matching = (
                    row for row in rows if all(row.get(k) == v for k, v in dict(match, size=size, batch=batch).items())
                )
                return next(matching, None)

            t5_fp32 = find(kind="train", model="t5", trainable="paper", dtype="fp32")
            uni_bf16 = find(kind="train", model="unimse", trainable="paper", dtype="bf16", cache=False)
            cached = find(kind="train", model="unimse", trainable="paper", dtype="bf16", cache=True)
            official = find(kind="generate", labels="official")
            greedy = find(kind="generate", labels="package", dtype="bf16-weights", beams=1)
            overhead = {dtype: find(kind="overhead", dtype=dtype) for dtype in ("fp32", "bf16")}
            found = {}
            if t5_fp32 and uni_bf16 and cached:
                # the first epoch fills the cache at about the uncached step's cost, the others hit it
                epochs = PAPER_EPOCHS
                amortised = (uni_bf16["seconds_per_step"] + (epochs - 1) * cached["seconds_per_step"]) / epochs
                found |= {
                    "speedup_recommended_vs_plain_t5_fp32": t5_fp32["seconds_per_step"] / cached["seconds_per_step"],
                    f"speedup_recommended_over_{epochs}_epochs": t5_fp32["seconds_per_step"] / amortised,
                    "speedup_bf16_uncached_vs_plain_t5_fp32": (
                        t5_fp32["seconds_per_step"] / uni_bf16["seconds_per_step"]
                    ),
                    "peak_rss_recommended_over_plain_t5_fp32": cached["peak_rss_mib"] / t5_fp32["peak_rss_mib"],
                    "frozen_prefix_share_of_bf16_step": (
                        uni_bf16["frozen_prefix_seconds"] / uni_bf16["seconds_per_step"]
                    ),
                }
            for dtype, row in overhead.items():
                if row:
                    found[f"fusion_overhead_{dtype}"] = row["step_ratio"]
                    found[f"fusion_flop_ratio_{dtype}"] = row["flop_ratio"]
                    found[f"fusion_overhead_generation_{dtype}"] = row["generate_ratio"]
            if official and greedy:
                found["generation_speedup_recommended_vs_official_fp32"] = (
                    greedy["utterances_per_second"] / official["utterances_per_second"]
                )
            if found:
                ratios[f"{size}_b{batch}"] = {name: round(value, 3) for name, value in found.items()}
    return ratios


def markdown(rows: list[dict], ratios: dict, peaks: dict[str, float], embedding: dict | None, media: dict) -> str:
    lines = [f"matmul peaks (GFLOP/s): fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f}"]
    kinds = {row["kind"] for row in rows}
    if "train" in kinds:
        lines += [
            "",
            "| size | batch | row | dtype | s/step | GFLOP/step | MFU | MFU vs bf16 peak | peak RSS MiB | load |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    for row in rows:
        if row["kind"] == "train":
            name = f"{'plain T5' if row['model'] == 't5' else 'UniMSE'} train, {row['trainable']}"
            name += ", cached prefix" if row.get("cache") else ""
            lines.append(
                f"| {row['size']} | {row['batch']} | {name} | {row['dtype']} | {row['seconds_per_step']:.3f} | "
                f"{row['flops_per_step'] / 1e9:.1f} | {row['mfu']:.1%} | {row['mfu_vs_bf16_peak']:.1%} | "
                f"{row['peak_rss_mib']:.0f} | {row['load_before']} |"
            )
    if "generate" in kinds:
        lines += [
            "",
            "| size | batch | generation | dtype | beams | tokens/sample | utt/s | peak RSS MiB | load |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
    for row in rows:
        if row["kind"] == "generate":
            labels = "official unrounded (max 20)" if row["labels"] == "official" else "package labels"
            lines.append(
                f"| {row['size']} | {row['batch']} | {labels} | {row['dtype']} | {row['beams']} | "
                f"{row['tokens_per_sample']} | {row['utterances_per_second']:.1f} | {row['peak_rss_mib']:.0f} | "
                f"{row['load_before']} |"
            )
    if "overhead" in kinds:
        lines += [
            "",
            "| size | batch | fusion overhead | dtype | plain T5 s | UniMSE s | UniMSE / T5, median of pairs (range) "
            "| FLOP ratio |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for row in rows:
        if row["kind"] == "overhead":
            for phase, flop_ratio in (("step", f"{row['flop_ratio']:.3f}"), ("generate", "")):
                pairs = row[f"{phase}_ratios"]
                lines.append(
                    f"| {row['size']} | {row['batch']} | {'train step' if phase == 'step' else 'greedy generation'} "
                    f"| {row['dtype']} | {row[f't5_{phase}_seconds']:.3f} | {row[f'unimse_{phase}_seconds']:.3f} | "
                    f"{row[f'{phase}_ratio']:.3f} ({min(pairs):.3f}-{max(pairs):.3f}, {len(pairs)} pairs) | "
                    f"{flop_ratio} |"
                )
    if ratios:
        names = list(dict.fromkeys(name for values in ratios.values() for name in values))
        lines += ["", "| ratio | " + " | ".join(ratios) + " |", "|---" * (len(ratios) + 1) + "|"]
        for name in names:
            lines.append(f"| {name} | " + " | ".join(str(values.get(name, "")) for values in ratios.values()) + " |")
    if embedding is None:
        lines += ["", "pseudo-label embedding of the training pools: not run (pass --embedding-data DIR)"]
    else:
        lines += ["", "pseudo-label embedding of the training pools: see `embedding` in the JSON"]
    if "skipped" in media:
        lines += ["", f"raw-media extraction: skipped ({media['skipped']})"]
    else:
        lines += ["", _sibling("media_speed").markdown(media)]
    return "\n".join(lines)


def _sibling(name: str):
    """The benchmark module ``name`` next to this file."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def embedding_rows(data_dir: str | None) -> dict | None:
    """:func:`embedding_speed.measure` on ``data_dir``, or ``None`` without data."""
    return None if data_dir is None else _sibling("embedding_speed").measure(data_dir)


def media_rows(seconds: float, repeats: int) -> dict:
    """:func:`media_speed.measure`, or ``{"skipped": reason}`` without the media extra."""
    missing = [name for name in ("av", "opensmile", "cv2", "skimage") if importlib.util.find_spec(name) is None]
    if missing:
        return {"skipped": f"not installed: {', '.join(missing)} (pip install 'unimse-hf[media]' scikit-image)"}
    return _sibling("media_speed").measure(seconds, repeats)


def machine() -> dict:
    """The CPU (name, and family/model numbers, which tell generations apart where the name does not: "AMD EPYC"
    is family 25 for Zen 4, 26 for Zen 5), its relevant flags and the software versions."""
    flags, numbers = set(), {}
    model = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name":
                model = value
            elif key in ("cpu family", "model") and value.isdigit():
                numbers.setdefault(key.replace(" ", "_") if key != "model" else "cpu_model", int(value))
            elif key == "flags":
                flags = set(value.split())
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
    return {
        "cpu": model,
        **numbers,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "flags": [flag for flag in wanted if flag in flags],
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every row on a tiny config (smoke test)")
    parser.add_argument("--kinds", nargs="+", choices=RUNNERS, default=list(RUNNERS), help="which rows to run")
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=["small", "base"])
    parser.add_argument("--batches", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--tokens", type=int, default=64, help="text tokens per sample")
    parser.add_argument("--frames", type=int, default=150, help="acoustic frames per sample (visual: a fifth)")
    parser.add_argument("--target-tokens", type=int, default=12)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per row (after two untimed)")
    parser.add_argument("--repeats", type=int, default=3, help="timed generations per row (after one untimed)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over all rows; each row keeps its fastest")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of every row (default: torch's)")
    parser.add_argument("--embedding-data", default=None, help="corpora folder for the pseudo-label embedding row")
    parser.add_argument("--json", default=None, help="also write the JSON here")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # one row, in this process
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.row is not None:
        row = json.loads(args.row)
        print(json.dumps(RUNNERS[row["kind"]](row)))
        return
    if args.quick:
        args.sizes, args.batches, args.tokens, args.frames, args.target_tokens = ["tiny"], [2], 8, 10, 4
        args.steps, args.repeats, args.rounds = 1, 1, 1
    peaks = matmul_peaks(512 if args.quick else 2048)
    rows = plan(args)
    rounds = [[] for _ in rows]
    for _ in range(args.rounds):  # whole passes over the rows: a load change hits every row of a pass alike
        for index, row in enumerate(rows):
            rounds[index].append(run_row(row, fresh_process=not args.quick))
            print(json.dumps(rounds[index][-1]), file=sys.stderr, flush=True)  # progress; what a cut-off run measured
    rows = [best_round(results) for results in rounds]
    ratios = summarise(rows, peaks)
    embedding = embedding_rows(args.embedding_data)
    media = media_rows(2.0 if args.quick else 20.0, 1 if args.quick else 3)
    result = {
        "machine": machine(),
        "matmul_peak_gflops": {name: round(value, 1) for name, value in peaks.items()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "rows": rows,
        "ratios": ratios,
        "embedding": embedding,
        "media": media,
    }
    text = json.dumps(result, indent=2)
    print(text)
    print()
    print(markdown(rows, ratios, peaks, embedding, media))
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
