"""LoRA fine-tuning of UniMSE through peft: the arguments, the wrapping, and loading or merging a LoRA run.

Under LoRA the T5 backbone trains only through low-rank matrices added to ``lora_target_modules`` (T5 attention
``q`` and ``v`` by default), while the UniMSE modules without pretrained weights train in full as peft
``modules_to_save``: the PMF fusion modules, the acoustic/visual encoders and the contrastive projections
(:data:`LORA_MODULES_TO_SAVE`). A LoRA run folder (``UniMSETrainer.save_model`` of a ``PeftModel``) holds

- ``adapter_config.json`` and ``adapter_model.safetensors``: peft's adapter (the LoRA matrices and the trained
  copies of the ``modules_to_save``), with the base checkpoint in ``base_model_name_or_path``;
- ``base_model/``: the ``UniMSEConfig`` (and generation config) of the base model, which a T5 checkpoint alone
  cannot give (modality sizes, fusion blocks), and, for a base built from a configuration (no checkpoint to
  reload its random weights from), the base weights themselves;
- ``config.json``: the base model's ``UniMSEConfig`` again, where ``pipeline("multimodal-sentiment",
  model=run_dir)`` reads it;
- the processor files and the model card (``README.md``).

:func:`load_lora_run` rebuilds base + adapter from such a folder; :func:`merge_lora` (``unimse-hf merge-lora``)
folds the adapter into a plain :class:`~unimse_hf.UniMSEForConditionalGeneration` folder that loads without peft.

peft is an optional dependency (``pip install "unimse-hf[peft]"``): it is imported only by the functions that
need it, so importing this module works without it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from peft import PeftModel

    from .modeling_unimse import UniMSEForConditionalGeneration

#: module-name suffixes of the UniMSE modules that train in full under LoRA (peft's ``modules_to_save`` matches a
#: module whose name ends with one of them): the PMF modules of the fusion blocks, the modality encoders of the
#: encoder, and the contrastive projections
LORA_MODULES_TO_SAVE: tuple[str, ...] = (
    "fusion",
    "acoustic_encoder",
    "visual_encoder",
    "text_projection",
    "acoustic_projection",
    "visual_projection",
)
#: the sub-folder of a LoRA run folder that describes (and, for a from-scratch base, holds) the base model
BASE_MODEL_DIR = "base_model"
ADAPTER_CONFIG = "adapter_config.json"
PEFT_INSTALL_HINT = 'pip install "unimse-hf[peft]"'
# peft's additions to a parameter name: the wrapper prefix, the LoRA matrices and modules_to_save copies (each
# followed by the adapter name) and the wrapped originals
_PEFT_PREFIX = "base_model.model."
_ADAPTER_SEGMENT = re.compile(r"\.(lora_A|lora_B|lora_embedding_A|lora_embedding_B|lora_magnitude_vector|"
                              r"modules_to_save)\.[^.]+(?=\.|$)")  # fmt: skip
_WRAPPED_SEGMENT = re.compile(r"\.(base_layer|original_module)(?=\.)")


@dataclass
class LoraArguments:
    """LoRA through peft (``unimse_hf.lora``); every field can be set in a training YAML file."""

    use_lora: bool = field(
        default=False,
        metadata={"help": "Train the T5 backbone through LoRA adapters (needs peft: pip install 'unimse-hf[peft]'); "
                  "the fusion modules, modality encoders and contrastive projections train in full. The "
                  "run folder then holds the adapter, not the full model (unimse-hf merge-lora merges it)."},
    )  # fmt: skip
    lora_r: int = field(default=8, metadata={"help": "Rank of the LoRA matrices."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling numerator: the update is alpha / r * B A."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA branch's input, in [0, 1)."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q", "v"],
        metadata={"help": "T5 modules that get LoRA matrices, by name suffix: q, k, v, o (attention), wi, wo "
                  "(feed-forward; wi_0, wi_1 when gated). Default: q v, in self- and cross-attention."},
    )  # fmt: skip

    def __post_init__(self):
        if isinstance(self.lora_target_modules, str):
            self.lora_target_modules = [self.lora_target_modules]
        for name in ("lora_r", "lora_alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.lora_dropout, (int, float)) or not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be a number in [0, 1), got {self.lora_dropout!r}")
        targets = list(self.lora_target_modules)
        if not targets or not all(isinstance(target, str) and target.strip() for target in targets):
            raise ValueError(f"lora_target_modules must be a non-empty list of module names, got {targets!r}")
        self.lora_target_modules = [target.strip() for target in targets]


def import_peft():
    """The ``peft`` module, or an ``ImportError`` that says how to install it."""
    try:
        import peft
    except ImportError as error:
        raise ImportError(
            f"LoRA needs the peft package, which is not installed (or could not be imported: {error}); install "
            f"it with: {PEFT_INSTALL_HINT}"
        ) from error
    return peft


def is_peft_model(model: Any) -> bool:
    """Whether ``model`` is a peft ``PeftModel`` (``False`` without peft: then nothing can be one)."""
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(model, getattr(peft, "PeftModel", ()))


def peft_free_name(name: str) -> str:
    """The base model's name for a parameter name of a ``PeftModel``: ``base_model.model.`` and the wrapper
    segments dropped, so that ``...SelfAttention.q.lora_A.default.weight`` reads ``...SelfAttention.q.weight`` and
    ``text_projection.modules_to_save.default.weight`` reads ``text_projection.weight``. Plain names are returned
    unchanged."""
    name = name.removeprefix(_PEFT_PREFIX)
    return _WRAPPED_SEGMENT.sub("", _ADAPTER_SEGMENT.sub("", name))


def is_adapter_parameter(name: str) -> bool:
    """Whether a ``PeftModel`` parameter belongs to the adapter (a LoRA matrix or a ``modules_to_save`` copy),
    i.e. is not a parameter of the base model."""
    return _ADAPTER_SEGMENT.search(name) is not None


def apply_lora(model: UniMSEForConditionalGeneration, lora_args: LoraArguments) -> PeftModel:
    """Wrap ``model`` with LoRA on ``lora_args.lora_target_modules`` and :data:`LORA_MODULES_TO_SAVE` in full.

    Returns a ``peft.PeftModelForSeq2SeqLM`` whose trainable parameters are exactly the LoRA matrices and the
    trained copies of the fusion modules, modality encoders and contrastive projections (``use_lora`` itself is
    not read here: calling this function is the choice). Raises ``ValueError`` for a target that names no module
    or one inside the fully trained modules, ``ImportError`` without peft.
    """
    peft = import_peft()
    from .modeling_unimse import UniMSEForConditionalGeneration

    if is_peft_model(model):
        raise ValueError("model is already a PeftModel; apply_lora takes the UniMSEForConditionalGeneration itself")
    if not isinstance(model, UniMSEForConditionalGeneration):
        raise TypeError(f"model must be a UniMSEForConditionalGeneration, got {type(model).__name__}")
    names = [name for name, _ in model.named_modules()]
    saved = [name for name in names if name.endswith(LORA_MODULES_TO_SAVE)]  # peft's modules_to_save matching
    targets = {target: [name for name in names if name == target or name.endswith(f".{target}")]
               for target in lora_args.lora_target_modules}  # fmt: skip
    missing = [target for target, found in targets.items() if not found]
    if missing:
        raise ValueError(
            f"lora_target_modules must name modules of the model (T5: q, k, v, o, wi, wo, ...), got {missing}, "
            "which match no module name"
        )
    inside = [name for found in targets.values() for name in found if name.startswith(tuple(f"{s}." for s in saved))]
    if inside:
        raise ValueError(
            f"lora_target_modules must name T5 modules outside the fully trained modules {LORA_MODULES_TO_SAVE}, "
            f"got {lora_args.lora_target_modules}, which match {inside[:3]}"
        )
    config = peft.LoraConfig(
        r=lora_args.lora_r,
        lora_alpha=lora_args.lora_alpha,
        lora_dropout=lora_args.lora_dropout,
        target_modules=list(lora_args.lora_target_modules),
        modules_to_save=list(LORA_MODULES_TO_SAVE),
        task_type=peft.TaskType.SEQ_2_SEQ_LM,
    )
    return peft.get_peft_model(model, config)


def lora_summary(model: Any) -> dict[str, Any]:
    """What a model card says about an adapter: ``{}`` for a plain model; for a ``PeftModel`` with LoRA the rank,
    alpha, dropout, target modules, ``modules_to_save``, the number of LoRA parameters and whether the base
    weights are saved with the adapter (a base built from a configuration)."""
    if not is_peft_model(model):
        return {}
    config = model.peft_config[model.active_adapter]
    targets = config.target_modules
    return {
        "r": config.r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": sorted(targets) if isinstance(targets, (set, list, tuple)) else targets,
        "modules_to_save": list(config.modules_to_save or []),
        "lora_parameters": sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n),
        "base_weights_saved": not _base_checkpoint(model),
    }


def base_parameter_count(model: Any) -> int:
    """Parameters of the base model (a ``PeftModel``'s LoRA matrices and ``modules_to_save`` copies left out)."""
    return sum(p.numel() for name, p in model.named_parameters() if not is_adapter_parameter(name))


def _base_checkpoint(model: PeftModel) -> str:
    """The checkpoint the adapter names as its base (peft's ``base_model_name_or_path``, taken from the model when
    it was wrapped); ``""`` for a base built from a configuration, also after :func:`load_lora_run` reloaded it."""
    return str(model.peft_config[model.active_adapter].base_model_name_or_path or "")


def save_base_model(model: PeftModel, output_dir: str | Path) -> Path:
    """Write ``output_dir/base_model/``: the base model's config and generation config, and, when the base has no
    checkpoint to reload (built from a configuration: random weights), its weights as they were before training
    (the LoRA matrices and ``modules_to_save`` copies are the adapter's and are left out). Returns the folder."""
    from .modeling_unimse import UniMSEForConditionalGeneration

    base = model.get_base_model()
    # the configuration at the top too: pipeline("multimodal-sentiment", model=run_dir) reads it there, and takes
    # the folder for a local base + adapter (rather than the checkpoint the adapter names) only when it is there
    base.config.save_pretrained(output_dir)
    folder = Path(output_dir) / BASE_MODEL_DIR
    if _base_checkpoint(model):
        base.config.save_pretrained(folder)
        base.generation_config.save_pretrained(folder)
        return folder
    state = {_WRAPPED_SEGMENT.sub("", name): tensor for name, tensor in base.state_dict().items()
             if not is_adapter_parameter(name)}  # fmt: skip
    clean = UniMSEForConditionalGeneration(base.config)
    clean.load_state_dict(state, strict=True)
    clean.generation_config = base.generation_config
    clean.save_pretrained(folder)
    return folder


def _local_folder(run_dir: str | Path) -> Path:
    """A local folder as is; anything else is taken for a Hub repository id and downloaded."""
    folder = Path(run_dir)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise ValueError(f"run_dir must be a LoRA run folder (or a Hub repository id), got the file {str(folder)!r}")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(run_dir)))


def load_base_model(run_dir: str | Path) -> UniMSEForConditionalGeneration:
    """The base model of a LoRA run folder: from ``base_model/`` when it holds the weights, else from the base
    checkpoint named in ``adapter_config.json`` with the ``UniMSEConfig`` of ``base_model/``."""
    from transformers import GenerationConfig

    from .configuration_unimse import UniMSEConfig
    from .modeling_unimse import UniMSEForConditionalGeneration

    folder = _check_run_folder(run_dir)
    base_dir = folder / BASE_MODEL_DIR
    if not (base_dir / "config.json").is_file():
        raise ValueError(
            f"run_dir {str(run_dir)!r} lacks {BASE_MODEL_DIR}/config.json, the UniMSE configuration of the base "
            "model that UniMSETrainer.save_model writes next to a LoRA adapter"
        )
    if any(base_dir.glob("*.safetensors")):
        model = UniMSEForConditionalGeneration.from_pretrained(base_dir)
        # a base built from a configuration has no checkpoint of its own; it stays so (rather than pointing at this
        # run's folder), so that saving the adapter again writes the base weights again (save_base_model)
        model.config._name_or_path = model.name_or_path = ""
        return model
    name = json.loads((folder / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    if not name:
        raise ValueError(
            f"run_dir {str(run_dir)!r}: {ADAPTER_CONFIG} names no base_model_name_or_path and {BASE_MODEL_DIR}/ "
            "holds no weights, so the base model cannot be rebuilt"
        )
    model = UniMSEForConditionalGeneration.from_pretrained(name, config=UniMSEConfig.from_pretrained(base_dir))
    if (base_dir / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(base_dir)
    return model


def _check_run_folder(run_dir: str | Path) -> Path:
    folder = _local_folder(run_dir)
    if not (folder / ADAPTER_CONFIG).is_file():
        files = sorted(path.name for path in folder.iterdir())[:8]
        raise ValueError(
            f"run_dir must be a LoRA run folder holding {ADAPTER_CONFIG} (unimse-hf train with use_lora: true), "
            f"got {str(run_dir)!r}, which holds {files}"
        )
    return folder


def load_lora_run(run_dir: str | Path, is_trainable: bool = False) -> PeftModel:
    """Base model + LoRA adapter of a LoRA run folder (or Hub repository) as a ``PeftModel`` (in eval mode unless
    ``is_trainable``). Load the processor with ``AutoProcessor.from_pretrained(run_dir)``."""
    peft = import_peft()
    folder = _check_run_folder(run_dir)
    model = peft.PeftModel.from_pretrained(load_base_model(folder), folder, is_trainable=is_trainable)
    return model if is_trainable else model.eval()


def merge_lora(run_dir: str | Path, out_dir: str | Path) -> UniMSEForConditionalGeneration:
    """Fold the adapter of a LoRA run folder into its base model and save the result to ``out_dir`` as a plain
    :class:`~unimse_hf.UniMSEForConditionalGeneration` folder (``save_pretrained``: safetensors + remote code) with
    the run's processor; it loads with ``AutoModelForSeq2SeqLM`` and needs no peft. Returns the merged model."""
    from transformers import AutoProcessor

    folder = _check_run_folder(run_dir)
    merged = load_lora_run(folder).merge_and_unload()
    merged.save_pretrained(out_dir)
    if (folder / "processor_config.json").is_file():
        AutoProcessor.from_pretrained(folder).save_pretrained(out_dir)
    return merged


__all__ = [
    "LORA_MODULES_TO_SAVE",
    "LoraArguments",
    "apply_lora",
    "load_base_model",
    "load_lora_run",
    "merge_lora",
    "save_base_model",
]
