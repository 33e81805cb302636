"""Frozen ``nn.Linear`` weights stored in bf16 while a CPU run trains under bf16 autocast (``cpu_bf16``).

Autocast computes every ``nn.Linear`` in bf16 and casts its float32 weight to bf16 at each call; it caches the casts
of trainable weights only, so the frozen T5 blocks of the paper's trainable set are cast again at every step and
keep a float32 copy that no product reads. Storing those weights in bf16 gives the same products (the cast is the
same rounding), frees half of their memory and skips the casts (benchmarks/README.md has the measurements). A
frozen ``nn.Linear`` whose weight is tied to another module (T5's LM head shares the embedding matrix) keeps its
float32 weight and reads a bf16 copy of it inside the block: the embedding still looks up exact float32 rows.

Layers that read the same input tensor (q, k and v of an attention layer; the cross-attention k and v of every
decoder block, which all read the encoder output) share one bf16 cast of it, as long as it is unchanged. Each use
still casts its own gradient back to the input's dtype, so the gradients are summed in float32 as under autocast,
and products and gradients are those of autocast bit for bit.

A converted layer casts its input to bf16 itself, so it also runs where autocast is off (``generate`` calls the
encoder outside the Trainer's autocast), and returns the dtype its caller would get without the conversion: bf16
under autocast, its input's dtype elsewhere. On leaving :func:`frozen_linear_weights_in_bf16` the weights are float32
again, with the bf16-rounded values the run computed with: a model saved after ``cpu_bf16`` training holds its frozen
blocks rounded to bf16 (relative change below 2**-8 per weight).
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections import Counter
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.weak import WeakIdKeyDictionary


class _SharedCast(torch.autograd.Function):
    """``cast`` (a detached bf16 copy of ``source``) as a function of ``source``: the gradient goes back to ``source``
    in its own dtype, one node per use."""

    @staticmethod
    def forward(ctx, source: torch.Tensor, cast: torch.Tensor) -> torch.Tensor:
        ctx.source_dtype = source.dtype
        return cast.view_as(cast)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.to(ctx.source_dtype), None


class _Bf16Casts:
    """bf16 casts of the inputs of the layers held in bf16, one per input tensor and version (module docstring)."""

    def __init__(self):
        self._casts = WeakIdKeyDictionary()  # input tensor -> (its version when cast, the bf16 cast)

    def __call__(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if hidden_states.dtype == torch.bfloat16:
            return hidden_states
        if hidden_states.is_inference():  # inference tensors have no version counter to validate a cast with
            return hidden_states.to(torch.bfloat16)
        version, cast = self._casts.get(hidden_states, (None, None))
        if version != hidden_states._version:
            cast = hidden_states.detach().to(torch.bfloat16)
            self._casts[hidden_states] = (hidden_states._version, cast)
        if hidden_states.requires_grad and torch.is_grad_enabled():
            return _SharedCast.apply(hidden_states, cast)
        return cast


def _forward_in_bf16(
    self: nn.Linear, hidden_states: torch.Tensor, *, casts: _Bf16Casts, weight: torch.Tensor
) -> torch.Tensor:
    """``nn.Linear.forward`` with a bf16 ``weight`` (the layer's own, or a copy of a tied one):
    ``(..., in_features) -> (..., out_features)``."""
    bias = None if self.bias is None else self.bias.to(torch.bfloat16)
    output = nn.functional.linear(casts(hidden_states), weight, bias)
    if torch.is_autocast_enabled(hidden_states.device.type):
        return output
    return output.to(hidden_states.dtype)


def _frozen_float32_linears(model: nn.Module) -> Iterator[tuple[nn.Linear, bool]]:
    """``(layer, tied)`` for every ``nn.Linear`` of ``model`` whose parameters are all frozen and float32; ``tied``
    when one of them is used by another module too."""
    uses = Counter(id(parameter) for _, parameter in model.named_parameters(remove_duplicate=False))
    for module in model.modules():
        parameters = list(module.parameters(recurse=False))
        if (
            type(module) is nn.Linear
            and not any(parameter.requires_grad for parameter in parameters)
            and all(parameter.dtype == torch.float32 for parameter in parameters)
        ):
            yield module, any(uses[id(parameter)] > 1 for parameter in parameters)


def frozen_linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``model`` whose parameters are all frozen and float32, and used by no other module
    (a weight tied to an embedding stays float32: the embedding's output would turn bf16)."""
    return [layer for layer, tied in _frozen_float32_linears(model) if not tied]


@contextlib.contextmanager
def frozen_linear_weights_in_bf16(model: nn.Module, enabled: bool = True) -> Iterator[list[nn.Linear]]:
    """Store the weights of :func:`frozen_linear_layers` in bf16 inside the block, and let frozen layers with a tied
    weight read a bf16 copy of it (module docstring); yields the converted layers (none when ``enabled`` is False)."""
    frozen = list(_frozen_float32_linears(model)) if enabled else []
    casts = _Bf16Casts()
    for layer, tied in frozen:
        if not tied:
            for parameter in layer.parameters(recurse=False):
                parameter.data = parameter.data.to(torch.bfloat16)
        weight = layer.weight.detach().to(torch.bfloat16)  # the parameter itself where it was converted
        layer.forward = types.MethodType(functools.partial(_forward_in_bf16, casts=casts, weight=weight), layer)
    try:
        yield [layer for layer, tied in frozen if not tied]
    finally:
        for layer, tied in frozen:
            if not tied:
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
