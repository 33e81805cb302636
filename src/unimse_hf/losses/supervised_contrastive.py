"""Supervised contrastive loss between samples (Khosla et al., 2020, the "L_out" form)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .inter_modality import _check_temperature

_SUPCON_CITATION = """@inproceedings{khosla2020supcon,
  title = {Supervised Contrastive Learning},
  author = {Khosla, Prannay and Teterwak, Piotr and Wang, Chen and Sarna, Aaron and Tian, Yonglong and
            Isola, Phillip and Maschinot, Aaron and Liu, Ce and Krishnan, Dilip},
  booktitle = {Advances in Neural Information Processing Systems},
  volume = {33},
  pages = {18661--18673},
  year = {2020}
}"""


class SupervisedContrastiveLoss(nn.Module):
    """SupCon: samples that share a label are positives of each other, all other samples are negatives.

    On float32, L2-normalised embeddings ``z`` with ``s[i, j] = z_i · z_j / temperature``, for each anchor ``i``::

        L_i = -1 / |P(i)| * sum_{p in P(i)} log( exp(s[i, p]) / sum_{a != i} exp(s[i, a]) )

    where ``P(i)`` are the other labelled samples with the label of ``i`` and ``a`` runs over all other labelled
    samples. The loss is the mean of ``L_i`` over the anchors that have at least one positive (Khosla et al.'s
    ``L_out`` with a mean instead of a sum over anchors, and without their reference code's extra
    ``temperature / base_temperature`` factor).

    Rows with a negative label (no label, e.g. an unlabelled corpus) are removed first: they are neither anchors,
    positives nor negatives. An anchor without a positive is skipped. If no anchor has a positive, the loss is a
    zero that stays attached to the graph.

    Why it exists: the UniMSE abstract speaks of contrastive learning "between modalities and samples", but the
    official code has no label-aware loss; its only sample-level element is the in-batch negatives of the
    inter-modality InfoNCE (:class:`~unimse_hf.losses.InterModalityContrastiveLoss`). This loss is therefore an
    addition of this package and is off by default in the trainer (weight 0.0).

    Args:
        temperature: Divides the cosine similarities; > 0.

    References:
        - Khosla et al., Supervised Contrastive Learning, NeurIPS 2020: https://arxiv.org/abs/2004.11362
        - Hu et al., UniMSE (EMNLP 2022): https://arxiv.org/abs/2211.11256

    Inputs:
        +------------+--------------------+-------------------------------------------------+
        | argument   | shape / dtype      | meaning                                         |
        +============+====================+=================================================+
        | ``embeds`` | ``(B, D)`` float   | one representation per sample                   |
        | ``labels`` | ``(B,)`` integer   | class id per sample; < 0 = no label (ignored)   |
        +------------+--------------------+-------------------------------------------------+

        Returns a float32 scalar.

    Example:
        ::

            from unimse_hf.losses import SupervisedContrastiveLoss

            loss_fn = SupervisedContrastiveLoss(temperature=0.1)
            outputs = model(**batch)
            loss = outputs.loss + 0.1 * loss_fn(outputs.text_embeds, emotion_ids)  # emotion_ids: -1 where unknown
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)

    def forward(self, embeds: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``embeds`` ``(B, D)``, ``labels`` ``(B,)`` integer (< 0 = ignored) -> float32 scalar."""
        self._check_inputs(embeds, labels)
        keep = labels >= 0
        z, y = embeds.float()[keep], labels[keep]
        n = y.shape[0]
        eye = torch.eye(n, dtype=torch.bool, device=z.device)
        positives = (y.unsqueeze(0) == y.unsqueeze(1)) & ~eye
        has_positive = positives.any(dim=1)
        if not bool(has_positive.any()):  # also covers n < 2
            return z.sum() * 0.0
        with torch.autocast(device_type=z.device.type, enabled=False):  # keep the matmul in float32
            z = F.normalize(z, dim=-1)
            sim = z @ z.T / self.temperature
            log_prob = sim - sim.masked_fill(eye, float("-inf")).logsumexp(dim=1, keepdim=True)
            mean_log_prob_pos = (log_prob * positives).sum(dim=1)[has_positive] / positives.sum(dim=1)[has_positive]
        return -mean_log_prob_pos.mean()

    @staticmethod
    def _check_inputs(embeds: torch.Tensor, labels: torch.Tensor) -> None:
        if not isinstance(embeds, torch.Tensor):
            raise TypeError(f"embeds must be a torch.Tensor, got {type(embeds).__name__}")
        if embeds.ndim != 2:
            raise ValueError(f"embeds must have shape (batch, dim), got {tuple(embeds.shape)}")
        if not embeds.is_floating_point():
            raise TypeError(f"embeds must be a floating-point tensor, got {embeds.dtype}")
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise TypeError(f"labels must be an integer tensor, got {labels.dtype}")
        if labels.shape != embeds.shape[:1]:
            raise ValueError(f"labels must have shape ({embeds.shape[0]},) to match embeds, got {tuple(labels.shape)}")

    def get_config_dict(self) -> dict[str, Any]:
        """The constructor arguments, e.g. for a model card."""
        return {"temperature": self.temperature}

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

    @property
    def citation(self) -> str:
        """BibTeX of SupCon."""
        return _SUPCON_CITATION
