"""Build a config of the unified dataset end to end: read, filter, pseudo-label, mix, write, push.

Used by ``unimse-hf build-dataset``. A config is a single corpus (``mosi``, ``mosei``, ``meld``,
``iemocap``) or a mixture (``mos``, ``moseld``, ``moseldmp``; :data:`unimse_hf.data.mixtures.MIXTURES`).

- A single corpus needs no model and no network: its own gold fields only, the others ``None`` with
  origin ``"missing"`` and no universal label — unless ``pseudo_labels`` is given.
- ``pseudo_labels="official"`` fills the missing fields from the official v4 CSVs
  (:mod:`.official_labels`); any other value is an encoder path or Hub id used by
  :func:`unimse_hf.data.pseudo_labels.assign_pseudo_labels` (donors = the training rows of every corpus read).
- Sources of corpora that are not members of the config only serve as pseudo-label donors (e.g. build
  ``mos`` with MELD and IEMOCAP as donors of the emotion fields).
- A mixture needs ``pseudo_labels``: its training rows must carry universal labels; training rows left
  without one (e.g. a v4 IEMOCAP label outside the 6 classes, the official ``label_filter`` case) are dropped
  and counted. A single-corpus build keeps such rows with ``universal_label = None`` (counted as notes).
- Every step's drops and special cases go to one :class:`unimse_hf.data.report.BuildReport`, saved in
  ``build_info/<config>.json`` and rendered in the dataset card.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from datasets import DatasetDict
from huggingface_hub import HfApi
from tqdm.auto import tqdm

from unimse_hf import __version__
from unimse_hf.data.embeddings import TextEmbedder
from unimse_hf.data.frame_features import align_frame_features
from unimse_hf.data.mixtures import CONFIGS, build_mixture, filter_evaluated_labels
from unimse_hf.data.pseudo_labels import EmbedFn, assign_pseudo_labels
from unimse_hf.data.report import BuildReport
from unimse_hf.data.schema import CORPORA, MODALITIES, rows_to_dataset_dict
from unimse_hf.data.universal_labels import PLACEHOLDER_TARGETS, write_universal_labels

from .features import attach_features
from .hub_folder import write_config
from .official_labels import OFFICIAL_CORPORA, apply_official_labels, official_label_files
from .publish import push_hub_folder
from .raw_media import RAW_MEDIA_FORMAT, load_raw_media_features
from .readers import READERS

OFFICIAL = "official"
#: a reader's ``features`` argument: one file/folder, or one per modality (``.csd`` files).
FeatureSource = str | Path | Mapping[str, str | Path]


@dataclass
class BuildResult:
    """What :func:`build_dataset` built: the splits, the report, the build info, the folder and the push URL."""

    config: str
    dataset: DatasetDict
    report: BuildReport
    info: dict
    folder: Path
    url: str | None = None


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of the file ``path``."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def read_corpus(
    corpus: str,
    source: str | Path,
    features: FeatureSource | None,
    report: BuildReport,
    show_progress: bool,
    feature_format: str | None = None,
    *,
    media_settings=None,
    media_cache: str | Path | None = None,
) -> tuple[DatasetDict, dict[str, str], dict[str, str]]:
    """Read one corpus with its ``hub_datasets`` reader.

    Args:
        corpus: corpus name (a key of ``hub_datasets.READERS``).
        source: the reader's source path.
        features: the reader's frame-feature path (or ``{"acoustic": path, "visual": path}``), or ``None``.
        report: receives the reader's counts (step ``read``).
        show_progress: show the hashing progress bar.
        feature_format: the reader's ``feature_format`` (``None``: detected), or ``"raw-media"``: ``features`` is
            the corpus's raw media folder and the frames are extracted from it (:mod:`hub_datasets.raw_media`).
        media_settings: :class:`unimse_hf.media.MediaSettings` of a ``"raw-media"`` extraction (default: its
            defaults).
        media_cache: the feature cache folder of a ``"raw-media"`` extraction (default: ``default_cache_dir()``).

    Returns:
        ``(splits, sha256 per source file relative to the source folder, modality -> feature set)``.
    """
    if corpus not in READERS:
        raise ValueError(f"no reader for corpus {corpus!r} yet; readers exist for {sorted(READERS)}")
    if feature_format == RAW_MEDIA_FORMAT:
        if features is None or isinstance(features, Mapping):
            raise ValueError(f"feature_format {RAW_MEDIA_FORMAT!r} of {corpus} needs one raw media folder as features")
        rows, read_report = READERS[corpus](source)
        tables = load_raw_media_features(
            rows, corpus, features, read_report, settings=media_settings, cache_dir=media_cache,
            show_progress=show_progress,
        )  # fmt: skip
        attach_features(rows, tables, read_report)
    else:
        rows, read_report = READERS[corpus](source, features=features, feature_format=feature_format)
    report.update(BuildReport.from_records(read_report.to_records()))
    files = sorted({Path(p) for p in read_report.sources.values() if Path(p).is_file()})
    bar = tqdm(files, desc=f"sha256 {corpus} sources", disable=not show_progress)
    hashes = {_source_name(p, source): sha256_file(p) for p in bar}
    return rows_to_dataset_dict(rows), hashes, dict(read_report.feature_sets)


def _source_name(path: Path, source: str | Path) -> str:
    """``path`` relative to the source folder (the card must not expose local absolute paths)."""
    root = Path(source)
    root = root.parent if root.is_file() else root
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _model_provenance(model: str) -> dict:
    """How the card names the encoder: a Hub id as given; a local folder by its name and weight sha256s
    (the card must not expose local absolute paths)."""
    path = Path(model)
    if not path.is_dir():
        return {"model": model}
    weights = sorted(p for p in path.rglob("*") if p.suffix in (".safetensors", ".bin") and p.is_file())
    return {
        "model": f"local folder {path.name!r}",
        "model_weights_sha256": {p.relative_to(path).as_posix(): sha256_file(p) for p in weights},
    }


def _features_info(dataset: DatasetDict, feature_sets: Mapping[str, Mapping[str, str]]) -> dict:
    features = next(iter(dataset.values())).features
    info = {}
    for modality in MODALITIES:
        if modality in features:
            info[modality] = {
                "dim": features[modality].shape[1],
                "feature_sets": {c: s[modality] for c, s in feature_sets.items() if modality in s},
            }
    return info


def _media_settings_info(members: Sequence[str], feature_formats: Mapping[str, str], settings) -> dict | None:
    """The extraction settings of the ``raw-media`` members (what a processor needs to match them), else ``None``."""
    if not any(feature_formats.get(c) == RAW_MEDIA_FORMAT for c in members):
        return None
    from unimse_hf.media import MediaSettings

    return (settings or MediaSettings()).to_dict()


def build_dataset(
    config: str,
    sources: Mapping[str, str | Path],
    out_dir: str | Path,
    *,
    features: Mapping[str, FeatureSource] | None = None,
    feature_formats: Mapping[str, str] | None = None,
    media_settings=None,
    media_cache: str | Path | None = None,
    pseudo_labels: str | None = None,
    embedder: EmbedFn | None = None,
    pooling: str = "auto",
    batch_size: int = 64,
    max_length: int = 128,
    device: str | None = None,
    seed: int = 0,
    score_precision: int | None = 1,
    max_rows_per_shard: int = 20_000,
    push_to_hub: str | None = None,
    private: bool = True,
    api: HfApi | None = None,
    show_progress: bool = True,
) -> BuildResult:
    """Build config ``config`` into the Hub folder ``out_dir`` (and push it if ``push_to_hub`` names a repo).

    Args:
        config: a key of :data:`CONFIGS`.
        sources: corpus -> source path given to its reader; must cover every member of the config. Other
            corpora serve only as pseudo-label donors (they need a model as ``pseudo_labels``).
        out_dir: the Hub folder to write into (other configs already there are kept).
        features: corpus -> frame features given to its reader (a path, or modality -> path). In a mixture,
            per-frame dims are zero-padded to the largest and corpora without features get zero-frame arrays
            (:func:`unimse_hf.data.frame_features.align_frame_features`).
        feature_formats: corpus -> the reader's ``feature_format`` (default: detected); ``"raw-media"``: the
            corpus's ``features`` is its raw media folder (docs/media.md#corpus-folders).
        media_settings, media_cache: the extraction settings and feature cache of ``"raw-media"`` corpora
            (:func:`read_corpus`).
        pseudo_labels: ``None`` (no pseudo-labels), ``"official"`` (v4 CSVs) or an encoder path / Hub id.
        embedder: a ready ``texts -> embeddings`` callable used instead of loading ``pseudo_labels``
            (``pseudo_labels`` then only names it in the build info).
        pooling, batch_size, max_length, device: :class:`unimse_hf.data.embeddings.TextEmbedder` options.
        seed: seed of the mixture's training-set shuffle.
        score_precision: decimals of the score in the universal label (``None``: full float).
        max_rows_per_shard: rows per parquet shard.
        push_to_hub: dataset repo id to upload the folder to (private unless ``private=False``).
        private: create the repo private.
        api: ``HfApi`` used for the upload (tests pass a mock).
        show_progress: show this function's progress bars (``datasets``' own bars follow
            ``datasets.disable_progress_bars()``).
    """
    members, donors_only = _check_request(config, sources, pseudo_labels)
    report = BuildReport()
    corpora, hashes, feature_sets = _read_step(
        sources, features or {}, feature_formats or {}, report, show_progress, media_settings, media_cache
    )
    if pseudo_labels == OFFICIAL:
        corpora, pseudo_info = _official_label_step(corpora, members, sources, hashes, report)
    elif pseudo_labels is not None:
        if embedder is None:
            embedder = TextEmbedder(
                pseudo_labels,
                pooling=pooling,
                batch_size=batch_size,
                max_length=max_length,
                device=device,
                show_progress=show_progress,
            )
        corpora, pseudo_info = _pseudo_label_step(corpora, members, pseudo_labels, embedder, report)
    else:
        pseudo_info = {"method": "none"}
    placeholders = PLACEHOLDER_TARGETS if pseudo_labels is None else None
    corpora = _universal_label_step(corpora, members, score_precision, report, placeholders)
    dataset = _assemble_step(config, members, corpora, seed, report)

    info = {
        "corpora": list(members),
        "donor_corpora": donors_only,
        "pseudo_labels": pseudo_info,
        "universal_label": (
            f"score precision {score_precision if score_precision is not None else 'full'}"
            + (
                "; the fields this corpus lacks hold placeholders in the target only ("
                + ", ".join(f"{name} {value}" for name, value in PLACEHOLDER_TARGETS.items())
                + "), never in the field columns"
                if pseudo_labels is None
                else ""
            )
        ),
        "seed": seed if len(members) > 1 else None,
        "features": _features_info(dataset, feature_sets),
        "media_settings": _media_settings_info(members, feature_formats or {}, media_settings),
        "sources": hashes,
        "report": report.to_records(),
        "unimse_hf_version": __version__,
    }
    folder = Path(out_dir)
    write_config(folder, config, dataset, info, max_rows_per_shard=max_rows_per_shard)
    url = push_hub_folder(folder, push_to_hub, private=private, api=api) if push_to_hub else None
    return BuildResult(config, dataset, report, info, folder, url)


def _check_request(
    config: str, sources: Mapping[str, str | Path], pseudo_labels: str | None
) -> tuple[tuple[str, ...], list[str]]:
    """Refuse a request that cannot be built; returns the config's member corpora and the donor-only corpora."""
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {sorted(CONFIGS)}, got {config!r}")
    members = CONFIGS[config]
    absent = [c for c in members if c not in sources]
    if absent:
        raise ValueError(f"config {config!r} needs a source for {list(members)}; sources lacks {absent}")
    unknown = sorted(set(sources) - set(CORPORA))
    if unknown:
        raise ValueError(f"sources keys must be among {CORPORA}, got {unknown}")
    donors_only = [c for c in CORPORA if c in sources and c not in members]
    if donors_only and pseudo_labels in (None, OFFICIAL):
        raise ValueError(
            f"sources for {donors_only} (not members of {config!r}) only serve as pseudo-label donors, so "
            f"pseudo_labels must name an encoder model, got {pseudo_labels!r}"
        )
    no_official = [c for c in members if c not in OFFICIAL_CORPORA]
    if pseudo_labels == OFFICIAL and no_official:
        raise ValueError(
            f"pseudo_labels='official' covers {OFFICIAL_CORPORA} only (no official v4 file for {no_official}); "
            f"build {config!r} with an encoder model as pseudo_labels"
        )
    if len(members) > 1 and pseudo_labels is None:
        raise ValueError(
            f"mixture {config!r} needs pseudo_labels (an encoder model or 'official') so that its training rows "
            "carry universal labels, got None"
        )
    return members, donors_only


def _read_step(
    sources: Mapping[str, str | Path],
    features: Mapping[str, FeatureSource],
    feature_formats: Mapping[str, str],
    report: BuildReport,
    show_progress: bool,
    media_settings=None,
    media_cache: str | Path | None = None,
) -> tuple[dict[str, DatasetDict], dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Read every corpus of ``sources`` (in :data:`CORPORA` order) and drop gold labels outside the evaluated sets.

    Returns corpus -> splits, corpus -> source sha256s, corpus -> modality -> feature set.
    """
    corpora: dict[str, DatasetDict] = {}
    hashes: dict[str, dict[str, str]] = {}
    feature_sets: dict[str, dict[str, str]] = {}
    for corpus in (c for c in CORPORA if c in sources):
        splits, hashes[corpus], feature_sets[corpus] = read_corpus(
            corpus, sources[corpus], features.get(corpus), report, show_progress, feature_formats.get(corpus),
            media_settings=media_settings, media_cache=media_cache,
        )  # fmt: skip
        corpora[corpus] = filter_evaluated_labels(corpus, splits, report)
    return corpora, hashes, feature_sets


def _official_label_step(
    corpora: dict[str, DatasetDict],
    members: tuple[str, ...],
    sources: Mapping[str, str | Path],
    hashes: dict[str, dict[str, str]],
    report: BuildReport,
) -> tuple[dict[str, DatasetDict], dict]:
    """Fill the members' missing fields from the official v4 CSVs (their sha256s are added to ``hashes``).

    Returns the members' splits and the ``pseudo_labels`` entry of the build info.
    """
    corpora = apply_official_labels({c: corpora[c] for c in members}, sources, report)
    for corpus in members:
        for path in official_label_files(corpus, sources[corpus]):
            hashes[corpus][_source_name(path, sources[corpus])] = sha256_file(path)
    return corpora, {"method": "official", "files": "UniMSE PR #19 v4 universal-label CSVs"}


def _pseudo_label_step(
    corpora: dict[str, DatasetDict], members: tuple[str, ...], model: str, embedder: EmbedFn, report: BuildReport
) -> tuple[dict[str, DatasetDict], dict]:
    """Fill the members' missing fields from their nearest neighbours among the training rows of every corpus.

    Returns every corpus's splits and the ``pseudo_labels`` entry of the build info (``model`` names the encoder).
    """
    corpora, stats = assign_pseudo_labels(corpora, embedder, fill=members, report=report)
    return corpora, {
        "method": "nearest_neighbour",
        **_model_provenance(model),
        "pooling": getattr(embedder, "pooling", None),
        "embedding_backend": getattr(embedder, "backend", None),
        "bf16": getattr(embedder, "bf16", None),
        "donor_corpora": [c for c in CORPORA if c in corpora],
        "rule": "top-1 cosine neighbour of the same polarity among training rows only; pools restricted to "
        "MELD's 7 / IEMOCAP's 6 classes; neutral rows get score 0.0, neutral, neutral",
        "stats": stats.to_dict(),
    }


def _universal_label_step(
    corpora: dict[str, DatasetDict],
    members: tuple[str, ...],
    precision: int | None,
    report: BuildReport,
    placeholders: Mapping[str, float | str] | None,
) -> dict[str, DatasetDict]:
    """Write the universal label of every member row whose four fields are present (missing ones filled with
    ``placeholders`` when given: a build without pseudo-labels)."""
    out = dict(corpora)
    for corpus in members:
        out[corpus] = DatasetDict(
            {
                split: write_universal_labels(ds, precision=precision, report=report, placeholders=placeholders)
                for split, ds in corpora[corpus].items()
            }
        )
    return out


def _assemble_step(
    config: str, members: tuple[str, ...], corpora: Mapping[str, DatasetDict], seed: int, report: BuildReport
) -> DatasetDict:
    """A single corpus as read; a mixture from its members, with frame features aligned to one dim per modality."""
    if len(members) == 1:
        return corpora[config]
    aligned = align_frame_features({c: corpora[c] for c in members}, report)
    return build_mixture(config, aligned, seed=seed, report=report)
