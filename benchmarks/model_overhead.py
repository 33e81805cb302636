"""Cost of UniMSE's additions (LSTM modality encoders + PMF fusion) over the plain T5 it wraps.

Runs both models with the same T5 weights, in one process, interleaved, and prints JSON: median seconds per
training step (forward + backward) and per greedy generation, the modality encoders alone, and the UniMSE/T5
ratios (ratios taken in one run are what to compare across machines; absolute seconds are not). Random weights,
no download.

    python benchmarks/model_overhead.py --size small --batch 16 --repeats 5
"""

import argparse
import json
import os
import platform
import resource
import statistics
import time

import torch
from transformers import T5Config, T5ForConditionalGeneration

from unimse_hf import UniMSEConfig, UniMSEForConditionalGeneration

SIZES = {  # T5 architectures (random weights)
    "tiny": dict(d_model=128, d_kv=32, d_ff=512, num_layers=4, num_heads=4),
    "small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8),
    "base": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12),
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def interleaved_medians(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, alternating between them each repeat so load drifts hit both alike."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64, help="input tokens per sample")
    parser.add_argument("--frames", type=int, default=150, help="acoustic/visual frames per sample (max)")
    parser.add_argument("--target-tokens", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    t5_config = dict(SIZES[args.size], vocab_size=32128, dropout_rate=0.1, decoder_start_token_id=0)
    t5 = T5ForConditionalGeneration(T5Config(**t5_config))
    unimse = UniMSEForConditionalGeneration(UniMSEConfig(**t5_config, fusion_init="random"))
    unimse.load_state_dict(t5.state_dict(), strict=False)

    g = torch.Generator().manual_seed(1)
    b = args.batch
    text = {
        "input_ids": torch.randint(2, 32000, (b, args.tokens), generator=g),
        "attention_mask": torch.ones(b, args.tokens, dtype=torch.long),
    }
    labels = torch.randint(2, 32000, (b, args.target_tokens), generator=g)
    lengths = torch.randint(args.frames // 3, args.frames + 1, (b,), generator=g)
    mask = (torch.arange(args.frames)[None] < lengths[:, None]).long()
    modalities = {
        "acoustic_features": torch.randn(b, args.frames, 64, generator=g) * mask[..., None],
        "acoustic_mask": mask,
        "visual_features": torch.randn(b, args.frames, 64, generator=g) * mask[..., None],
        "visual_mask": mask,
    }

    def train_step(model, inputs):
        def run():
            model.zero_grad(set_to_none=True)
            model(**inputs, labels=labels).loss.backward()

        return run

    def generate(model, inputs):
        def run():
            with torch.inference_mode():
                model.generate(
                    **inputs, max_new_tokens=args.target_tokens, min_new_tokens=args.target_tokens, do_sample=False
                )

        return run

    def modality_encoders():
        with torch.inference_mode():
            for name in ("acoustic", "visual"):
                lengths = modalities[f"{name}_mask"].sum(1)
                getattr(unimse.encoder, f"{name}_encoder")(modalities[f"{name}_features"], lengths)

    results = {}
    for phase, make in (("train_step", train_step), ("generate", generate)):
        for model in (t5, unimse):
            model.train(phase == "train_step")
        medians = interleaved_medians(
            {"t5": make(t5, text), "unimse": make(unimse, {**text, **modalities})}, args.repeats
        )
        results.update({f"{phase}_{name}_s": round(value, 4) for name, value in medians.items()})
        results[f"{phase}_ratio_unimse_over_t5"] = round(medians["unimse"] / medians["t5"], 3)
    unimse.eval()
    results["modality_encoders_inference_s"] = round(
        interleaved_medians({"lstm": modality_encoders}, args.repeats)["lstm"], 4
    )
    results["peak_rss_mib"] = round(peak_rss_mib(), 1)

    added = sum(p.numel() for p in unimse.parameters()) - sum(p.numel() for p in t5.parameters())
    print(
        json.dumps(
            {
                "what": "median wall seconds over --repeats (T5 and UniMSE alternated) after one warm-up each; same T5 "
                "weights; CPU; random weights",
                "size": args.size,
                "batch": b,
                "tokens": args.tokens,
                "frames_max": args.frames,
                "target_tokens": args.target_tokens,
                "repeats": args.repeats,
                "threads": args.threads,
                "fusion_layers": unimse.config.fusion_layers,
                "added_parameters": added,
                "torch": torch.__version__,
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
