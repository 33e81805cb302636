"""UniMSETrainingArguments: ``Seq2SeqTrainingArguments`` plus the UniMSE loss weights, parameter groups and
trainable blocks (docs/method.md#training; the paper's values are the defaults)."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

from transformers import Seq2SeqTrainingArguments

from .hardware import accelerator_available, cpu_has_native_bf16
from .labels import LABEL_FIELDS

logger = logging.getLogger(__name__)

BACKBONE_BLOCK_CHOICES = ("paper", "all", "none")
#: label fields the inter-sample (supervised) contrastive loss can group samples by
SAMPLE_CONTRASTIVE_FIELDS = tuple(name for name in LABEL_FIELDS if name != "score")


@dataclass
class UniMSETrainingArguments(Seq2SeqTrainingArguments):
    """Arguments of :class:`~unimse_hf.trainer.UniMSETrainer`; every ``Seq2SeqTrainingArguments`` field works too.

    Changed defaults: ``predict_with_generate=True`` (the targets are generated text), ``remove_unused_columns=False``
    (the collator reads dataset columns the model does not take), ``metric_for_best_model="dev_score"`` (see
    :func:`unimse_hf.trainer.compute_dev_score`), ``generation_max_length=32``,
    ``ddp_find_unused_parameters=True`` (also under activation checkpointing), ``hub_private_repo=True``
    (``push_to_hub`` creates a private repository unless set to False). Invalid values raise at construction.

    Several processes without an accelerator (``torchrun --nproc_per_node 2`` or ``accelerate launch --multi_gpu
    --num_processes 2`` on a CPU-only machine) set ``use_cpu=True``: without it, accelerate opens a process group but
    reports no distributed set-up, and every process would train alone on the whole dataset.

    ``cpu_bf16=True`` (the recommended CPU setting, on in the t5-base configs of ``training_args/``) trains under bf16
    autocast when the run is on a CPU with native bf16, with float32 trainable weights and optimizer state, and the
    frozen ``nn.Linear`` weights held in bf16 while ``train()`` runs (the products autocast computes anyway, with
    less memory; :mod:`unimse_hf.frozen_bf16`); elsewhere it changes nothing. benchmarks/README.md has the measured
    speed-up and the bf16 vs float32 tolerances.
    """

    contrastive_acoustic_weight: float = field(
        default=0.5, metadata={"help": "Weight of the text<->acoustic InfoNCE term (paper: 0.5). 0 turns it off."}
    )
    contrastive_visual_weight: float = field(
        default=0.5, metadata={"help": "Weight of the text<->visual InfoNCE term (paper: 0.5). 0 turns it off."}
    )
    contrastive_acoustic_visual_weight: float = field(
        default=0.0,
        metadata={"help": "Weight of an acoustic<->visual InfoNCE term (not in the paper; 0 = off)."},
    )
    contrastive_temperature: float = field(
        default=0.1, metadata={"help": "Temperature of the InfoNCE terms (paper: 0.1)."}
    )
    contrastive_symmetric: bool = field(
        default=True,
        metadata={
            "help": "Average both directions of each InfoNCE pair; False keeps the official code's one direction "
            "(text -> modality)."
        },
    )
    sample_contrastive_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the inter-sample supervised contrastive loss on the text embeddings (the paper claims "
            "it, the official code never had it; 0 = off)."
        },
    )
    sample_contrastive_field: str = field(
        default="polarity",
        metadata={
            "help": "Target field whose equal values make samples positives for the supervised contrastive loss: "
            f"one of {SAMPLE_CONTRASTIVE_FIELDS}."
        },
    )
    backbone_learning_rate: float = field(
        default=3e-4, metadata={"help": "Learning rate of the trainable T5 blocks (paper: 3e-4)."}
    )
    fusion_learning_rate: float = field(
        default=1e-4, metadata={"help": "Learning rate of the PMF fusion modules (paper: 1e-4)."}
    )
    modality_learning_rate: float = field(
        default=1e-4,
        metadata={"help": "Learning rate of the acoustic/visual encoders and the contrastive projections (1e-4)."},
    )
    trainable_backbone_blocks: list[str] = field(
        default_factory=lambda: ["paper"],
        metadata={
            "help": "Which T5 parameters train: 'paper' (the last two encoder and decoder blocks, as the official "
            "code), 'all', 'none' (only fusion, modality encoders and projections), or block indices such as "
            "-2 -1 (negative counts from the end; each index applies to the encoder and the decoder)."
        },
    )
    predict_with_generate: bool = field(
        default=True, metadata={"help": "Generate during evaluation (needed for the per-corpus metrics)."}
    )
    generation_max_length: int | None = field(
        default=32, metadata={"help": "Maximum generated length during evaluation (a universal label is < 20 tokens)."}
    )
    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "Kept False: the collator reads dataset columns that the model does not take."},
    )
    metric_for_best_model: str | None = field(
        default="dev_score",
        metadata={"help": "Checkpoint selection metric; 'dev_score' is the mean of the per-corpus dev scores."},
    )
    cpu_bf16: bool = field(
        default=False,
        metadata={
            "help": "Train and evaluate under bf16 autocast (sets bf16 and use_cpu) when the run is on a CPU that "
            "computes bf16 natively (AMX or AVX512-BF16; see cpu_has_native_bf16); does nothing on a GPU, on other "
            "CPUs (emulated bf16 is slower than float32) or with fp16/bf16 set. Trainable weights and optimizer state "
            "stay float32; frozen nn.Linear weights are held in bf16 during train() (saved as float32)."
        },
    )
    cache_frozen_prefix: bool = field(
        default=False,
        metadata={
            "help": "Run the frozen text-only encoder blocks (below the first fused block, when neither they nor the "
            "token embedding train) once per distinct text during train() and reuse their output at later epochs and "
            "evaluations: the largest saving of the paper's trainable set (docs/performance.md). Those blocks then run "
            "without dropout, as a fixed feature extractor; the outputs take tokens x d_model values per text (bf16 "
            "under bf16/fp16) in memory. Off by default: it changes the paper's training (no dropout in those blocks)."
        },
    )
    hub_private_repo: bool | None = field(
        default=True,
        metadata={
            "help": "Create the Hub repository of push_to_hub (and a Trackio Space) private; False: public, None: the "
            "namespace's default. Ignored when the repository exists."
        },
    )

    def __post_init__(self):
        if self.cpu_bf16 and not (self.bf16 or self.fp16) and (self.use_cpu or not accelerator_available()):
            if cpu_has_native_bf16():
                self.bf16 = self.use_cpu = True  # transformers takes bf16 without a GPU only with use_cpu
        if not self.use_cpu and launched_without_accelerator():
            self.use_cpu = True  # DDP over gloo: see the class docstring
            if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
                logger.warning("no GPU: accelerate ignores FSDP on CPU, the processes train with DDP over gloo")
        if self.ddp_find_unused_parameters is None:
            # some parameters get no gradient in some steps (the modality encoders on text-only rows, the contrastive
            # projections with their weights at 0); the Trainer would turn DDP's detection off under activation
            # checkpointing, and the first step would fail. UniMSE's checkpointing is non-reentrant, which allows it.
            self.ddp_find_unused_parameters = True
        super().__post_init__()
        for name in (
            "contrastive_acoustic_weight",
            "contrastive_visual_weight",
            "contrastive_acoustic_visual_weight",
            "sample_contrastive_weight",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("contrastive_temperature", "backbone_learning_rate", "fusion_learning_rate",
                     "modality_learning_rate"):  # fmt: skip
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.sample_contrastive_field not in SAMPLE_CONTRASTIVE_FIELDS:
            raise ValueError(
                f"sample_contrastive_field must be one of {SAMPLE_CONTRASTIVE_FIELDS}, "
                f"got {self.sample_contrastive_field!r}"
            )
        if self.remove_unused_columns:
            raise ValueError(
                "remove_unused_columns must be False for UniMSE: the collator reads the dataset's text, context and "
                "label columns, which the model's forward does not take"
            )
        self.trainable_backbone_blocks = self._check_blocks(self.trainable_backbone_blocks)

    def set_push_to_hub(
        self,
        model_id: str,
        strategy="every_save",
        token: str | None = None,
        private_repo: bool | None = True,
        always_push: bool = False,
        revision: str | None = None,
    ):
        """``TrainingArguments.set_push_to_hub`` with ``private_repo=True`` by default (its ``None`` would leave the
        visibility to the namespace's default)."""
        return super().set_push_to_hub(
            model_id, strategy, token=token, private_repo=private_repo, always_push=always_push, revision=revision
        )

    @staticmethod
    def _check_blocks(value) -> list[str]:
        blocks = [value] if isinstance(value, (str, int)) else list(value)
        blocks = [str(block).strip() for block in blocks]
        keywords = [block for block in blocks if block in BACKBONE_BLOCK_CHOICES]
        if keywords and len(blocks) > 1:
            raise ValueError(
                f"trainable_backbone_blocks takes one of {BACKBONE_BLOCK_CHOICES} alone or a list of block indices, "
                f"got {blocks}"
            )
        if not keywords:
            bad = [block for block in blocks if not block.lstrip("-").isdigit()]
            if bad or not blocks:
                raise ValueError(
                    f"trainable_backbone_blocks must be one of {BACKBONE_BLOCK_CHOICES} or block indices "
                    f"(e.g. -2 -1), got {blocks}"
                )
        return blocks


def launched_without_accelerator() -> bool:
    """Whether a launcher started several processes (``WORLD_SIZE`` > 1) on a machine without a GPU or other
    accelerator that torch knows."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not accelerator_available()
