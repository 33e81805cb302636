"""UniMSE configuration: a T5 configuration plus the modality encoders, PMF fusion and contrastive sizes.

This file imports only ``transformers`` and ``huggingface_hub`` so that ``save_pretrained`` can copy it next to
the weights as remote code (``trust_remote_code=True`` loading without ``unimse_hf`` installed).
"""

import sys

from huggingface_hub.dataclasses import strict
from transformers import T5Config

FUSION_INITS = ("identity", "random")


@strict
class UniMSEConfig(T5Config):
    r"""
    Configuration of [`UniMSEForConditionalGeneration`]: every [`T5Config`] argument, plus:

    acoustic_dim (`int`, defaults to 64):
        Features per acoustic frame (the paper's unified features are 64-d).
    visual_dim (`int`, defaults to 64):
        Features per visual frame.
    modality_hidden_size (`int`, defaults to 32):
        Hidden size of the acoustic/visual LSTMs and of the utterance vectors fused by PMF.
    modality_dropout (`float`, defaults to 0.3):
        Dropout on the LSTM's final hidden state before its output projection (0.3 in the official code).
    fusion_layers (`list[int]`, *optional*):
        Encoder blocks (0-indexed) followed by a PMF fusion module. Defaults to the last 3 blocks (all blocks
        when the encoder has fewer). Stored sorted after construction.
    fusion_bottleneck (`int`, defaults to 64):
        Bottleneck width of PMF's sigmoid adapter.
    fusion_in_decoder (`bool`, defaults to `False`):
        Also fuse after the same block indices of the decoder, as the official code does (the paper fuses in the
        encoder only; unimse-hf docs, differences.md).
    fusion_init (`str`, defaults to `"identity"`):
        `"identity"`: a freshly initialised PMF returns its input exactly, so a model warm-started from T5 starts
        as that T5. `"random"`: the official initialisation (random 832→768 output projection; unimse-hf
        docs, differences.md).
    contrastive_dim (`int`, defaults to 30):
        Size of the projected text/acoustic/visual representations used by the contrastive losses.
    """

    model_type = "unimse"

    acoustic_dim: int = 64
    visual_dim: int = 64
    modality_hidden_size: int = 32
    modality_dropout: float | int = 0.3
    fusion_layers: list[int] | None = None
    fusion_bottleneck: int = 64
    fusion_in_decoder: bool = False
    fusion_init: str = "identity"
    contrastive_dim: int = 30

    def __post_init__(self, **kwargs):
        if _served_by_registered_pipelines(kwargs.get("custom_pipelines")):
            # the tasks are registered in this process (unimse_hf in use): pipeline() then takes the installed
            # classes; a custom_pipelines entry would send it to the folder's copy, behind trust_remote_code
            kwargs.pop("custom_pipelines")
        if kwargs.get("decoder_start_token_id") is None:
            kwargs["decoder_start_token_id"] = self.pad_token_id if self.pad_token_id is not None else 0
        super().__post_init__(**kwargs)
        if self.fusion_layers is None:
            self.fusion_layers = list(range(max(0, self.num_layers - 3), self.num_layers))
        else:
            self.fusion_layers = sorted(self.fusion_layers)

    def validate_unimse_values(self) -> None:
        """Part of the ``@strict`` validation (after the type checks): reject impossible values, naming the argument."""
        for name in ("acoustic_dim", "visual_dim", "modality_hidden_size", "fusion_bottleneck", "contrastive_dim"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if not 0 <= self.modality_dropout < 1:
            raise ValueError(f"modality_dropout must be in [0, 1), got {self.modality_dropout}")
        if self.fusion_init not in FUSION_INITS:
            raise ValueError(f"fusion_init must be one of {FUSION_INITS}, got {self.fusion_init!r}")
        if len(set(self.fusion_layers)) != len(self.fusion_layers):
            raise ValueError(f"fusion_layers must not repeat a block index, got {self.fusion_layers}")
        stacks = [("encoder", self.num_layers)]
        if self.fusion_in_decoder:
            stacks.append(("decoder", self.num_decoder_layers))
        for stack, depth in stacks:
            bad = [i for i in self.fusion_layers if not 0 <= i < depth]
            if bad:
                raise ValueError(
                    f"fusion_layers must index {stack} blocks 0..{depth - 1} ({stack} has {depth} blocks), "
                    f"got {self.fusion_layers} (out of range: {bad})"
                )


def _served_by_registered_pipelines(custom_pipelines: dict | None) -> bool:
    """Whether every task of a saved ``custom_pipelines`` entry is in this process's pipeline registry."""
    registry = getattr(sys.modules.get("transformers.pipelines"), "PIPELINE_REGISTRY", None)
    return bool(custom_pipelines) and registry is not None and set(custom_pipelines) <= set(registry.supported_tasks)


__all__ = ["UniMSEConfig"]
