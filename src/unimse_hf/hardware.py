"""What the machine offers: an accelerator torch knows, and whether bf16 matrix products are native here."""

from __future__ import annotations

import torch


def accelerator_available() -> bool:
    """Whether torch knows a GPU or other accelerator here (``torch.accelerator``; ``torch.cuda`` before torch 2.6)."""
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "current_accelerator"):
        return accelerator.current_accelerator() is not None
    return torch.cuda.is_available()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AMX tiles or AVX512-BF16): there bf16 autocast
    trains t5-base-sized models faster than float32 (unimse-hf benchmarks README); elsewhere it is emulated, slower."""
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products natively: a CPU with AMX or AVX512-BF16, or a CUDA GPU with
    bf16. Elsewhere bf16 is emulated, slower than float32, and best left off."""
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return device.type == "cuda" and torch.cuda.is_bf16_supported()
