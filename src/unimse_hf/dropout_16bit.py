"""Dropout whose masks take 16 random bits per element, for CPU training under ``cpu_bf16``.

torch's CPU dropout draws one number per element from the mt19937 generator (``bernoulli_``), a sixth of the t5-base
training step with the frozen-prefix cache in the profile (docs/performance.md). :func:`dropout_16bit` fills one
int64 per four elements from the same generator (so ``torch.manual_seed`` / ``set_seed`` still fix the masks) and
drops an element when its 16-bit lane is below ``round(p * 2**16)`` (counted from the lane's minimum): each element
is dropped independently with probability ``round(p * 2**16) / 2**16``, within ``2**-17`` of ``p``, and the kept ones
are scaled by the inverse of the keep probability, so every expectation is that of ``nn.Dropout``.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator

import torch
from torch import nn

LANE_VALUES = 2**16


def dropout_16bit(hidden_states: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout of ``hidden_states`` (any shape) with drop probability ``p`` rounded to a multiple of 2**-16."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
    drops = round(p * LANE_VALUES)
    if drops == 0:
        return hidden_states
    if drops == LANE_VALUES:
        return hidden_states * 0.0
    count = hidden_states.numel()
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=hidden_states.device).random_(-(2**63), None)
    lanes = words.view(torch.int16)[:count].view(hidden_states.shape)  # uniform over -2**15 .. 2**15 - 1
    keep = lanes >= drops - LANE_VALUES // 2
    return torch.where(keep, hidden_states, 0.0).mul_(LANE_VALUES / (LANE_VALUES - drops))


def _forward_16bit(self: nn.Dropout, hidden_states: torch.Tensor) -> torch.Tensor:
    """``nn.Dropout.forward`` with :func:`dropout_16bit` masks on a CPU (a GPU's dropout is already fast)."""
    if not self.training or self.p == 0.0 or hidden_states.device.type != "cpu":
        return nn.functional.dropout(hidden_states, self.p, self.training, self.inplace)
    return dropout_16bit(hidden_states, self.p)


@contextlib.contextmanager
def dropout_masks_16bit(model: nn.Module, enabled: bool = True) -> Iterator[list[nn.Dropout]]:
    """Inside the block, every ``nn.Dropout`` of ``model`` draws :func:`dropout_16bit` masks on a CPU; yields those
    modules (none when ``enabled`` is False). Dropout inside the attention kernels keeps torch's own masks."""
    modules = [module for module in model.modules() if type(module) is nn.Dropout] if enabled else []
    for module in modules:
        module.forward = types.MethodType(_forward_16bit, module)
    try:
        yield modules
    finally:
        for module in modules:
            del module.forward
