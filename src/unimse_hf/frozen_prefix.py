"""A cache of the frozen, text-only encoder prefix (the ``cache_frozen_prefix`` training argument).

Under the paper's trainable set the token embedding and the encoder blocks below the first fused block train nothing
and read the text only, so they give one text the same output at every epoch, up to dropout. With the cache these
blocks run once per distinct text, in eval mode (no dropout) and without gradient, and their output (the residual
stream after the last of them, `(tokens, d_model)` per text) is kept; every later pass over that text starts at the
first block that trains or fuses. In eval mode the outputs are the uncached ones up to the rounding of the stored
values; in training mode the cached blocks act as a fixed feature extractor (no dropout in them, as in eval), while
dropout in every block above them is unchanged. docs/performance.md has the measurements and the memory it takes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
from torch import nn

logger = logging.getLogger(__name__)


def frozen_prefix_length(model: nn.Module) -> int:
    """How many leading encoder blocks of ``model`` read the text only and train nothing: the blocks below the first
    of ``config.fusion_layers`` up to the first one with a trainable parameter; 0 when the token embedding trains."""
    encoder = model.get_encoder()
    if any(parameter.requires_grad for parameter in encoder.embed_tokens.parameters()):
        return 0
    first_fused = min(model.config.fusion_layers, default=len(encoder.block))
    for index, block in enumerate(encoder.block[:first_fused]):
        if any(parameter.requires_grad for parameter in block.parameters()):
            return index
    return first_fused


class FrozenPrefixCache:
    """Outputs of encoder blocks ``0 .. num_blocks - 1`` per distinct text, stored in ``storage_dtype``.

    A text is keyed by its token ids on the attention mask and their positions relative to the first of them, so the
    same text padded to another length or placed in another batch finds its entry (the masked padding changes no
    valid position's output)."""

    def __init__(self, num_blocks: int, storage_dtype: torch.dtype = torch.float32):
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1 (the cached encoder blocks), got {num_blocks}")
        self.num_blocks = num_blocks
        self.storage_dtype = storage_dtype
        self.hits = 0
        self.misses = 0
        self._store: dict[bytes, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._store)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored outputs."""
        return sum(hidden.numel() * hidden.element_size() for hidden in self._store.values())

    def hidden_states(
        self, encoder: nn.Module, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """The residual stream after block ``num_blocks - 1`` of ``encoder`` for `(batch, length)` ``input_ids``:
        `(batch, length, d_model)` in the embedding's dtype, zeros on padding; computes and stores the missing
        texts as one batch."""
        valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        keys = [_text_key(ids, mask) for ids, mask in zip(input_ids.cpu(), valid.cpu(), strict=True)]
        missing = [row for row, key in enumerate(keys) if key not in self._store]
        if missing:
            self._fill(encoder, input_ids[missing], valid[missing], [keys[row] for row in missing])
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        weight = encoder.embed_tokens.weight
        hidden = weight.new_zeros(*input_ids.shape, weight.shape[1])
        for row, key in enumerate(keys):
            hidden[row, valid[row]] = self._store[key].to(device=hidden.device, dtype=hidden.dtype)
        return hidden

    def _fill(self, encoder: nn.Module, input_ids: torch.LongTensor, valid: torch.Tensor, keys: list[bytes]) -> None:
        blocks = encoder.block[: self.num_blocks]
        modes = [block.training for block in blocks]
        blocks.eval()
        try:
            with torch.no_grad():
                hidden, _ = encoder.run_blocks(
                    encoder.embed_tokens(input_ids), valid.long(), start=0, stop=self.num_blocks
                )
        finally:
            for block, mode in zip(blocks, modes, strict=True):
                block.train(mode)
        for row, key in enumerate(keys):
            self._store[key] = hidden[row, valid[row]].to(self.storage_dtype)


def _text_key(ids: torch.Tensor, valid: torch.Tensor) -> bytes:
    positions = valid.nonzero().flatten()
    return ids[positions].numpy().tobytes() + b"@" + (positions - positions[:1]).numpy().tobytes()


@contextlib.contextmanager
def frozen_prefix_cached(
    model: nn.Module, enabled: bool = True, storage_dtype: torch.dtype = torch.float32
) -> Iterator[FrozenPrefixCache | None]:
    """Attach a :class:`FrozenPrefixCache` of :func:`frozen_prefix_length` blocks to ``model``'s encoder inside the
    block (the frozen weights must not change there); yields it (None when ``enabled`` is False)."""
    if not enabled:
        yield None
        return
    num_blocks = frozen_prefix_length(model)
    if num_blocks == 0:
        encoder = model.get_encoder()
        trains = (
            "the token embedding"
            if any(p.requires_grad for p in encoder.embed_tokens.parameters())
            else ("encoder block 0")
        )
        raise ValueError(
            "cache_frozen_prefix=True needs frozen encoder blocks below the first fused block "
            f"(fusion_layers={list(model.config.fusion_layers)}), but {trains} trains; use "
            "trainable_backbone_blocks='paper' (or indices above the cached blocks) without LoRA on the lower "
            "blocks, or set cache_frozen_prefix=False"
        )
    cache = FrozenPrefixCache(num_blocks, storage_dtype)
    encoder = model.get_encoder()
    encoder.frozen_prefix_cache = cache
    try:
        yield cache
    finally:
        encoder.frozen_prefix_cache = None
        logger.info(
            "frozen-prefix cache of encoder blocks 0-%d: %d texts, %.1f MiB, %d hits, %d misses",
            num_blocks - 1, len(cache), cache.nbytes / 2**20, cache.hits, cache.misses,
        )  # fmt: skip
