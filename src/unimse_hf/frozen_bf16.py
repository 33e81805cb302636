"""Frozen ``nn.Linear`` weights stored in bf16 while a CPU run trains under bf16 autocast (``cpu_bf16``).

Autocast computes every ``nn.Linear`` in bf16 and casts its float32 weight to bf16 at each call; it caches the casts
of trainable weights only, so the frozen T5 blocks of the paper's trainable set are cast again at every step and
keep a float32 copy that no product reads. Storing those weights in bf16 gives the same products (the cast is the
same rounding), frees half of their memory and skips the casts (benchmarks/README.md has the measurements).

A converted layer casts its input to bf16 itself, so it also runs where autocast is off (``generate`` calls the
encoder outside the Trainer's autocast), and returns the dtype its caller would get without the conversion: bf16
under autocast, its input's dtype elsewhere. On leaving :func:`frozen_linear_weights_in_bf16` the weights are float32
again, with the bf16-rounded values the run computed with: a model saved after ``cpu_bf16`` training holds its frozen
blocks rounded to bf16 (relative change below 2**-8 per weight).
"""

from __future__ import annotations

import contextlib
import types
from collections import Counter
from collections.abc import Iterator

import torch
from torch import nn


def _forward_in_bf16(self: nn.Linear, hidden_states: torch.Tensor) -> torch.Tensor:
    """``nn.Linear.forward`` of a layer whose weight is bf16: ``(..., in_features) -> (..., out_features)``."""
    output = nn.functional.linear(hidden_states.to(self.weight.dtype), self.weight, self.bias)
    if torch.is_autocast_enabled(hidden_states.device.type):
        return output
    return output.to(hidden_states.dtype)


def frozen_linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``model`` whose parameters are all frozen and float32, and used by no other module
    (a weight tied to an embedding stays as it is: the embedding's output would turn bf16)."""
    uses = Counter(id(parameter) for _, parameter in model.named_parameters(remove_duplicate=False))
    layers = []
    for module in model.modules():
        parameters = list(module.parameters(recurse=False))
        if (
            type(module) is nn.Linear
            and not any(parameter.requires_grad for parameter in parameters)
            and all(parameter.dtype == torch.float32 and uses[id(parameter)] == 1 for parameter in parameters)
        ):
            layers.append(module)
    return layers


@contextlib.contextmanager
def frozen_linear_weights_in_bf16(model: nn.Module, enabled: bool = True) -> Iterator[list[nn.Linear]]:
    """Store the weights of :func:`frozen_linear_layers` in bf16 inside the block (module docstring); yields the
    converted layers (none when ``enabled`` is False)."""
    layers = frozen_linear_layers(model) if enabled else []
    for layer in layers:
        for parameter in layer.parameters(recurse=False):
            parameter.data = parameter.data.to(torch.bfloat16)
        layer.forward = types.MethodType(_forward_in_bf16, layer)
    try:
        yield layers
    finally:
        for layer in layers:
            for parameter in layer.parameters(recurse=False):
                parameter.data = parameter.data.to(torch.float32)
            del layer.forward


def float32_state_dict(state_dict: dict[str, torch.Tensor], layers: list[nn.Linear]) -> dict[str, torch.Tensor]:
    """``state_dict`` with the tensors of ``layers`` (found by their storage) as float32: what a saved model holds."""
    converted = {parameter.data_ptr() for layer in layers for parameter in layer.parameters(recurse=False)}
    return {
        name: tensor.float() if tensor.data_ptr() in converted and tensor.dtype == torch.bfloat16 else tensor
        for name, tensor in state_dict.items()
    }
