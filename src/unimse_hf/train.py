"""The training and evaluation runs behind ``unimse-hf train`` and ``unimse-hf evaluate``.

A run reads four dataclasses (:class:`ModelArguments`, :class:`DataArguments`,
:class:`~unimse_hf.training_args.UniMSETrainingArguments`, :class:`~unimse_hf.lora.LoraArguments`) from one YAML
file (``training_args/``) with command-line overrides, trains on the ``train`` split of a unified dataset (a folder
written by ``unimse-hf build-dataset`` or a Hub id), selects checkpoints on the dev splits only, scores the test
splits once at the end, and writes the model (safetensors + remote code; with ``use_lora``, the LoRA adapter), the
processor, the model card, ``trainer_state.json`` and the HF-style ``train_results.json`` / ``eval_results.json`` /
``test_results.json`` / ``all_results.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import yaml
from transformers import AutoConfig, AutoTokenizer, HfArgumentParser, set_seed

from .configuration_unimse import UniMSEConfig
from .feature_extraction_unimse import UniMSEFeatureExtractor
from .labels import CORPORA
from .lora import LoraArguments, apply_lora, load_lora_run
from .modeling_unimse import UniMSEForConditionalGeneration
from .processing_unimse import UniMSEProcessor
from .trainer import UniMSETrainer
from .training_args import UniMSETrainingArguments

logger = logging.getLogger(__name__)


@dataclass
class ModelArguments:
    """Which model to train: a T5 or UniMSE checkpoint (folder or Hub id), or a from-scratch configuration."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "A T5 checkpoint (warm start: every T5 weight loads, the UniMSE modules are new) or a "
                  "UniMSE one (folder or Hub id). Leave it out to train from scratch with model_config."},
    )  # fmt: skip
    model_config: dict | str | None = field(
        default=None,
        metadata={"help": "UniMSEConfig values (a mapping in YAML, JSON on the command line): the whole "
                  "configuration when training from scratch, overrides of the checkpoint's otherwise."},
    )  # fmt: skip
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Tokenizer folder or Hub id (default: model_name_or_path). Relative paths are read "
                  "from the YAML file's folder when they exist there."},
    )  # fmt: skip


@dataclass
class DataArguments:
    """Which unified dataset to read and how inputs are built from it."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "A folder written by `unimse-hf build-dataset`, or a Hub dataset id."}
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "The configuration: a corpus (mosi, mosei, meld, iemocap) or a mixture."}
    )
    train_split: str = field(default="train", metadata={"help": "The split to train on."})
    eval_splits: list[str] | None = field(
        default=None,
        metadata={"help": "Dev splits for evaluation and checkpoint selection (default: every split whose name "
                  "starts with 'validation')."},
    )  # fmt: skip
    test_splits: list[str] | None = field(
        default=None,
        metadata={"help": "Test splits scored once after training (default: every split starting with 'test'; "
                  "'none' to skip)."},
    )  # fmt: skip
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N rows of each dev and test split (quick runs)."}
    )
    text_only: bool = field(default=False, metadata={"help": "Drop the acoustic and visual frames (text only)."})
    prefix: str = field(default="sst2 sentence: ", metadata={"help": "Prompt put in front of every input."})
    context_window: int = field(default=2, metadata={"help": "ERC utterances on each side of the target."})
    max_source_length: int = field(default=128, metadata={"help": "Input token limit (longer inputs are cut)."})
    max_target_length: int = field(default=32, metadata={"help": "Target token limit."})


PARSER_CLASSES = (ModelArguments, DataArguments, UniMSETrainingArguments, LoraArguments)


def parse_config(
    config_file: str | Path | None, overrides: list[str]
) -> tuple[ModelArguments, DataArguments, UniMSETrainingArguments, LoraArguments]:
    """Read the YAML file and apply ``--field value`` overrides; an unknown field (in either) is an error naming it.
    Returns one instance of each of :data:`PARSER_CLASSES`, in that order."""
    values: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise SystemExit(f"train: CONFIG {str(path)!r} is not a file")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise SystemExit(f"train: {path} must hold a mapping of field: value, got {type(values).__name__}")
        tokenizer = values.get("tokenizer_name")
        if isinstance(tokenizer, str) and not Path(tokenizer).is_absolute() and (path.parent / tokenizer).exists():
            values["tokenizer_name"] = str((path.parent / tokenizer).resolve())
    parser = HfArgumentParser(PARSER_CLASSES)
    for action in parser._actions:  # only the fields given on the command line come back
        if action.dest != "help":
            action.default = argparse.SUPPRESS
    given, unknown = parser.parse_known_args(overrides)
    if unknown:
        raise SystemExit(f"train: unknown arguments {unknown}; every field of the argument classes is accepted")
    values.update(vars(given))
    known = {f for cls in PARSER_CLASSES for f in cls.__dataclass_fields__}
    extra = sorted(set(values) - known)
    if extra:
        raise SystemExit(f"train: unknown fields {extra} in {config_file}")
    try:
        return parser.parse_dict(values)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"train: {error}") from error


def _splits(dataset: datasets.DatasetDict, names: list[str] | None, prefix: str, option: str) -> list[str]:
    if names == ["none"]:
        return []
    if names is None:
        return [name for name in dataset if name.startswith(prefix)]
    missing = [name for name in names if name not in dataset]
    if missing:
        raise SystemExit(f"{option} names splits {missing} that the dataset lacks; it has {list(dataset)}")
    return names


def local_cache_dir(folder: Path) -> str:
    """A datasets cache folder for one local dataset folder *and its current files*.

    ``datasets`` keys the cache of a local folder by the folder's name and its README configs, not by the files, so
    two ``build-dataset`` folders with the same name (or one folder rebuilt) would share a cache entry and the second
    load would silently return the first one's rows. Keying the cache folder by the parquet files' paths, sizes and
    modification times avoids that."""
    files = sorted(folder.rglob("*.parquet"))
    stats = [(str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    digest = hashlib.sha256(json.dumps([str(folder.resolve()), stats]).encode()).hexdigest()[:16]
    return str(Path(datasets.config.HF_DATASETS_CACHE) / "unimse_hf_local" / digest)


def load_unified_dataset(data_args: DataArguments) -> datasets.DatasetDict:
    if data_args.dataset_name is None:
        raise SystemExit("--dataset_name is required: a folder written by `unimse-hf build-dataset` or a Hub id")
    folder = Path(data_args.dataset_name)
    cache_dir = local_cache_dir(folder) if folder.is_dir() else None
    dataset = datasets.load_dataset(data_args.dataset_name, data_args.dataset_config_name, cache_dir=cache_dir)
    if data_args.text_only:
        dataset = dataset.remove_columns([c for c in ("acoustic", "visual") if c in dataset.column_names["train"]])
    return dataset


def _concatenate(dataset: datasets.DatasetDict, splits: list[str], limit: int | None) -> datasets.Dataset | None:
    parts = [dataset[name] if limit is None else dataset[name].select(range(min(limit, len(dataset[name]))))
             for name in splits if len(dataset[name])]  # fmt: skip
    return datasets.concatenate_datasets(parts) if parts else None


def _frame_dims(dataset: datasets.Dataset) -> dict[str, int]:
    """``{acoustic_dim, visual_dim}`` read off the dataset's frame features (absent modalities are left out)."""
    dims = {}
    for modality in ("acoustic", "visual"):
        shape = getattr(dataset.features.get(modality), "shape", None)
        if shape is not None and shape[-1]:
            dims[f"{modality}_dim"] = int(shape[-1])
    return dims


def build_model_and_processor(
    model_args: ModelArguments,
    data_args: DataArguments,
    train: datasets.Dataset,
    lora_args: LoraArguments | None = None,
) -> tuple[UniMSEForConditionalGeneration, UniMSEProcessor]:
    """A UniMSE model (warm-started, loaded or from scratch) and its processor, sized to the dataset's frames; with
    ``lora_args.use_lora`` the model is a LoRA ``PeftModel`` of it (:func:`~unimse_hf.lora.apply_lora`)."""
    overrides = model_args.model_config or {}
    if isinstance(overrides, str):
        overrides = json.loads(overrides)
    dims = {**_frame_dims(train), **{k: v for k, v in overrides.items() if k.endswith("_dim")}}
    tokenizer_name = model_args.tokenizer_name or model_args.model_name_or_path
    if tokenizer_name is None:
        raise SystemExit("give tokenizer_name (or model_name_or_path): a from-scratch model still needs a tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_name)
    if model_args.model_name_or_path is None:
        values = {
            "vocab_size": len(tokenizer),
            "decoder_start_token_id": tokenizer.pad_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            **overrides,
            **dims,
        }
        model = UniMSEForConditionalGeneration(UniMSEConfig(**values))  # fmt: skip
    else:
        config = AutoConfig.from_pretrained(model_args.model_name_or_path)
        kwargs = {**overrides, **dims} if not isinstance(config, UniMSEConfig) else overrides
        model = UniMSEForConditionalGeneration.from_pretrained(model_args.model_name_or_path, **kwargs)
    model.generation_config.decoder_start_token_id = model.config.decoder_start_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    feature_extractor = UniMSEFeatureExtractor(acoustic_dim=model.config.acoustic_dim,
                                               visual_dim=model.config.visual_dim)  # fmt: skip
    processor = UniMSEProcessor(
        tokenizer, feature_extractor, prefix=data_args.prefix, context_window=data_args.context_window,
        max_source_length=data_args.max_source_length, max_target_length=data_args.max_target_length,
    )  # fmt: skip
    if lora_args is not None and lora_args.use_lora:
        model = apply_lora(model, lora_args)
    return model, processor


def results_table(metrics: dict[str, float], prefix: str) -> str:
    """The per-corpus numbers of ``metrics`` as a text table (one row per corpus, one column per metric)."""
    columns = {"mosi": ("mae", "corr", "acc7", "acc2_non0", "f1_non0"), "mosei": ("mae", "corr", "acc7", "acc2_non0",
               "f1_non0"), "meld": ("accuracy", "weighted_f1", "macro_f1"), "iemocap": ("accuracy", "weighted_f1",
               "macro_f1")}  # fmt: skip
    lines = []
    for corpus in CORPORA:
        if f"{prefix}_{corpus}_num_samples" not in metrics:
            continue
        cells = []
        for name in columns[corpus] + ("num_samples", "malformed"):
            value = metrics.get(f"{prefix}_{corpus}_{name}", math.nan)
            cells.append(f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}")
        lines.append(f"{prefix} {corpus:8s} " + "  ".join(cells))
    if f"{prefix}_dev_score" in metrics:
        lines.append(f"{prefix} dev_score {metrics[f'{prefix}_dev_score']:.4f}")
    return "\n".join(lines)


def run_training(model_args: ModelArguments, data_args: DataArguments, args: UniMSETrainingArguments,
                 lora_args: LoraArguments | None = None) -> dict:  # fmt: skip
    """Train, select on the dev splits, score the test splits once, save everything; returns all metrics. With
    ``lora_args.use_lora`` the output folder holds a LoRA adapter (``unimse-hf merge-lora`` merges it)."""
    set_seed(args.seed)
    with args.main_process_first(desc="loading the dataset"):  # one process fills the datasets cache, then the rest
        dataset = load_unified_dataset(data_args)
    if data_args.train_split not in dataset:
        raise SystemExit(f"train_split {data_args.train_split!r} is not a split of the dataset: {list(dataset)}")
    train = dataset[data_args.train_split]
    if data_args.max_train_samples is not None:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    dev = _concatenate(dataset, _splits(dataset, data_args.eval_splits, "validation", "eval_splits"),
                       data_args.max_eval_samples)  # fmt: skip
    tests = _splits(dataset, data_args.test_splits, "test", "test_splits")
    model, processor = build_model_and_processor(model_args, data_args, train, lora_args)
    trainer = UniMSETrainer(model=model, args=args, train_dataset=train, eval_dataset=dev, processing_class=processor)
    if not Path(data_args.dataset_name).exists():  # a Hub id: the card links the dataset
        trainer.model_card_data.dataset_id = data_args.dataset_name
    if dev is None and args.eval_strategy != "no":
        raise SystemExit("eval_strategy needs dev splits, and the dataset has none: set eval_strategy: 'no'")
    resume = args.resume_from_checkpoint
    if resume is not None and not (Path(resume) / "trainer_state.json").is_file():
        raise SystemExit(f"resume_from_checkpoint must be a checkpoint-<step> folder (with trainer_state.json) of "
                         f"an earlier run, got {resume!r}")  # fmt: skip
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    trainer.save_state()
    result.metrics["world_size"] = args.world_size  # the processes that trained, into train/all_results.json
    everything = dict(result.metrics)
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    for prefix, split in (("eval", dev), ("test", _concatenate(dataset, tests, data_args.max_eval_samples))):
        if split is None:
            continue
        metrics = trainer.evaluate(split, metric_key_prefix=prefix)
        trainer.save_metrics(prefix, metrics)
        if trainer.is_world_process_zero():
            print(results_table(metrics, prefix))
        everything.update(metrics)
    trainer.write_model_card(args.output_dir)  # again, now with the dev and test results
    return everything


def run_evaluation(model_dir: str, data_args: DataArguments, splits: list[str], output_dir: str | None,
                   batch_size: int = 32) -> dict:  # fmt: skip
    """Score a saved model on ``splits`` (concatenated, scored per corpus); writes ``{split}_results.json``."""
    import torch
    from transformers import AutoProcessor

    dataset = load_unified_dataset(data_args)
    missing = [name for name in splits if name not in dataset]
    if missing:
        raise SystemExit(f"--split names {missing}, which the dataset lacks; it has {list(dataset)}")
    lora = (Path(model_dir) / "adapter_config.json").is_file()  # a LoRA run folder: base + adapter
    model = load_lora_run(model_dir) if lora else UniMSEForConditionalGeneration.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir)
    args = UniMSETrainingArguments(output_dir=output_dir or model_dir, per_device_eval_batch_size=batch_size,
                                   report_to="none", use_cpu=not torch.cuda.is_available())  # fmt: skip
    trainer = UniMSETrainer(model=model, args=args, processing_class=processor)
    prefix = "test" if all(name.startswith("test") for name in splits) else "eval"
    metrics = trainer.evaluate(_concatenate(dataset, splits, data_args.max_eval_samples), metric_key_prefix=prefix)
    trainer.save_metrics(prefix, metrics)
    print(results_table(metrics, prefix))
    return metrics
