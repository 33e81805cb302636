"""Training losses of UniMSE, one class per file.

- :class:`InterModalityContrastiveLoss`: in-batch InfoNCE between the text representation and one other modality
  (the paper's inter-modality contrastive learning, docs/method.md#contrastive-learning).
- :class:`SupervisedContrastiveLoss`: label-aware contrastive loss between samples (Khosla et al., 2020). The paper
  mentions contrast between samples, but the official code has none; off by default.

Importing this package imports torch.
"""

from .inter_modality import InterModalityContrastiveLoss
from .supervised_contrastive import SupervisedContrastiveLoss

__all__ = ["InterModalityContrastiveLoss", "SupervisedContrastiveLoss"]
