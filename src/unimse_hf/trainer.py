"""UniMSETrainer: ``Seq2SeqTrainer`` with the UniMSE losses, parameter groups and per-corpus evaluation.

loss = CE(universal label tokens) + w_a * InfoNCE(text, acoustic) + w_v * InfoNCE(text, visual)
       [+ w_av * InfoNCE(acoustic, visual)] [+ w_s * SupCon(text, label field)]          (docs/method.md#training)

Each part is logged under its own key, averaged over the logging interval like ``loss``. Evaluation generates,
parses the universal labels and scores every corpus on its own field (:mod:`unimse_hf.metrics`); ``dev_score`` is
the mean of one headline metric per corpus and is what checkpoint selection reads. Test splits are for
:meth:`UniMSETrainer.evaluate` with ``metric_key_prefix="test"`` once training is over: nothing here selects on them.

Saving writes a model card (:mod:`unimse_hf.model_card`) as ``README.md`` next to the weights; each evaluation
writes ``learning_curves.png`` and one ``confusion_matrix_<prefix>_<corpus>.png`` per ERC corpus into
``args.output_dir`` when matplotlib is installed (:mod:`unimse_hf.plots`).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from pathlib import Path

import datasets
import torch
from transformers import Seq2SeqTrainer, TrainerCallback

from .data_collator import UniMSEDataCollator, pop_metadata
from .dropout_16bit import dropout_masks_16bit
from .frozen_bf16 import float32_state_dict, frozen_linear_weights_in_bf16
from .frozen_prefix import frozen_prefix_cached
from .labels import CORPORA, REFERENCE_KEYS
from .lora import is_peft_model, peft_free_name, save_base_model
from .losses import InterModalityContrastiveLoss, SupervisedContrastiveLoss
from .metrics import UniMSEComputeMetrics
from .model_card import ModelCardCallback, UniMSEModelCardData, generate_model_card
from .plots import plot_confusion_matrix, plot_learning_curves
from .training_args import UniMSETrainingArguments

logger = logging.getLogger(__name__)

#: the per-corpus metric averaged into ``dev_score``: the headline classification number of each corpus' table
DEV_SCORE_METRICS: dict[str, str] = {
    "mosi": "acc2_non0",
    "mosei": "acc2_non0",
    "meld": "weighted_f1",
    "iemocap": "weighted_f1",
}
#: dataset columns the package's collator needs in every split
REQUIRED_COLUMNS = ("text", "corpus")
PARAMETER_GROUPS = ("backbone", "fusion", "modality")


def compute_dev_score(metrics: Mapping[str, float], prefix: str = "") -> float | None:
    """Mean over the corpora present in ``metrics`` of :data:`DEV_SCORE_METRICS` (a corpus whose metric is missing
    or NaN, e.g. every generation malformed, counts 0). ``None`` when no corpus was scored."""
    values = []
    for corpus, metric in DEV_SCORE_METRICS.items():
        if f"{prefix}{corpus}_num_samples" not in metrics:
            continue
        value = metrics.get(f"{prefix}{corpus}_{metric}", math.nan)
        values.append(0.0 if value is None or math.isnan(value) else float(value))
    return sum(values) / len(values) if values else None


def parameter_group(name: str) -> str:
    """``"modality"`` (acoustic/visual encoders, contrastive projections), ``"fusion"`` (PMF) or ``"backbone"``
    (every T5 parameter) for a parameter name of :class:`~unimse_hf.UniMSEForConditionalGeneration`, or of a
    LoRA ``PeftModel`` of it: a LoRA matrix is ``"backbone"`` and a ``modules_to_save`` copy takes its module's
    group (:func:`~unimse_hf.lora.peft_free_name`)."""
    name = peft_free_name(name)
    if ".fusion." in f".{name}":
        return "fusion"
    if "acoustic_encoder." in name or "visual_encoder." in name or name.endswith("_projection.weight"):
        return "modality"
    return "backbone"


def trainable_backbone_names(model: torch.nn.Module, blocks: list[str]) -> set[str]:
    """Names of the T5 parameters that train under ``trainable_backbone_blocks`` (see the training arguments)."""
    names = [name for name, _ in model.named_parameters() if parameter_group(name) == "backbone"]
    if blocks == ["all"]:
        return set(names)
    if blocks == ["none"]:
        return set()
    config = model.config
    indices = ["-2", "-1"] if blocks == ["paper"] else blocks
    prefixes = []
    for stack, size in (("encoder", config.num_layers), ("decoder", config.num_decoder_layers)):
        for index in indices:
            position = int(index) + size if int(index) < 0 else int(index)
            if not 0 <= position < size:
                raise ValueError(f"trainable_backbone_blocks index {index} is outside the {size} {stack} blocks")
            prefixes.append(f"{stack}.block.{position}.")
    return {name for name in names if name.startswith(tuple(prefixes))}


class UniMSETrainer(Seq2SeqTrainer):
    """Train and evaluate UniMSE.

    Args (besides ``Seq2SeqTrainer``'s):
        args: :class:`~unimse_hf.training_args.UniMSETrainingArguments` (default: one with ``output_dir``
            ``"unimse-output"``).
        processing_class: the :class:`~unimse_hf.UniMSEProcessor`; builds the default collator
            (``UniMSEDataCollator(processor, return_metadata=True)``) and the default ``compute_metrics``.
        data_collator: any collator that yields model inputs (and ``labels``); without the package's metadata,
            the per-corpus references are read from ``eval_dataset``.
        model_card_data: :class:`~unimse_hf.model_card.UniMSEModelCardData` of the card written on save (default:
            a new one; also reachable as ``trainer.model_card_data`` to set e.g. ``dataset_id``).

    The datasets are rows of the unified schema (``unimse-hf build-dataset``). Problems that would otherwise stop
    training late (missing columns, an empty training split, an unknown corpus, feature sizes that differ from
    the model's) raise before the first step.
    """

    def __init__(
        self,
        model=None,
        args: UniMSETrainingArguments | None = None,
        data_collator=None,
        train_dataset=None,
        eval_dataset=None,
        processing_class=None,
        compute_metrics=None,
        model_card_data: UniMSEModelCardData | None = None,
        **kwargs,
    ):
        if args is None:
            args = UniMSETrainingArguments(output_dir="unimse-output")
        if not isinstance(args, UniMSETrainingArguments):
            raise TypeError(f"args must be UniMSETrainingArguments, got {type(args).__name__}")
        if data_collator is None:
            if processing_class is None:
                raise ValueError("processing_class (a UniMSEProcessor) is needed to build the default data collator")
            data_collator = UniMSEDataCollator(
                processing_class, return_metadata=True, return_target_fields=args.sample_contrastive_weight > 0
            )
        if compute_metrics is None and processing_class is not None and args.predict_with_generate:
            has_metadata = getattr(data_collator, "return_metadata", False)
            references = None if has_metadata or not isinstance(eval_dataset, datasets.Dataset) else eval_dataset
            compute_metrics = UniMSEComputeMetrics(processing_class, eval_dataset=references)
        if model is not None:
            for name, dataset in (("train_dataset", train_dataset), ("eval_dataset", eval_dataset)):
                check_dataset(name, dataset, model.config, training=name == "train_dataset")
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=None if compute_metrics is None else with_dev_score(compute_metrics),
            **kwargs,
        )
        self.inter_modality_loss = InterModalityContrastiveLoss(
            args.contrastive_temperature, args.contrastive_symmetric
        )
        self.sample_contrastive_loss = SupervisedContrastiveLoss(args.contrastive_temperature)
        self._loss_parts: dict[str, torch.Tensor] = {}
        self._loss_parts_logged_step = 0
        self._bf16_frozen_layers: list[torch.nn.Linear] = []  # while train() runs under cpu_bf16 (frozen_bf16.py)
        self.select_trainable_parameters()
        self._metrics_source = compute_metrics  # its last_confusion_matrices feed the plots
        self._plots_unavailable_logged = False
        self.model_card_data = UniMSEModelCardData() if model_card_data is None else model_card_data
        self.add_callback(ModelCardCallback(self))
        self.add_callback(LossPartsCallback(self))

    # --- parameters ---------------------------------------------------------------------------------------------

    def select_trainable_parameters(self) -> dict[str, int]:
        """Freeze the T5 parameters outside ``args.trainable_backbone_blocks``; fusion, modality encoders and
        projections always train. Returns the trainable parameter count per group.

        A LoRA ``PeftModel`` (:func:`~unimse_hf.lora.apply_lora`) keeps the trainable set peft gave it (the LoRA
        matrices, counted as ``"backbone"``, and the ``modules_to_save`` copies); ``trainable_backbone_blocks`` is
        then not applied."""
        model = self.accelerator.unwrap_model(self.model)
        peft = is_peft_model(model)
        keep = set() if peft else trainable_backbone_names(model, self.args.trainable_backbone_blocks)
        counts = dict.fromkeys(PARAMETER_GROUPS, 0)
        for name, parameter in model.named_parameters():
            group = parameter_group(name)
            if not peft:
                parameter.requires_grad_(group != "backbone" or name in keep)
            counts[group] += parameter.numel() if parameter.requires_grad else 0
        self.trainable_parameter_counts = counts
        return counts

    # --- training and saving ------------------------------------------------------------------------------------

    def train(self, *args, **kwargs):
        """``Seq2SeqTrainer.train``; where ``cpu_bf16`` turned bf16 autocast on, with the frozen ``nn.Linear``
        weights held in bf16 during the run (:mod:`unimse_hf.frozen_bf16`: the same products, less memory) and
        dropout masks of 16 random bits per element (:mod:`unimse_hf.dropout_16bit`: cheaper to draw); with
        ``cache_frozen_prefix``, the frozen text-only encoder blocks run once per text (:mod:`unimse_hf.frozen_prefix`,
        stored in bf16 under bf16/fp16 mixed precision)."""
        model = self.accelerator.unwrap_model(self.model)
        enabled = self.args.cpu_bf16 and self.args.bf16 and self.args.use_cpu
        storage = torch.bfloat16 if self.args.bf16 or self.args.fp16 else torch.float32
        with (
            frozen_prefix_cached(model, self.args.cache_frozen_prefix, storage),
            frozen_linear_weights_in_bf16(model, enabled) as layers,
            dropout_masks_16bit(model, enabled),
        ):
            self._bf16_frozen_layers = layers
            try:
                return super().train(*args, **kwargs)
            finally:
                self._bf16_frozen_layers = []

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """``Trainer._save``; checkpoints written during a ``cpu_bf16`` run hold the frozen weights as float32."""
        if self._bf16_frozen_layers:
            state_dict = self.model.state_dict() if state_dict is None else state_dict
            state_dict = float32_state_dict(state_dict, self._bf16_frozen_layers)
        super()._save(output_dir, state_dict)

    def create_optimizer(self, model=None):
        """The Trainer's optimizer with one learning rate per group (backbone / fusion / modality) and weight decay
        on matrices only (``get_decay_parameter_names``)."""
        if self.optimizer is None:
            opt_model = self.model if model is None else model
            decay = set(self.get_decay_parameter_names(opt_model))
            rates = {
                "backbone": self.args.backbone_learning_rate,
                "fusion": self.args.fusion_learning_rate,
                "modality": self.args.modality_learning_rate,
            }
            groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
            for name, parameter in opt_model.named_parameters():
                if parameter.requires_grad:
                    groups.setdefault((parameter_group(name), name in decay), []).append(parameter)
            parameter_groups = [
                {"params": params, "lr": rates[group], "weight_decay": self.args.weight_decay if decays else 0.0}
                for (group, decays), params in groups.items()
            ]
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(parameter_groups, **optimizer_kwargs)
        return self.optimizer

    # --- loss ---------------------------------------------------------------------------------------------------

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        metadata = pop_metadata(inputs)
        if model.training and "labels" not in inputs:
            raise ValueError(
                "a training batch has no labels: none of its rows has a target (the collator's target_column, "
                "'universal_label' by default). Build the dataset with pseudo-labels or placeholders "
                "(unimse-hf build-dataset) so that every training row has one"
            )
        ce_loss, outputs = super().compute_loss(
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        # the CE is already normalised over the whole accumulation step when the model took num_items_in_batch;
        # the contrastive terms are per-batch means, so they take their share of the step here
        ce_is_step_normalised = self.model_accepts_loss_kwargs and num_items_in_batch is not None
        share = 1.0 / self.current_gradient_accumulation_steps if ce_is_step_normalised else 1.0
        loss = ce_loss
        parts = {"ce_loss": ce_loss.detach() * (1.0 if ce_is_step_normalised else share)}
        for name, weight, value in self._contrastive_terms(outputs, metadata):
            loss = loss + weight * share * value
            parts[name] = value.detach() * share
        if model.training:
            for name, value in parts.items():
                self._loss_parts[name] = self._loss_parts.get(name, 0.0) + value
        return (loss, outputs) if return_outputs else loss

    def _contrastive_terms(self, outputs, metadata: Mapping[str, torch.Tensor]):
        """``(log key, weight, value)`` of every contrastive term with a weight > 0."""
        args = self.args
        text = getattr(outputs, "text_embeds", None)
        if text is None:
            return
        acoustic, visual = outputs.acoustic_embeds, outputs.visual_embeds
        a_present, v_present = outputs.acoustic_present, outputs.visual_present
        if args.contrastive_acoustic_weight > 0:
            value = self.inter_modality_loss(text, acoustic, a_present)
            yield "contrastive_acoustic_loss", args.contrastive_acoustic_weight, value
        if args.contrastive_visual_weight > 0:
            value = self.inter_modality_loss(text, visual, v_present)
            yield "contrastive_visual_loss", args.contrastive_visual_weight, value
        if args.contrastive_acoustic_visual_weight > 0:
            value = self.inter_modality_loss(acoustic, visual, a_present & v_present)
            yield "contrastive_acoustic_visual_loss", args.contrastive_acoustic_visual_weight, value
        if args.sample_contrastive_weight > 0:
            key = f"target_{args.sample_contrastive_field}"
            if key not in metadata:
                raise ValueError(
                    f"sample_contrastive_weight > 0 needs the batch key {key!r}: use the package's collator with "
                    "return_target_fields=True (the default collator of UniMSETrainer does this)"
                )
            value = self.sample_contrastive_loss(text, metadata[key].to(text.device))
            yield "sample_contrastive_loss", args.sample_contrastive_weight, value

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Add the loss parts, averaged over the optimizer steps since the last training log, to a training log."""
        if "loss" in logs and self._loss_parts:
            steps = max(self.state.global_step - self._loss_parts_logged_step, 1)
            for name, total in self._loss_parts.items():
                total = torch.as_tensor(total, device=self.args.device)
                logs[name] = round(float(self.accelerator.gather(total.reshape(1)).mean()) / steps, 6)
            self._loss_parts.clear()
            self._loss_parts_logged_step = self.state.global_step
        super().log(logs, *args, **kwargs)

    # --- evaluation ---------------------------------------------------------------------------------------------

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        """Generate without the reference tensors, then hand them back with the labels as ``(labels, *references)``
        (what :class:`~unimse_hf.metrics.UniMSEComputeMetrics` reads)."""
        metadata = pop_metadata(inputs)
        loss, generated, labels = super().prediction_step(
            model, inputs, prediction_loss_only, ignore_keys, **gen_kwargs
        )
        references = [metadata[key] for key in REFERENCE_KEYS if key in metadata]
        if prediction_loss_only or len(references) != len(REFERENCE_KEYS):
            return loss, generated, labels
        if labels is None:  # rows without targets: -100 placeholders keep the tuple shape
            labels = torch.full((len(references[0]), 1), -100, dtype=torch.long, device=references[0].device)
        return loss, generated, (labels, *references)

    def evaluation_loop(self, *args, **kwargs):
        """``Trainer.evaluation_loop`` gathering with ``accelerator.gather_for_metrics``: with several processes the
        sampler repeats samples to even out the last batch, and ``gather_for_metrics`` drops them again, so every
        dev sample is scored exactly once. (``Seq2SeqTrainer`` gathers with plain ``gather``, which keeps them, for
        the sake of ``num_return_sequences`` > 1; the per-corpus metrics take one generation per sample.)"""
        returned = (getattr(self, "_gen_kwargs", None) or {}).get("num_return_sequences") or 1
        if returned != 1:
            raise ValueError(f"num_return_sequences must be 1 for the per-corpus metrics (one generation per "
                             f"sample), got {returned}")  # fmt: skip
        self.gather_function = functools.partial(
            self.accelerator.gather_for_metrics, use_gather_object=self.args.eval_use_gather_object
        )
        return super().evaluation_loop(*args, **kwargs)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval", **gen_kwargs):
        """``Seq2SeqTrainer.evaluate``; the metrics hold ``{prefix}_{corpus}_{metric}`` and ``{prefix}_dev_score``."""
        check_dataset("eval_dataset", eval_dataset, self.accelerator.unwrap_model(self.model).config)
        if isinstance(getattr(self._metrics_source, "last_confusion_matrices", None), dict):
            self._metrics_source.last_confusion_matrices = {}
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix, **gen_kwargs)
        dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if not isinstance(dataset, Mapping):  # a dict is evaluated split by split, each call plotting its own
            self.write_evaluation_plots(metric_key_prefix)
        return metrics

    def write_evaluation_plots(self, metric_key_prefix: str = "eval") -> list[Path]:
        """Write ``learning_curves.png`` and ``confusion_matrix_<prefix>_<corpus>.png`` (the ERC corpora of the
        last evaluation) into ``args.output_dir``; returns the files written. Without matplotlib, nothing is
        written and one log line says so; a plotting error is logged, never raised."""
        if not self.args.should_save:
            return []
        output_dir = Path(self.args.output_dir)
        matrices = getattr(self._metrics_source, "last_confusion_matrices", None) or {}
        try:
            written = [plot_learning_curves(self.state.log_history, output_dir / "learning_curves.png")]
            for corpus, (matrix, label_names) in matrices.items():
                path = output_dir / f"confusion_matrix_{metric_key_prefix}_{corpus}.png"
                title = f"{corpus} ({metric_key_prefix}, step {self.state.global_step})"
                written.append(plot_confusion_matrix(matrix, label_names, path, title))
        except ImportError as error:
            if not self._plots_unavailable_logged:
                logger.warning("no evaluation plots: %s", error)
                self._plots_unavailable_logged = True
            return []
        except Exception as error:  # a figure must never cost a training run
            logger.warning("could not write the evaluation plots: %r", error)
            return []
        return [path for path in written if path is not None]

    # --- model card ---------------------------------------------------------------------------------------------

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """``Trainer.save_model``, then the model card as ``README.md`` in the same folder. A LoRA ``PeftModel``
        saves its adapter, and ``base_model/`` describes its base (:func:`~unimse_hf.lora.save_base_model`)."""
        super().save_model(output_dir, _internal_call)
        model = self.accelerator.unwrap_model(self.model)
        if is_peft_model(model) and self.args.should_save:
            save_base_model(model, self.args.output_dir if output_dir is None else output_dir)
        self.write_model_card(self.args.output_dir if output_dir is None else output_dir)

    def create_model_card(
        self,
        language: str | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
    ) -> None:
        """Write the UniMSE card into ``args.output_dir`` (``push_to_hub`` calls this before uploading).

        ``language``, ``license``, ``finetuned_from`` (the base model), ``dataset`` (Hub dataset ids) and ``tags``
        (added) update ``self.model_card_data``. ``model_name`` is ignored (``push_to_hub`` passes the folder
        name; set ``model_card_data.model_name`` for the title), and so are ``tasks``, ``dataset_tags`` and
        ``dataset_args``.
        """
        data = self.model_card_data
        for name, value in (("language", language), ("license", license), ("base_model", finetuned_from),
                            ("dataset_id", dataset)):  # fmt: skip
            if value is not None:
                setattr(data, name, value)
        for tag in [tags] if isinstance(tags, str) else tags or []:
            if tag not in data.tags:
                data.tags.append(tag)
        self.write_model_card(self.args.output_dir)

    def write_model_card(self, output_dir: str | Path) -> Path | None:
        """Render the card from ``self.model_card_data`` (refreshed from this trainer) into
        ``output_dir/README.md``; only the process that saves writes. Returns the path written."""
        if not self.args.should_save:
            return None
        data = self.model_card_data
        data.update_from_trainer(self)
        if data.model_id is None and self.hub_model_id is not None:
            data.model_id = self.hub_model_id
        path = Path(output_dir) / "README.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_model_card(data).save(path)
        return path


class LossPartsCallback(TrainerCallback):
    """Start the loss-part averages at the step a ``train()`` call starts from: a resumed run's first log then
    averages over the steps since the checkpoint, like ``loss``, not over every step since step 0."""

    def __init__(self, trainer: UniMSETrainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer._loss_parts.clear()
        self.trainer._loss_parts_logged_step = state.global_step


def with_dev_score(compute_metrics):
    """Wrap a ``compute_metrics`` so that its result also holds ``dev_score`` (:func:`compute_dev_score`)."""

    def compute(eval_pred) -> dict[str, float]:
        metrics = compute_metrics(eval_pred)
        score = compute_dev_score(metrics)
        return metrics if score is None else {**metrics, "dev_score": score}

    return compute


def check_dataset(name: str, dataset, config, training: bool = False) -> None:
    """Fail before the first step on what would stop training late. Only ``datasets.Dataset`` (and dicts of them)
    are inspected; other iterables pass through."""
    if isinstance(dataset, Mapping):
        for key, split in dataset.items():
            check_dataset(f"{name}[{key!r}]", split, config, training)
        return
    if not isinstance(dataset, datasets.Dataset):
        return
    if training and len(dataset) == 0:
        raise ValueError(f"{name} is empty: there is nothing to train on")
    missing = [column for column in REQUIRED_COLUMNS if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{name} lacks the columns {missing} that the collator needs (it has {dataset.column_names}); use a "
            "dataset written by `unimse-hf build-dataset`"
        )
    unknown = sorted(set(dataset.unique("corpus")) - set(CORPORA))
    if unknown:
        raise ValueError(f"{name} has rows of unknown corpora {unknown}; the corpora are {CORPORA}")
    for modality in ("acoustic", "visual"):
        feature = dataset.features.get(modality)
        shape = getattr(feature, "shape", None)
        expected = getattr(config, f"{modality}_dim")
        if shape is not None and shape[-1] not in (None, expected):
            raise ValueError(
                f"{name} has {modality} frames of {shape[-1]} features, the model's config.{modality}_dim is "
                f"{expected}: build the model with {modality}_dim={shape[-1]} or use matching features"
            )
    if training and "universal_label" in dataset.column_names:
        without = sum(label is None or label == "" for label in dataset["universal_label"])
        if without == len(dataset):
            raise ValueError(
                f"{name} has no universal_label in any row: build it with pseudo-labels or with the placeholder "
                "targets of a single-corpus build (unimse-hf build-dataset)"
            )
