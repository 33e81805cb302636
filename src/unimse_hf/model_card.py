"""Model cards for UniMSE checkpoints: card data, the callback that fills it, and the renderer.

:class:`UniMSEModelCardData` holds what a card says (user-settable fields such as ``dataset_id`` plus what training
records); :class:`ModelCardCallback` fills it during ``train()`` / ``evaluate()``; :func:`generate_model_card`
renders ``model_card_template.md`` into a :class:`~huggingface_hub.ModelCard` whose YAML carries a ``model-index``
with one entry per (corpus, split, metric). :class:`~unimse_hf.trainer.UniMSETrainer` writes it as ``README.md``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import CardData, ModelCard
from huggingface_hub.repocard_data import EvalResult, eval_results_to_model_index
from huggingface_hub.utils import yaml_dump
from transformers import TrainerCallback

from .citations import CITATIONS, CORPUS_LICENSES
from .labels import CORPORA, CORPUS_FIELDS

if TYPE_CHECKING:
    from .trainer import UniMSETrainer

TEMPLATE_PATH = Path(__file__).parent / "model_card_template.md"
#: corpus -> display name (the ``dataset_name`` of its ``model-index`` entries)
CORPUS_NAMES: dict[str, str] = {"mosi": "CMU-MOSI", "mosei": "CMU-MOSEI", "meld": "MELD", "iemocap": "IEMOCAP"}
#: task kind -> (model-index task type, task name)
TASKS: dict[str, tuple[str, str]] = {
    "msa": ("multimodal-sentiment-analysis", "Multimodal Sentiment Analysis"),
    "erc": ("emotion-recognition-in-conversation", "Emotion Recognition in Conversation"),
}
#: task kind -> the per-corpus metrics put in ``model-index`` and the results tables (key -> pretty name)
CARD_METRICS: dict[str, dict[str, str]] = {
    "msa": {
        "mae": "MAE", "corr": "Corr", "acc7": "Acc-7", "acc5": "Acc-5", "acc2_has0": "Acc-2 (has-0)",
        "f1_has0": "F1 (has-0)", "acc2_non0": "Acc-2 (non-0)", "f1_non0": "F1 (non-0)",
    },
    "erc": {"accuracy": "Accuracy", "weighted_f1": "Weighted F1", "macro_f1": "Macro F1"},
}  # fmt: skip
#: training arguments listed under "Training hyper-parameters", in this order (missing or ``None`` ones are skipped)
HYPERPARAMETER_FIELDS = (
    "backbone_learning_rate",
    "fusion_learning_rate",
    "modality_learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "seed",
    "data_seed",
    "optim",
    "weight_decay",
    "lr_scheduler_type",
    "warmup_steps",
    "max_grad_norm",
    "contrastive_acoustic_weight",
    "contrastive_visual_weight",
    "contrastive_acoustic_visual_weight",
    "contrastive_temperature",
    "contrastive_symmetric",
    "sample_contrastive_weight",
    "sample_contrastive_field",
    "bf16",
    "fp16",
    "generation_max_length",
    "generation_num_beams",
)
#: config fields shown under "Model details"
CONFIG_FIELDS = ("num_layers", "num_decoder_layers", "d_model", "acoustic_dim", "visual_dim", "fusion_layers",
                 "fusion_bottleneck", "contrastive_dim")  # fmt: skip
YAML_FIELDS = ("language", "license", "library_name", "pipeline_tag", "tags", "base_model", "datasets", "model-index")
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


@dataclass
class UniMSEModelCardData(CardData):
    """What the model card of a UniMSE checkpoint says.

    Args (all optional; set them on ``trainer.model_card_data`` before saving):
        language: language(s) of the training text.
        license: licence of the weights' repository (default: the code's, apache-2.0; the corpora's terms are listed
            in the card).
        model_name: the card title and ``model-index`` name (default: built from the base model and corpora).
        model_id: Hub id used in the usage snippet (default: the trainer's ``hub_model_id`` when pushing).
        base_model: the T5 checkpoint training started from (default: ``model.config._name_or_path``).
        dataset_id: Hub id(s) of the unified dataset(s) trained on (the YAML ``datasets`` and the ``model-index``
            dataset type; default: the corpus name).
        tags: Hub tags.
        corpora: the training corpora (default: read from the training set's ``corpus`` column).

    The other fields are filled by :class:`ModelCardCallback` and :meth:`update_from_trainer`.
    """

    language: str | list[str] | None = "en"
    license: str | None = "apache-2.0"
    model_name: str | None = None
    model_id: str | None = None
    base_model: str | None = None
    dataset_id: str | list[str] | None = None
    tags: list[str] = field(
        default_factory=lambda: [
            "unimse",
            "multimodal-sentiment-analysis",
            "emotion-recognition-in-conversation",
            "generated_from_unimse_trainer",
        ]
    )

    corpora: list[str] = field(default_factory=list)

    # filled from the trainer
    hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    trainable_parameters: dict[str, int] = field(default_factory=dict, init=False)
    trainable_backbone_blocks: list[str] = field(default_factory=list, init=False)
    total_parameters: int | None = field(default=None, init=False)
    #: for a LoRA adapter (:func:`~unimse_hf.lora.lora_summary`): rank, alpha, targets, modules_to_save, ...
    lora: dict[str, Any] = field(default_factory=dict, init=False)
    model_config: dict[str, Any] = field(default_factory=dict, init=False)
    training_summary: dict[str, Any] = field(default_factory=dict, init=False)
    training_log: list[dict[str, Any]] = field(default_factory=list, init=False)
    #: metric key prefix (``"eval"``, ``"test"``, ...) -> the latest metrics of that prefix, prefix removed
    evaluations: dict[str, dict[str, float]] = field(default_factory=dict, init=False)

    library_name: str = field(default="unimse-hf", init=False)
    pipeline_tag: str = field(default="text2text-generation", init=False)

    # --- collection ---------------------------------------------------------------------------------------------

    def update_from_trainer(self, trainer: UniMSETrainer) -> None:
        """Record the base model, configuration, trainable set, hyper-parameters, corpora and training log (and the
        LoRA set-up of a ``PeftModel``, whose ``total_parameters`` are those of its base model)."""
        from .lora import base_parameter_count, lora_summary

        model = trainer.accelerator.unwrap_model(trainer.model)
        config = model.config
        if self.base_model is None and getattr(config, "_name_or_path", ""):
            self.base_model = str(config._name_or_path)
        self.model_config = {name: getattr(config, name) for name in CONFIG_FIELDS if hasattr(config, name)}
        self.trainable_parameters = dict(getattr(trainer, "trainable_parameter_counts", {}))
        self.total_parameters = base_parameter_count(model)
        self.lora = lora_summary(model)
        self.tags += [tag for tag in (("lora", "peft") if self.lora else ()) if tag not in self.tags]
        self.trainable_backbone_blocks = list(getattr(trainer.args, "trainable_backbone_blocks", []))
        self.hyperparameters = hyperparameters(trainer.args)
        corpora = dataset_corpora(trainer.train_dataset)
        if corpora:
            self.corpora = [corpus for corpus in CORPORA if corpus in corpora]
        self.training_log = training_log(trainer.state.log_history)
        summary = next((entry for entry in reversed(trainer.state.log_history) if "train_loss" in entry), None)
        if summary is not None:
            self.training_summary = {
                "steps": trainer.state.global_step,
                "epochs": summary.get("epoch"),
                "train_loss": summary["train_loss"],
            }

    def record_evaluation(self, metrics: Mapping[str, Any]) -> None:
        """Keep the scalar metrics of one ``evaluate()`` call under their prefix (read off ``<prefix>_runtime``)."""
        prefix = next((key.removesuffix("_runtime") for key in metrics if key.endswith("_runtime")), None)
        if prefix is None:
            return
        values = {
            key[len(prefix) + 1 :]: value
            for key, value in metrics.items()
            if key.startswith(f"{prefix}_") and isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        self.evaluations[prefix] = values

    # --- rendering ----------------------------------------------------------------------------------------------

    def default_model_name(self) -> str:
        name = "UniMSE"
        if self.base_model:
            name += f" on {Path(self.base_model).name if os.path.isdir(self.base_model) else self.base_model}"
        if self.corpora:
            name += " trained on " + ", ".join(CORPUS_NAMES[corpus] for corpus in self.corpora)
        return name

    def eval_results(self) -> list[EvalResult]:
        """One :class:`~huggingface_hub.EvalResult` per (split, corpus, headline metric); NaN values are left out."""
        results = []
        dataset_ids = [self.dataset_id] if isinstance(self.dataset_id, str) else list(self.dataset_id or [])
        for prefix, metrics in self.evaluations.items():
            split = split_name(prefix)
            for corpus in CORPORA:
                kind = task_kind(corpus)
                task_type, task_name = TASKS[kind]
                for key, pretty in CARD_METRICS[kind].items():
                    value = metrics.get(f"{corpus}_{key}")
                    if value is None or math.isnan(value):
                        continue
                    results.append(
                        EvalResult(
                            task_type=task_type,
                            task_name=task_name,
                            dataset_type=dataset_ids[0] if len(dataset_ids) == 1 else corpus,
                            dataset_name=CORPUS_NAMES[corpus],
                            dataset_split=f"{split}_{corpus}" if split in ("validation", "test") else prefix,
                            metric_type=key,
                            metric_name=pretty,
                            metric_value=value,
                        )
                    )
        return results

    def to_dict(self) -> dict[str, Any]:
        """The template variables: every field plus the YAML-only keys and the rendered tables."""
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["model_name"] = self.model_name or self.default_model_name()
        results = self.eval_results()
        if results:
            data["model-index"] = eval_results_to_model_index(data["model_name"], results)
        if self.dataset_id:
            data["datasets"] = [self.dataset_id] if isinstance(self.dataset_id, str) else list(self.dataset_id)
        base = self.base_model
        data["base_model_is_hub_id"] = bool(base and not os.path.exists(base) and HUB_ID.match(base))
        if not data["base_model_is_hub_id"]:
            data.pop("base_model")
            data["base_model_text"] = base
        data["results_tables"] = results_tables(self.evaluations)
        columns = {"epoch": "Epoch", "step": "Step", "loss": "Training loss", "eval_loss": "Validation loss",
                   "eval_dev_score": "dev_score"}  # fmt: skip
        rows = [[row.get(key) for key in columns] for row in self.training_log]
        data["training_log_table"] = markdown_table(list(columns.values()), rows)
        data["trainable_table"] = markdown_table(
            ["group", "trainable parameters"], [[group, f"{n:,}"] for group, n in self.trainable_parameters.items()]
        )
        data["corpus_names"] = [CORPUS_NAMES[corpus] for corpus in self.corpora]
        data["licence_notes"] = {CORPUS_NAMES[c]: CORPUS_LICENSES[c][1] for c in self.corpora}
        data["citations"] = "\n".join(CITATIONS[key] for key in ["unimse", *self.corpora])
        data["versions"] = framework_versions()
        data["usage_model_id"] = self.model_id or "path/to/this-model"
        return data

    def to_yaml(self, line_break=None, original_order=None) -> str:
        data = self.to_dict()
        metadata = {key: data[key] for key in YAML_FIELDS if data.get(key) not in (None, [], {})}
        return yaml_dump(metadata, sort_keys=False, line_break=line_break).strip()


class ModelCardCallback(TrainerCallback):
    """Fill ``trainer.model_card_data``: the set-up at the start of training, every evaluation's metrics."""

    def __init__(self, trainer: UniMSETrainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer.model_card_data.update_from_trainer(self.trainer)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics:
            self.trainer.model_card_data.record_evaluation(metrics)

    def on_train_end(self, args, state, control, **kwargs):
        self.trainer.model_card_data.update_from_trainer(self.trainer)


def generate_model_card(card_data: UniMSEModelCardData, **template_kwargs) -> ModelCard:
    """Render ``model_card_template.md`` with ``card_data`` (``template_kwargs`` override its variables)."""
    return ModelCard.from_template(card_data, template_path=str(TEMPLATE_PATH), **template_kwargs)


# --- helpers --------------------------------------------------------------------------------------------------------


def task_kind(corpus: str) -> str:
    """``"msa"`` for MOSI/MOSEI (scored on the sentiment score), ``"erc"`` for MELD/IEMOCAP."""
    return "msa" if CORPUS_FIELDS[corpus] == "score" else "erc"


def split_name(prefix: str) -> str:
    """``"validation"`` for ``eval*`` metric prefixes, ``"test"`` for ``test*``, else the prefix itself."""
    if prefix.startswith("eval"):
        return "validation"
    if prefix.startswith("test"):
        return "test"
    return prefix


def hyperparameters(args) -> dict[str, Any]:
    """The :data:`HYPERPARAMETER_FIELDS` of training arguments (enums as their value) plus the total batch size."""
    values: dict[str, Any] = {}
    for name in HYPERPARAMETER_FIELDS:
        value = getattr(args, name, None)
        if value is None or (name == "max_steps" and value <= 0) or (name in ("bf16", "fp16") and not value):
            continue
        values[name] = getattr(value, "value", value)
        if name == "gradient_accumulation_steps":
            values["total_train_batch_size"] = args.per_device_train_batch_size * value * args.world_size
    return values


def dataset_corpora(dataset) -> list[str]:
    """Corpora of a ``datasets.Dataset`` (or a dict of them) with a ``corpus`` column; ``[]`` for anything else."""
    if isinstance(dataset, Mapping):
        return [corpus for split in dataset.values() for corpus in dataset_corpora(split)]
    if "corpus" not in (getattr(dataset, "column_names", None) or []):
        return []
    return [corpus for corpus in dataset.unique("corpus") if corpus in CORPORA]


def training_log(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per evaluation during training (``eval_loss`` / ``eval_dev_score``), with the latest training loss;
    evaluations after the end of training (after the ``train_loss`` summary) are left out."""
    ends = [index for index, entry in enumerate(log_history) if "train_loss" in entry]
    rows, loss = [], None
    for entry in log_history[: ends[-1] if ends else None]:
        loss = entry.get("loss", loss)
        if "eval_loss" in entry or "eval_dev_score" in entry:
            keys = ("epoch", "step", "eval_loss", "eval_dev_score")
            rows.append({"loss": loss, **{key: entry.get(key) for key in keys}})
    return rows


def results_tables(evaluations: Mapping[str, Mapping[str, float]]) -> list[dict[str, str]]:
    """Per evaluated prefix: its split name, ``dev_score`` and one markdown table per task kind evaluated."""
    tables = []
    for prefix, metrics in evaluations.items():
        parts = []
        for kind in ("msa", "erc"):
            corpora = [c for c in CORPORA if task_kind(c) == kind and f"{c}_num_samples" in metrics]
            if corpora:
                header = ["corpus", "samples", *CARD_METRICS[kind].values(), "malformed"]
                keys = ["num_samples", *CARD_METRICS[kind], "malformed"]
                rows = [[CORPUS_NAMES[c], *(metrics.get(f"{c}_{key}") for key in keys)] for c in corpora]
                parts.append(markdown_table(header, rows))
        if parts:
            tables.append(
                {
                    "prefix": prefix,
                    "split": split_name(prefix),
                    "dev_score": format_value(metrics.get("dev_score")),
                    "tables": "\n\n".join(parts),
                }
            )
    return tables


def format_value(value: Any) -> str:
    """Floats to 4 decimals, integers as they are, ``None`` as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.4f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table; empty string when there are no rows."""
    if not rows:
        return ""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(":---" for _ in header) + "|"]
    lines += ["| " + " | ".join(v if isinstance(v, str) else format_value(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def framework_versions() -> dict[str, str]:
    """Installed versions of the packages a checkpoint depends on."""
    versions = {}
    for package in ("unimse-hf", "transformers", "torch", "datasets", "tokenizers", "huggingface-hub"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions
