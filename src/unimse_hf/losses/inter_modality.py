"""In-batch InfoNCE between the text representation and one other modality (the paper's inter-modality contrastive
learning)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..citations import CITATIONS

_CPC_CITATION = """@article{oord2018cpc,
  title = {Representation Learning with Contrastive Predictive Coding},
  author = {van den Oord, Aaron and Li, Yazhe and Vinyals, Oriol},
  journal = {arXiv preprint arXiv:1807.03748},
  year = {2018}
}"""


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    return float(temperature)


class InterModalityContrastiveLoss(nn.Module):
    """InfoNCE with in-batch negatives between two views of the same samples (e.g. text and acoustic).

    Both sides are cast to float32 and L2-normalised; ``logits[i, j] = a_i · o_j / temperature``. Sample ``i``'s
    positive is ``o_i`` and every other present sample of the batch is a negative, so the target of row ``i`` is
    ``i`` (the diagonal). This pulls the representations of the same utterance together across modalities and
    pushes those of different utterances apart (docs/method.md#contrastive-learning).

    Samples whose ``present`` flag is False (no frames of the modality) are removed before the logits are built:
    they are neither anchors nor negatives, so the loss of the other samples is the loss of the batch without them.
    With fewer than two present samples there is no negative; the loss is then a zero that stays attached to the
    graph (its gradients are zeros), so ``.backward()`` and distributed training see the same graph on every step.

    Unlike the official code (text -> modality only), the default is symmetric: the mean of the anchor -> other and
    other -> anchor cross-entropies; ``symmetric=False`` gives the official one-direction form. See
    ``docs/differences.md`` for the other differences (pooling, projections).

    Args:
        temperature: Divides the cosine similarities; > 0. The paper's and the official value is 0.1.
        symmetric: Average both directions (default) or use anchor -> other only.

    References:
        - Hu et al., UniMSE (EMNLP 2022), inter-modality contrastive learning: https://arxiv.org/abs/2211.11256
        - van den Oord et al., Representation Learning with Contrastive Predictive Coding (InfoNCE), 2018:
          https://arxiv.org/abs/1807.03748

    Inputs:
        +----------------------------------+---------------------------+----------------------------------------+
        | argument                         | shape / dtype             | meaning                                |
        +==================================+===========================+========================================+
        | ``anchor_embeds``                | ``(B, D)`` float          | e.g. ``text_embeds``                   |
        | ``other_embeds``                 | ``(B, D)`` float          | e.g. ``acoustic_embeds``               |
        | ``present`` (optional)           | ``(B,)`` bool             | e.g. ``acoustic_present``; None = all  |
        +----------------------------------+---------------------------+----------------------------------------+

        Returns a float32 scalar (mean over the present anchors).

    Example:
        ::

            from unimse_hf.losses import InterModalityContrastiveLoss

            loss_fn = InterModalityContrastiveLoss(temperature=0.1)
            outputs = model(**batch)  # UniMSEForConditionalGeneration
            text_acoustic = loss_fn(outputs.text_embeds, outputs.acoustic_embeds, outputs.acoustic_present)
            text_visual = loss_fn(outputs.text_embeds, outputs.visual_embeds, outputs.visual_present)
            loss = outputs.loss + 0.5 * text_acoustic + 0.5 * text_visual
    """

    def __init__(self, temperature: float = 0.1, symmetric: bool = True) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        self.symmetric = bool(symmetric)

    def forward(
        self, anchor_embeds: torch.Tensor, other_embeds: torch.Tensor, present: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``anchor_embeds`` ``(B, D)``, ``other_embeds`` ``(B, D)``, ``present`` ``(B,)`` bool -> float32 scalar."""
        self._check_inputs(anchor_embeds, other_embeds, present)
        anchor, other = anchor_embeds.float(), other_embeds.float()
        if present is not None:
            anchor, other = anchor[present], other[present]
        if anchor.shape[0] < 2:
            # only the present rows, so a NaN in an absent row cannot leak in
            return (anchor.sum() + other.sum()) * 0.0
        with torch.autocast(device_type=anchor.device.type, enabled=False):  # keep the matmul in float32
            logits = F.normalize(anchor, dim=-1) @ F.normalize(other, dim=-1).T / self.temperature
            targets = torch.arange(logits.shape[0], device=logits.device)
            loss = F.cross_entropy(logits, targets)
            if self.symmetric:
                loss = (loss + F.cross_entropy(logits.T, targets)) / 2
        return loss

    @staticmethod
    def _check_inputs(anchor_embeds: torch.Tensor, other_embeds: torch.Tensor, present: torch.Tensor | None) -> None:
        for name, value in (("anchor_embeds", anchor_embeds), ("other_embeds", other_embeds)):
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
            if value.ndim != 2:
                raise ValueError(f"{name} must have shape (batch, dim), got {tuple(value.shape)}")
            if not value.is_floating_point():
                raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
        if anchor_embeds.shape != other_embeds.shape:
            raise ValueError(
                f"anchor_embeds {tuple(anchor_embeds.shape)} and other_embeds {tuple(other_embeds.shape)} must have "
                "the same (batch, dim) shape"
            )
        if present is not None:
            if not isinstance(present, torch.Tensor) or present.dtype != torch.bool:
                got = present.dtype if isinstance(present, torch.Tensor) else type(present).__name__
                raise TypeError(f"present must be a bool tensor of shape (batch,), got {got}")
            if present.shape != anchor_embeds.shape[:1]:
                raise ValueError(
                    f"present must have shape ({anchor_embeds.shape[0]},) to match anchor_embeds, "
                    f"got {tuple(present.shape)}"
                )

    def get_config_dict(self) -> dict[str, Any]:
        """The constructor arguments, e.g. for a model card."""
        return {"temperature": self.temperature, "symmetric": self.symmetric}

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, symmetric={self.symmetric}"

    @property
    def citation(self) -> str:
        """BibTeX of UniMSE and of InfoNCE."""
        return f"{CITATIONS['unimse']}\n{_CPC_CITATION}"
