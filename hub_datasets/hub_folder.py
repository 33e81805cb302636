"""A Hub-ready dataset folder: parquet shards per config and split, ``build_info/<config>.json`` and a card.

Layout (``datasets`` 4+/5 loads it from the card's YAML ``configs:``, with no loading script)::

    <folder>/README.md                               dataset card; its YAML ``configs:`` lists every config
    <folder>/<config>/<split>-00000-of-00001.parquet one or more shards per split
    <folder>/build_info/<config>.json                how the config was built (sources + sha256, report, ...)

Several builds can write into one folder (e.g. ``meld``, ``mosi`` and ``moseld``); each write replaces its
own config and regenerates the card from every ``build_info/*.json`` present.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from datasets import DatasetDict
from huggingface_hub import DatasetCard, DatasetCardData

from unimse_hf.citations import CITATIONS, CORPUS_LICENSES
from unimse_hf.data.report import BuildReport

BUILD_INFO_DIR = "build_info"

OFFICIAL_LABELS_NOTE = (
    "Official v4 universal labels come from LeMei/UniMSE pull request #19 (commit cae0438), which has no "
    "licence: research use only, cite Hu et al. (2022)."
)


def write_config(
    folder: str | Path,
    config_name: str,
    dataset: DatasetDict,
    build_info: Mapping,
    *,
    max_rows_per_shard: int = 20_000,
    default_config: str | None = None,
) -> DatasetCard:
    """Write ``dataset`` as config ``config_name`` of the Hub folder ``folder`` and regenerate the card.

    Args:
        folder: the Hub folder (created if needed).
        config_name: config name (also the sub-folder of its parquet shards).
        dataset: the splits to write. Empty splits are not written (``datasets.load_dataset`` refuses a split
            without rows); they are listed as ``empty_splits`` in the build info and the card.
        build_info: JSON-ready description of the build; must hold ``corpora`` (list of corpus names).
            ``rows`` (split -> count) is added here. Stored as ``build_info/<config>.json``.
        max_rows_per_shard: rows per parquet shard (a split of n rows gets ``ceil(n / max)`` shards).
        default_config: config marked ``default: true`` in the card (default: the first in sorted order).

    Returns:
        The regenerated :class:`~huggingface_hub.DatasetCard` (also saved as ``README.md``).
    """
    if max_rows_per_shard < 1:
        raise ValueError(f"max_rows_per_shard must be >= 1, got {max_rows_per_shard}")
    if "corpora" not in build_info:
        raise ValueError(f"build_info must hold 'corpora', got keys {sorted(build_info)}")
    folder = Path(folder)
    config_dir = folder / config_name
    config_dir.mkdir(parents=True, exist_ok=True)
    for old in config_dir.glob("*.parquet"):
        old.unlink()
    written = {split: ds for split, ds in dataset.items() if len(ds)}
    if not written:
        raise ValueError(f"dataset must hold at least one row to write config {config_name!r}, got none")
    for split, ds in written.items():
        num_shards = max(1, math.ceil(len(ds) / max_rows_per_shard))
        for index in range(num_shards):
            shard = ds.shard(num_shards=num_shards, index=index, contiguous=True)
            shard.to_parquet(str(config_dir / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"))
    info = {
        **build_info,
        "config": config_name,
        "splits": list(written),
        "rows": {split: len(ds) for split, ds in written.items()},
        "empty_splits": [split for split in dataset if split not in written],
    }
    info_dir = folder / BUILD_INFO_DIR
    info_dir.mkdir(exist_ok=True)
    (info_dir / f"{config_name}.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    card = build_card(read_build_infos(folder), default_config=default_config)
    card.save(folder / "README.md")
    return card


def read_build_infos(folder: str | Path) -> dict[str, dict]:
    """config name -> build info of every config of the Hub folder ``folder`` (sorted by name)."""
    info_dir = Path(folder) / BUILD_INFO_DIR
    infos = {path.stem: json.loads(path.read_text()) for path in sorted(info_dir.glob("*.json"))}
    if not infos:
        raise FileNotFoundError(f"folder {str(folder)!r} holds no {BUILD_INFO_DIR}/*.json: not a Hub folder")
    return infos


def folder_corpora(folder: str | Path) -> set[str]:
    """Every corpus contained in any config of the Hub folder ``folder``."""
    return {corpus for info in read_build_infos(folder).values() for corpus in info["corpora"]}


def _configs_yaml(infos: Mapping[str, dict], default_config: str) -> list[dict]:
    configs = []
    for name, info in infos.items():
        entry: dict = {
            "config_name": name,
            "data_files": [{"split": split, "path": f"{name}/{split}-*"} for split in info["splits"]],
        }
        if name == default_config:
            entry["default"] = True
        configs.append(entry)
    return configs


def _card_body(infos: Mapping[str, dict]) -> str:
    corpora = sorted({c for info in infos.values() for c in info["corpora"]})
    lines = [
        "# UniMSE unified corpora",
        "",
        "MOSI, MOSEI, MELD and IEMOCAP rows in one schema, with the universal labels of UniMSE (Hu et al., "
        'EMNLP 2022): `"{polarity},{score},{meld_emotion},{iemocap_emotion}"`. Built with '
        "`unimse-hf build-dataset`; load a config with `datasets.load_dataset(<repo or folder>, <config>)`.",
        "",
        "Each label field has an `*_origin` column: `gold` (the corpus's own annotation), `pseudo` (filled by "
        "pseudo-labelling or the official v4 labels) or `missing`. Only gold fields are meant for evaluation.",
        "",
        "## Configs",
        "",
        "| config | corpora | rows per split |",
        "|---|---|---|",
    ]
    for name, info in infos.items():
        rows = ", ".join(f"{split} {info['rows'][split]:,}" for split in info["splits"])
        empty = "".join(f", {split} (no rows, not written)" for split in info.get("empty_splits", []))
        lines.append(f"| `{name}` | {', '.join(info['corpora'])} | {rows}{empty} |")
    lines += ["", "## Licences", ""]
    lines += [f"- **{c}**: {CORPUS_LICENSES[c][1]}" for c in corpora]
    if any(info.get("pseudo_labels", {}).get("method") == "official" for info in infos.values()):
        lines.append(f"- {OFFICIAL_LABELS_NOTE}")
    for name, info in infos.items():
        lines += ["", f"## Config `{name}`", "", "### Pseudo-labels", ""]
        lines.append(f"```json\n{json.dumps(info.get('pseudo_labels', {}), indent=2, sort_keys=True)}\n```")
        lines += ["", "### Features", ""]
        features = info.get("features") or {}
        if features:
            lines += [f"- `{modality}`: {json.dumps(desc, sort_keys=True)}" for modality, desc in features.items()]
        else:
            lines.append("Text and labels only (no acoustic/visual frame features).")
        lines += ["", "### Sources (sha256)", ""]
        for corpus, files in info.get("sources", {}).items():
            lines += [f"- `{corpus}` `{path}`: `{digest}`" for path, digest in files.items()]
        lines += ["", "### Build report", ""]
        lines.append(BuildReport.from_records(info.get("report", [])).to_markdown())
    lines += ["", "## Citations", "", "```bibtex", CITATIONS["unimse"]]
    lines += [CITATIONS[c] for c in corpora]
    lines += ["```", ""]
    return "\n".join(lines)


def build_card(infos: Mapping[str, dict], *, default_config: str | None = None) -> DatasetCard:
    """The dataset card of a Hub folder from its configs' build infos (see :func:`read_build_infos`)."""
    if not infos:
        raise ValueError("infos must describe at least one config, got none")
    default_config = default_config or sorted(infos)[0]
    if default_config not in infos:
        raise ValueError(f"default_config must be one of {sorted(infos)}, got {default_config!r}")
    corpora = sorted({c for info in infos.values() for c in info["corpora"]})
    licenses = sorted({CORPUS_LICENSES[c][0] for c in corpora})
    data = DatasetCardData(
        language=["en"],
        license=licenses[0] if len(licenses) == 1 else licenses,
        pretty_name="UniMSE unified corpora (MOSI, MOSEI, MELD, IEMOCAP)",
        task_categories=["text-classification"],
        tags=["multimodal", "sentiment-analysis", "emotion-recognition", "unimse", *corpora],
        configs=_configs_yaml(infos, default_config),
    )
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{_card_body(infos)}")
