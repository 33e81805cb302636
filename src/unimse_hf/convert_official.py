"""Convert a state dict of the official UniMSE ``Model`` (LeMei/UniMSE) to this package's layout.

The official model is T5 with PMF adapters after the feed-forward sublayer of the last blocks of the encoder
**and** the decoder, so the converted model has ``fusion_in_decoder=True``. Name mapping:

    T5_encoder.t5_model.<t5 name>                                   -> <t5 name>
    T5_encoder.t5_model.{encoder|decoder}.block.i.layer.{2|3}.adapter_down_project  -> ....block.i.fusion.down_project
                                                   ....adapter_up_project           -> ....block.i.fusion.up_project
                                                   ....adapter_linear               -> ....block.i.fusion.out_project
    {acoustic|visual}_enc.rnn.*                                     -> encoder.{acoustic|visual}_encoder.lstm.*
    {acoustic|visual}_enc.linear_1.*                                -> encoder.{acoustic|visual}_encoder.projection.*

The contrastive projections have no official counterpart (the official InfoNCE is off by default and its
projections are never trained, docs/differences.md); they keep their fresh initialisation.
"""

import re

import torch

from .configuration_unimse import UniMSEConfig
from .modeling_unimse import UniMSEForConditionalGeneration

OFFICIAL_T5_PREFIX = "T5_encoder.t5_model."
_ADAPTER_KEY = re.compile(r"^(encoder|decoder)\.block\.(\d+)\.layer\.(\d+)\.(adapter_\w+)\.(weight|bias)$")
_ADAPTER_NAMES = {
    "adapter_down_project": "down_project",
    "adapter_up_project": "up_project",
    "adapter_linear": "out_project",
}
_ADAPTER_SUBLAYER = {"encoder": 2, "decoder": 3}  # the sublayer after T5LayerFF
_MODALITY_KEY = re.compile(r"^(acoustic|visual)_enc\.(rnn|linear_1)\.(\w+)$")
_MODALITY_SUBMODULES = {"rnn": "lstm", "linear_1": "projection"}
# T5 checkpoints may carry this unused bias; transformers ignores it when loading T5 too.
_IGNORED_T5_KEYS = {"decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"}
NEW_PARAMETERS = ("text_projection.weight", "acoustic_projection.weight", "visual_projection.weight")


def _convert_key(key: str) -> str | None:
    """The package's name for an official parameter name, or None if the name is not an official one."""
    if key.startswith(OFFICIAL_T5_PREFIX):
        name = key[len(OFFICIAL_T5_PREFIX) :]
        match = _ADAPTER_KEY.match(name)
        if match is None:
            return name if "adapter" not in name else None
        stack, block, sublayer, adapter, kind = match.groups()
        if int(sublayer) != _ADAPTER_SUBLAYER[stack] or adapter not in _ADAPTER_NAMES:
            return None
        return f"{stack}.block.{block}.fusion.{_ADAPTER_NAMES[adapter]}.{kind}"
    match = _MODALITY_KEY.match(key)
    if match is None:
        return None
    modality, submodule, parameter = match.groups()
    return f"encoder.{modality}_encoder.{_MODALITY_SUBMODULES[submodule]}.{parameter}"


def _fusion_blocks(state_dict: dict[str, torch.Tensor], stack: str) -> list[int]:
    pattern = re.compile(rf"^{stack}\.block\.(\d+)\.fusion\.down_project\.weight$")
    return sorted(int(m.group(1)) for key in state_dict if (m := pattern.match(key)))


def _count_blocks(state_dict: dict[str, torch.Tensor], stack: str) -> int:
    pattern = re.compile(rf"^{stack}\.block\.(\d+)\.")
    return 1 + max(int(m.group(1)) for key in state_dict if (m := pattern.match(key)))


def infer_official_config(state_dict: dict[str, torch.Tensor], **overrides) -> UniMSEConfig:
    """Read a [`UniMSEConfig`] off the shapes of a converted state dict; ``overrides`` set what shapes cannot
    tell (dropout rates, layer-norm epsilon, ...)."""
    vocab_size, d_model = state_dict["shared.weight"].shape
    attention_bias = state_dict["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    num_buckets, num_heads = attention_bias.shape
    gated = "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" in state_dict
    wi = state_dict[f"encoder.block.0.layer.1.DenseReluDense.{'wi_0' if gated else 'wi'}.weight"]
    encoder_fusion, decoder_fusion = _fusion_blocks(state_dict, "encoder"), _fusion_blocks(state_dict, "decoder")
    if decoder_fusion and decoder_fusion != encoder_fusion:
        raise ValueError(
            f"state_dict fuses encoder blocks {encoder_fusion} but decoder blocks {decoder_fusion}; the official "
            "model (and UniMSEConfig) fuse the same block indices in both stacks"
        )
    if not encoder_fusion:
        raise ValueError(
            "state_dict has no PMF adapter (adapter_down_project) in the encoder: not an official UniMSE "
            "state dict with use_adapter=True and adapter_name='ffn'"
        )
    down = state_dict[f"encoder.block.{encoder_fusion[0]}.fusion.down_project.weight"]
    modality_hidden = state_dict["encoder.acoustic_encoder.lstm.weight_hh_l0"].shape[1]
    values = dict(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=state_dict["encoder.block.0.layer.0.SelfAttention.q.weight"].shape[0] // num_heads,
        d_ff=wi.shape[0],
        num_layers=_count_blocks(state_dict, "encoder"),
        num_decoder_layers=_count_blocks(state_dict, "decoder"),
        num_heads=num_heads,
        relative_attention_num_buckets=num_buckets,
        feed_forward_proj="gated-gelu" if gated else "relu",
        acoustic_dim=state_dict["encoder.acoustic_encoder.lstm.weight_ih_l0"].shape[1],
        visual_dim=state_dict["encoder.visual_encoder.lstm.weight_ih_l0"].shape[1],
        modality_hidden_size=modality_hidden,
        fusion_layers=encoder_fusion,
        fusion_bottleneck=down.shape[0],
        fusion_in_decoder=bool(decoder_fusion),
        fusion_init="random",
    )
    values.update(overrides)
    return UniMSEConfig(**values)


def convert_official_state_dict(
    state_dict: dict[str, torch.Tensor], **config_overrides
) -> tuple[UniMSEConfig, dict[str, torch.Tensor]]:
    """Map an official UniMSE state dict to this package's names and infer its configuration.

    Args:
        state_dict: the official ``Model.state_dict()`` (names as in ``official_state_dict_t5-small.txt``).
        config_overrides: [`UniMSEConfig`] values that shapes cannot tell.

    Returns:
        ``(config, converted_state_dict)``; load it with [`load_official_state_dict`].

    Raises:
        ValueError: for names that are not official UniMSE names, or shapes that do not form a UniMSE model.
    """
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict of tensors, got {type(state_dict).__name__}")
    converted, unknown = {}, []
    for key, tensor in state_dict.items():
        new_key = _convert_key(key)
        if new_key is None:
            unknown.append(key)
        elif new_key not in _IGNORED_T5_KEYS:
            converted[new_key] = tensor
    if unknown:
        raise ValueError(
            f"state_dict has {len(unknown)} keys that are not official UniMSE parameter names, e.g. {unknown[:3]} "
            f"(expected keys starting with {OFFICIAL_T5_PREFIX!r}, 'acoustic_enc.' or 'visual_enc.')"
        )
    for modality in ("acoustic", "visual"):
        if f"encoder.{modality}_encoder.lstm.weight_ih_l0" not in converted:
            raise ValueError(f"state_dict has no {modality}_enc.rnn weights: not an official UniMSE state dict")
    lm_head, shared = converted.get("lm_head.weight"), converted.get("shared.weight")
    if shared is None:
        raise ValueError(f"state_dict has no {OFFICIAL_T5_PREFIX}shared.weight")
    if lm_head is not None and not torch.equal(lm_head, shared):
        raise ValueError("lm_head.weight differs from shared.weight: untied T5 heads are not supported")
    return infer_official_config(converted, **config_overrides), converted


def load_official_state_dict(state_dict: dict[str, torch.Tensor], **config_overrides) -> UniMSEForConditionalGeneration:
    """Build a [`UniMSEForConditionalGeneration`] holding the weights of an official UniMSE state dict (eval mode)."""
    config, converted = convert_official_state_dict(state_dict, **config_overrides)
    model = UniMSEForConditionalGeneration(config)
    result = model.load_state_dict(converted, strict=False)
    missing = sorted(set(result.missing_keys) - set(NEW_PARAMETERS) - set(model.all_tied_weights_keys))
    if missing or result.unexpected_keys:
        raise ValueError(
            f"official weights do not fit the inferred model: missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}"
        )
    return model.eval()


__all__ = ["convert_official_state_dict", "infer_official_config", "load_official_state_dict"]
