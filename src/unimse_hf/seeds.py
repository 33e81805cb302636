"""Several seeds of one training run, summarised: ``unimse-hf train CONFIG --seeds 1 2 3``.

Each seed is a full :func:`~unimse_hf.train.run_training` run into ``<output_dir>/seed-<n>/`` (model, card, results
JSON). ``<output_dir>`` then gets ``seeds_summary.json`` (per metric: mean, sample standard deviation (ddof=1), the
number ``n`` of seeds with a finite value, and the value of each seed), ``seeds_summary.md`` (the per-corpus dev/test
metrics and ``dev_score`` as mean ± std) and a ``README.md`` card with that table.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import CardData, ModelCard

from .citations import CITATIONS, CORPUS_LICENSES
from .labels import CORPORA
from .model_card import CORPUS_NAMES, markdown_table
from .train import parse_config, run_training

SUMMARY_JSON = "seeds_summary.json"
SUMMARY_MARKDOWN = "seeds_summary.md"
#: per-corpus counts that do not depend on the seed: in the JSON, not in the table
COUNT_METRICS = ("num_samples", "no_reference")
CARD_TAGS = ["unimse", "multimodal-sentiment-analysis", "emotion-recognition-in-conversation", "seeds-summary"]


def run_seeds(config_file: str | Path | None, overrides: list[str], seeds: Sequence[int]) -> dict[str, Any]:
    """Train once per seed into ``<output_dir>/seed-<n>/``, then write and print the summary; returns it."""
    seeds = list(seeds)
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"train: --seeds must be distinct, got {seeds}")
    for option in ("--seed", "--resume_from_checkpoint"):
        if any(value == option or value.startswith(f"{option}=") for value in overrides):
            raise SystemExit(f"train: --seeds {' '.join(map(str, seeds))} and {option} cannot be used together: "
                             f"--seeds sets the seed of each run and starts each from scratch")  # fmt: skip
    _, data_args, args, *_ = parse_config(config_file, overrides)  # model, data, training (, more) arguments
    output_dir = Path(args.output_dir)
    results = {}
    for seed in seeds:
        run_overrides = [*overrides, "--seed", str(seed), "--output_dir", str(output_dir / f"seed-{seed}")]
        results[seed] = run_training(*parse_config(config_file, run_overrides))
    summary = summarise(results)
    table = summary_table(summary)
    if args.should_save:
        dataset_id = data_args.dataset_name if not Path(str(data_args.dataset_name)).exists() else None
        write_summary(output_dir, summary, table, dataset_id=dataset_id)
    print(table)
    return summary


def summarise(results: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """``{"seeds", "std", "metrics": {name: {"mean", "std", "n", "values": {seed: value}}}}`` over per-seed results.

    ``std`` is the sample standard deviation (ddof=1; ``None`` with fewer than two values). Non-numeric, boolean and
    NaN/infinite values are left out of the mean and std (``None`` in ``values``, not counted in ``n``).
    """
    names: list[str] = []
    for metrics in results.values():
        names += [name for name in metrics if name not in names]
    summary: dict[str, Any] = {}
    for name in names:
        values = {str(seed): _finite(metrics.get(name)) for seed, metrics in results.items()}
        numbers = [value for value in values.values() if value is not None]
        summary[name] = {
            "mean": statistics.fmean(numbers) if numbers else None,
            "std": statistics.stdev(numbers) if len(numbers) > 1 else None,
            "n": len(numbers),
            "values": values,
        }
    std = "sample standard deviation (ddof=1) over the seeds with a finite value"
    return {"seeds": [int(seed) for seed in results], "std": std, "metrics": summary}


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def table_metrics(names: Sequence[str]) -> list[str]:
    """The table's rows: per split prefix (``eval``, ``test``), each corpus' metrics (counts left out), then
    ``dev_score``."""
    rows = []
    for prefix in ("eval", "test"):
        for corpus in CORPORA:
            start = f"{prefix}_{corpus}_"
            rows += [name for name in names if name.startswith(start) and name[len(start) :] not in COUNT_METRICS]
        rows += [name for name in names if name == f"{prefix}_dev_score"]
    return rows


def _cell(value: float | None) -> str:
    """Floats to 4 decimals, integers as they are, ``None`` (no finite value) as ``-``."""
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def summary_table(summary: Mapping[str, Any]) -> str:
    """Markdown table ``metric | mean ± std | n | seed <s> ...`` of :func:`table_metrics`."""
    metrics = summary["metrics"]
    seeds = [str(seed) for seed in summary["seeds"]]
    rows = []
    for name in table_metrics(list(metrics)):
        entry = metrics[name]
        mean_std = f"{_cell(entry['mean'])} ± {_cell(entry['std'])}"
        rows.append([name, mean_std, str(entry["n"]), *(_cell(entry["values"][seed]) for seed in seeds)])
    return markdown_table(["metric", "mean ± std", "n", *(f"seed {seed}" for seed in seeds)], rows)


def write_summary(output_dir: str | Path, summary: Mapping[str, Any], table: str | None = None,
                  dataset_id: str | None = None) -> list[Path]:  # fmt: skip
    """Write ``seeds_summary.json``, ``seeds_summary.md`` and the ``README.md`` card; returns their paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    table = summary_table(summary) if table is None else table
    seeds = summary["seeds"]
    intro = (f"{len(seeds)} training runs that differ only in the seed ({', '.join(map(str, seeds))}), each in "
             f"`seed-<n>/`. Mean ± {summary['std']}; `n` counts the seeds with a finite value.")  # fmt: skip
    json_path, markdown_path, card_path = (output_dir / name for name in (SUMMARY_JSON, SUMMARY_MARKDOWN, "README.md"))
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    markdown_path.write_text(f"# Results over seeds\n\n{intro}\n\n{table}\n")
    summary_card(summary, table, intro, dataset_id).save(card_path)
    return [json_path, markdown_path, card_path]


def summary_card(summary: Mapping[str, Any], table: str, intro: str, dataset_id: str | None = None) -> ModelCard:
    """A small model card for the seeds folder: YAML metadata, the mean ± std table, corpus licences, citations."""
    corpora = [corpus for corpus in CORPORA if any(f"_{corpus}_" in name for name in summary["metrics"])]
    data = CardData(library_name="unimse-hf", tags=list(CARD_TAGS), datasets=[dataset_id] if dataset_id else None)
    names = ", ".join(CORPUS_NAMES[corpus] for corpus in corpora) or "the unified dataset"
    licences = "\n".join(f"- **{CORPUS_NAMES[corpus]}**: {CORPUS_LICENSES[corpus][1]}" for corpus in corpora)
    citations = "\n".join(CITATIONS[key] for key in ["unimse", *corpora])
    body = (
        f"# UniMSE on {names}: results over {len(summary['seeds'])} seeds\n\n{intro}\n\n"
        f"## Results\n\n{table}\n\n"
        + (f"## Corpus licences\n\n{licences}\n\n" if licences else "")
        + f"## Citation\n\n```bibtex\n{citations}\n```\n"
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")
