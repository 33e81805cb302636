"""UniMSE model: T5 with acoustic/visual LSTM encoders and PMF fusion in chosen blocks (paper §3).

Data flow (B = batch, L = text tokens, T = frames, d = d_model, m = modality_hidden_size):

    acoustic (B, T_a, acoustic_dim) --LSTM--> utterance vector a (B, m)   [UniMSEModalityEncoder]
    visual   (B, T_v, visual_dim)   --LSTM--> utterance vector v (B, m)
    input_ids (B, L) --T5 encoder blocks--> after each fusion block: H <- PMF([H; v; a])   [UniMSEFusionBlock]
    decoder (T5, PMF too when config.fusion_in_decoder) --lm_head--> logits (B, L_target, vocab)

This file imports only ``torch`` and ``transformers`` (plus its configuration and hardware siblings, which import
no more) so that ``save_pretrained`` can copy it, with them, next to the weights as remote code.
"""

import contextlib
import copy
import inspect
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.checkpoint import checkpoint
from transformers import initialization as init
from transformers.dynamic_module_utils import get_relative_import_files
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions, Seq2SeqLMOutput
from transformers.models.t5.modeling_t5 import (
    T5Block,
    T5ForConditionalGeneration,
    T5PreTrainedModel,
    T5Stack,
)
from transformers.utils.generic import TransformersKwargs, can_return_tuple

from .configuration_unimse import UniMSEConfig
from .hardware import accelerator_available

MODALITIES = ("acoustic", "visual")
# Keyword arguments forward() passes on to the T5 stacks; anything else is a caller's mistake (e.g. a misspelt
# modality argument), which must not be ignored silently.
PASSTHROUGH_KWARGS = frozenset(TransformersKwargs.__annotations__)
# Keyword arguments that ask the encoder for per-block outputs, which only the full T5Stack pass records.
RECORDING_KWARGS = ("output_hidden_states", "output_attentions")
# transformers 5.24 renamed the KV-cache argument and output field `past_key_values` to `cache` (the old name is
# deprecated until 5.40); 5.17-5.23 know only `past_key_values`, and their T5Stack silently drops an unknown `cache`
# keyword. Both names are therefore read off the installed classes, never written as fixed strings.
STACK_CACHE_ARGUMENT = "cache" if "cache" in inspect.signature(T5Stack.forward).parameters else "past_key_values"
OUTPUT_CACHE_FIELD = "cache" if "cache" in {field.name for field in fields(Seq2SeqLMOutput)} else "past_key_values"
# The pipeline file saved next to this one (with the label module it imports), and the `config.custom_pipelines`
# entry through which `pipeline(..., trust_remote_code=True)` finds it where unimse_hf is not installed.
PIPELINE_FILE = Path(__file__).with_name("pipeline_unimse.py")
CUSTOM_PIPELINES = {
    "multimodal-sentiment": {
        "impl": "pipeline_unimse.MultimodalSentimentPipeline",
        "pt": ["AutoModelForSeq2SeqLM"],
        "type": "multimodal",
    }
}


@dataclass
class UniMSEEncoderOutput(BaseModelOutputWithPastAndCrossAttentions):
    """Encoder output plus what fusion in the decoder and the contrastive losses need.

    Args:
        modality_embeds (`torch.FloatTensor` of shape `(batch, 2 * modality_hidden_size)`):
            `[v; a]`, the visual and acoustic utterance vectors fused by PMF (zeros for an absent modality).
        text_pooled (`torch.FloatTensor` of shape `(batch, d_model)`):
            Mean of the encoder's final hidden states over the attention mask.
        acoustic_pooled, visual_pooled (`torch.FloatTensor` of shape `(batch, modality_hidden_size)`):
            Mean of the LSTM outputs over the valid frames (zeros where the modality is absent).
        acoustic_present, visual_present (`torch.BoolTensor` of shape `(batch,)`):
            Whether the sample has at least one frame of that modality.
    """

    modality_embeds: torch.FloatTensor | None = None
    text_pooled: torch.FloatTensor | None = None
    acoustic_pooled: torch.FloatTensor | None = None
    visual_pooled: torch.FloatTensor | None = None
    acoustic_present: torch.BoolTensor | None = None
    visual_present: torch.BoolTensor | None = None


@dataclass
class UniMSESeq2SeqLMOutput(Seq2SeqLMOutput):
    """[`Seq2SeqLMOutput`] plus the projected representations for the contrastive losses.

    They are computed when the call ran the encoder (training, evaluation, the first generation step), and are
    `None` on decoding steps that reuse `encoder_outputs`.

    Args:
        text_embeds (`torch.FloatTensor` of shape `(batch, contrastive_dim)`):
            Projection of the masked-mean text representation of the fused encoder.
        acoustic_embeds, visual_embeds (`torch.FloatTensor` of shape `(batch, contrastive_dim)`):
            Projections of the masked-mean LSTM sequence outputs.
        acoustic_present, visual_present (`torch.BoolTensor` of shape `(batch,)`):
            Which samples have that modality (use them to mask the contrastive pairs).
    """

    text_embeds: torch.FloatTensor | None = None
    acoustic_embeds: torch.FloatTensor | None = None
    visual_embeds: torch.FloatTensor | None = None
    acoustic_present: torch.BoolTensor | None = None
    visual_present: torch.BoolTensor | None = None


class UniMSEModalityEncoder(nn.Module):
    """One-layer unidirectional LSTM over the valid frames; final hidden state -> dropout -> Linear (paper §3.1)."""

    def __init__(self, input_dim: int, hidden_size: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_size, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(hidden_size, hidden_size)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            features: `(batch, frames, input_dim)`; frames past a sample's length are ignored.
            lengths: `(batch,)` int, number of valid leading frames (0 = modality absent).

        Returns:
            `(utterance, pooled)`, each `(batch, hidden_size)`: the projected final hidden state and the mean of the
            LSTM outputs over the valid frames; zeros for samples of length 0.
        """
        batch, hidden = features.shape[0], self.lstm.hidden_size
        features = features.to(self.lstm.weight_ih_l0.dtype)
        present = lengths > 0
        index = present.nonzero().squeeze(1)
        utterance = features.new_zeros(batch, hidden)
        pooled = features.new_zeros(batch, hidden)
        if index.numel() == 0:
            return utterance, pooled
        valid_lengths = lengths[index]
        packed = pack_padded_sequence(features[index], valid_lengths.cpu(), batch_first=True, enforce_sorted=False)
        # On a CPU the LSTM runs outside autocast, in the weights' dtype: oneDNN has no bf16 LSTM on CPUs without
        # AVX512-BF16/AMX ("could not create a primitive descriptor"), and the LSTM is a small share of a step.
        with torch.autocast("cpu", enabled=False) if features.device.type == "cpu" else contextlib.nullcontext():
            sequence, (last_hidden, _) = self.lstm(packed)
        sequence, _ = pad_packed_sequence(sequence, batch_first=True)  # original order, zeros past each length
        sample_utterance = self.projection(self.dropout(last_hidden[-1]))
        sample_pooled = sequence.sum(dim=1) / valid_lengths.to(sequence.dtype).unsqueeze(1)
        return utterance.index_copy(0, index, sample_utterance), pooled.index_copy(0, index, sample_pooled)


class UniMSEFusion(nn.Module):
    """PMF (paper §3): ``out = W_out(W_up sigmoid(W_down F) + F)`` with ``F = [H; v; a]``, replacing ``H``."""

    def __init__(self, config: UniMSEConfig):
        super().__init__()
        fused_size = config.d_model + 2 * config.modality_hidden_size
        self.down_project = nn.Linear(fused_size, config.fusion_bottleneck)
        self.up_project = nn.Linear(config.fusion_bottleneck, fused_size)
        self.out_project = nn.Linear(fused_size, config.d_model)

    def forward(self, hidden_states: torch.Tensor, modality_embeds: torch.Tensor) -> torch.Tensor:
        """`hidden_states` `(batch, length, d_model)`, `modality_embeds` `(batch, 2 * m)` -> `(batch, length, d)`."""
        batch, length, _ = hidden_states.shape
        modality = modality_embeds.to(hidden_states.dtype).unsqueeze(1).expand(batch, length, -1)
        fused = torch.cat([hidden_states, modality], dim=-1)
        adapted = clamp_fp16(self.up_project(torch.sigmoid(self.down_project(fused))) + fused)
        return clamp_fp16(self.out_project(adapted))


def clamp_fp16(hidden_states: torch.Tensor) -> torch.Tensor:
    """T5's guard for fp16 (``T5Block``): clamp to the largest finite float16 (less a margin once an inf appeared),
    so a large activation saturates instead of turning into inf and then NaN. Other dtypes pass unchanged (bf16 and
    fp32 share a range that these activations do not reach)."""
    if hidden_states.dtype != torch.float16:
        return hidden_states
    largest = torch.finfo(torch.float16).max
    clamp_value = torch.where(torch.isinf(hidden_states).any(), largest - 1000, largest)
    return torch.clamp(hidden_states, min=-clamp_value, max=clamp_value)


class UniMSEFusionBlock(T5Block):
    """A T5 block followed by PMF on its output. Receives ``modality_embeds`` through the stack's ``**kwargs``."""

    def __init__(self, config: UniMSEConfig, has_relative_attention_bias: bool = False, layer_idx: int | None = None):
        super().__init__(config, has_relative_attention_bias=has_relative_attention_bias, layer_idx=layer_idx)
        self.fusion = UniMSEFusion(config)

    def forward(self, hidden_states, *args, modality_embeds: torch.Tensor | None = None, **kwargs):
        hidden_states, self_attention_bias, cross_attention_bias = super().forward(hidden_states, *args, **kwargs)
        if modality_embeds is None:  # e.g. a decoder called without encoder modality vectors: text-only
            modality_size = self.fusion.out_project.in_features - hidden_states.shape[-1]
            modality_embeds = hidden_states.new_zeros(hidden_states.shape[0], modality_size)
        return self.fusion(hidden_states, modality_embeds), self_attention_bias, cross_attention_bias


class UniMSEPreTrainedModel(T5PreTrainedModel):
    """Owns the initialisation of the UniMSE modules on top of T5's."""

    config: UniMSEConfig
    config_class = UniMSEConfig
    _no_split_modules = ["T5Block", "UniMSEFusionBlock"]

    @classmethod
    def is_custom_code(cls) -> bool:
        """Every initialisation here goes through the load-aware ``transformers.initialization`` functions, so
        transformers' shortcut for custom code (mark modules that own no direct parameters, such as PMF and
        T5Attention, as initialised without running ``_init_weights``) must not apply."""
        return False

    def get_correct_attn_implementation(self, requested_attention: str | None, is_init_check: bool = False) -> str:
        """transformers' attention choice, except that with none requested on a machine without an accelerator it
        is ``"eager"`` (T5's matmul + softmax) instead of ``"sdpa"``: on a CPU, for T5's short texts and float
        position bias, eager attention trains and generates faster than torch's SDPA kernels and holds less memory
        (unimse-hf docs, performance.md, "Attention on the CPU"). An explicit ``attn_implementation`` is kept."""
        if requested_attention is None and not accelerator_available():
            requested_attention = "eager"
        return super().get_correct_attn_implementation(requested_attention, is_init_check)

    def _set_gradient_checkpointing(self, enable=True, gradient_checkpointing_func=checkpoint, every_n_layers=1):
        """Refuse reentrant checkpointing, whichever public method asked for it (``activation_checkpointing_enable``,
        ``gradient_checkpointing_enable``, the Trainer): the fused modality vectors reach the blocks as keyword
        arguments, which reentrant checkpointing cannot differentiate."""
        if enable and getattr(gradient_checkpointing_func, "keywords", {}).get("use_reentrant", False):
            raise ValueError(
                "use_reentrant must be False for UniMSE gradient checkpointing, got True: the acoustic and visual "
                "vectors reach the fusion blocks as keyword arguments, which reentrant checkpointing cannot "
                "differentiate"
            )
        super()._set_gradient_checkpointing(enable, gradient_checkpointing_func, every_n_layers)

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, UniMSEFusion):
            for linear in (module.down_project, module.up_project):
                init.normal_(linear.weight, mean=0.0, std=1e-3)
                init.zeros_(linear.bias)
            init.zeros_(module.out_project.bias)
            if self.config.fusion_init == "identity":
                init.zeros_(module.up_project.weight)  # the adapter branch starts at 0 ...
                eye = torch.eye(*module.out_project.weight.shape, dtype=module.out_project.weight.dtype)
                init.copy_(module.out_project.weight, eye)  # ... and W_out = [I; 0] keeps H exactly
            else:
                _init_like_torch_linear(module.out_project)
        elif isinstance(module, UniMSEModalityEncoder):
            bound = module.lstm.hidden_size**-0.5  # PyTorch's LSTM default, as the official model
            for parameter in module.lstm.parameters():
                init.uniform_(parameter, -bound, bound)
            _init_like_torch_linear(module.projection)
        elif isinstance(module, UniMSEForConditionalGeneration):
            for projection in (module.text_projection, module.acoustic_projection, module.visual_projection):
                _init_like_torch_linear(projection)


def _init_like_torch_linear(linear: nn.Linear) -> None:
    """PyTorch's default ``nn.Linear`` initialisation, through the load-aware ``transformers.initialization``."""
    bound = linear.in_features**-0.5
    init.uniform_(linear.weight, -bound, bound)
    if linear.bias is not None:
        init.uniform_(linear.bias, -bound, bound)


class UniMSEStack(UniMSEPreTrainedModel, T5Stack):
    """A T5 stack whose blocks listed in ``fusion_layers`` are [`UniMSEFusionBlock`]s."""

    def __init__(self, config: UniMSEConfig, fusion_layers: list[int]):
        super().__init__(config)
        for index in fusion_layers:
            self.block[index] = UniMSEFusionBlock(config, has_relative_attention_bias=index == 0, layer_idx=index)
        self.post_init()


class UniMSEEncoder(UniMSEStack):
    """The T5 encoder with the acoustic/visual encoders; fuses their utterance vectors in ``config.fusion_layers``."""

    def __init__(self, config: UniMSEConfig):
        super().__init__(config, config.fusion_layers)
        self.acoustic_encoder = UniMSEModalityEncoder(
            config.acoustic_dim, config.modality_hidden_size, config.modality_dropout
        )
        self.visual_encoder = UniMSEModalityEncoder(
            config.visual_dim, config.modality_hidden_size, config.modality_dropout
        )
        # set by the trainer while it trains with cache_frozen_prefix (unimse_hf/frozen_prefix.py); not saved
        self.frozen_prefix_cache = None
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        acoustic_features: torch.FloatTensor | None = None,
        acoustic_mask: torch.Tensor | None = None,
        visual_features: torch.FloatTensor | None = None,
        visual_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> UniMSEEncoderOutput:
        """
        Args:
            input_ids: `(batch, length)`; or `inputs_embeds` `(batch, length, d_model)`.
            attention_mask: `(batch, length)`, 1 on tokens.
            acoustic_features: `(batch, frames, acoustic_dim)`, optional (absent -> zero utterance vector).
            acoustic_mask: `(batch, frames)`, 1 on valid frames, valid frames first (right padding); a row of
                zeros marks a sample without that modality. Omitted: every frame is valid.
            visual_features, visual_mask: the same for the visual modality.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(
                "pass exactly one of input_ids and inputs_embeds (the text is needed even when the "
                "acoustic/visual features are given)"
            )
        batch = (input_ids if input_ids is not None else inputs_embeds).shape[0]
        vectors, pooled, present = {}, {}, {}
        for name, features, mask, modality_encoder in (
            ("acoustic", acoustic_features, acoustic_mask, self.acoustic_encoder),
            ("visual", visual_features, visual_mask, self.visual_encoder),
        ):
            lengths = _modality_lengths(name, features, mask, getattr(self.config, f"{name}_dim"), batch)
            if lengths is None:
                vectors[name] = pooled[name] = self._zeros(batch, self.config.modality_hidden_size)
                present[name] = torch.zeros(batch, dtype=torch.bool, device=self._device())
            else:
                vectors[name], pooled[name] = modality_encoder(features, lengths)
                present[name] = lengths > 0
        modality_embeds = torch.cat([vectors["visual"], vectors["acoustic"]], dim=-1)  # official order [v; a]
        cache = self.frozen_prefix_cache
        if cache is not None and input_ids is not None and not any(kwargs.get(k) for k in RECORDING_KWARGS):
            hidden, _ = self.run_blocks(
                cache.hidden_states(self, input_ids, attention_mask),
                attention_mask,
                start=cache.num_blocks,
                modality_embeds=modality_embeds,
            )
            outputs = BaseModelOutputWithPastAndCrossAttentions(
                last_hidden_state=self.dropout(self.final_layer_norm(hidden))
            )
        else:
            outputs = super().forward(
                input_ids=input_ids,
                attention_mask=attention_mask,
                inputs_embeds=inputs_embeds,
                modality_embeds=modality_embeds,
                **kwargs,
            )
        hidden = outputs.last_hidden_state
        token_mask = (
            attention_mask.to(hidden.dtype) if attention_mask is not None else hidden.new_ones(hidden.shape[:2])
        ).unsqueeze(-1)
        text_pooled = (hidden * token_mask).sum(dim=1) / token_mask.sum(dim=1).clamp(min=1.0)
        result = UniMSEEncoderOutput(  # no cache: the encoder keeps none (T5Stack drops it when not a decoder)
            last_hidden_state=hidden,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            cross_attentions=outputs.cross_attentions,
            modality_embeds=modality_embeds,
            text_pooled=text_pooled,
            acoustic_pooled=pooled["acoustic"],
            visual_pooled=pooled["visual"],
            acoustic_present=present["acoustic"],
            visual_present=present["visual"],
        )
        return result if return_dict is not False else result.to_tuple()

    def run_blocks(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        start: int = 0,
        stop: int | None = None,
        position_bias: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder blocks ``start .. stop - 1`` as ``T5Stack.forward`` runs them (no embedding dropout, no final
        norm): `(batch, length, d_model)` residual stream in and out, with the relative position bias
        `(1, heads, length, length)` (computed by block 0's attention when not given). ``kwargs`` reach every block
        (``modality_embeds`` for the fusion blocks)."""
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask)
        if position_bias is None and start > 0:
            length = hidden_states.shape[1]
            attention = self.block[0].layer[0].SelfAttention
            position_bias = attention.compute_bias(length, length, device=hidden_states.device)
        for block in self.block[start:stop]:
            hidden_states, position_bias, _ = block(hidden_states, mask, position_bias, **kwargs)
        return hidden_states, position_bias

    def _device(self) -> torch.device:
        return self.embed_tokens.weight.device

    def _zeros(self, batch: int, size: int) -> torch.Tensor:
        return torch.zeros(batch, size, device=self._device(), dtype=self.acoustic_encoder.projection.weight.dtype)


def _modality_lengths(
    name: str, features: torch.Tensor | None, mask: torch.Tensor | None, expected_dim: int, batch: int
) -> torch.Tensor | None:
    """Validate one modality's inputs and return its per-sample valid-frame counts `(batch,)`, or None if absent.

    Raises a ``ValueError`` naming the argument, the expected and the received value for a wrong feature dim, a
    batch size that differs from the text's, non-finite values, or a mask that does not match its features.
    """
    features_arg, mask_arg = f"{name}_features", f"{name}_mask"
    if features is None:
        if mask is not None and mask.numel() > 0 and bool(mask.any()):
            raise ValueError(f"{mask_arg} marks valid frames but {features_arg} is None")
        return None
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{features_arg} must be a torch.Tensor, got {type(features).__name__}")
    if features.dim() != 3:
        raise ValueError(f"{features_arg} must have shape (batch, frames, {expected_dim}), got {tuple(features.shape)}")
    if features.shape[-1] != expected_dim:
        raise ValueError(
            f"{features_arg} has {features.shape[-1]} features per frame, config.{name}_dim is {expected_dim}"
        )
    if features.shape[0] != batch:
        raise ValueError(f"{features_arg} has batch size {features.shape[0]}, the text inputs have batch size {batch}")
    if not torch.is_floating_point(features):
        raise TypeError(f"{features_arg} must be a floating point tensor, got dtype {features.dtype}")
    finite = torch.isfinite(features)
    if not bool(finite.all()):
        raise ValueError(
            f"{features_arg} contains {int((~finite).sum())} non-finite values (NaN or inf); "
            "replace them (UniMSEProcessor sets them to 0)"
        )
    frames = features.shape[1]
    if mask is None:
        return torch.full((features.shape[0],), frames, dtype=torch.long, device=features.device)
    if tuple(mask.shape) != tuple(features.shape[:2]):
        raise ValueError(
            f"{mask_arg} must have shape {tuple(features.shape[:2])} (batch, frames) to match {features_arg}, "
            f"got {tuple(mask.shape)}"
        )
    mask = mask.to(features.device)
    lengths = mask.long().sum(dim=1)
    expected = torch.arange(frames, device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)
    if not torch.equal(mask.bool(), expected) or bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError(
            f"{mask_arg} must hold 1 for the valid frames followed by 0 for padding (right padding) in each row"
        )
    return lengths


class UniMSEForConditionalGeneration(UniMSEPreTrainedModel, T5ForConditionalGeneration):
    """UniMSE: T5 whose encoder fuses acoustic and visual utterance vectors (PMF) into its last blocks.

    Keeps T5's module names (`shared`, `encoder`, `decoder`, `lm_head`) so that any T5 checkpoint warm-starts it:
    `UniMSEForConditionalGeneration.from_pretrained(t5_dir, acoustic_dim=..., visual_dim=...)` loads every T5
    weight and initialises only the modality encoders, fusion modules and contrastive projections. Text-only use:
    leave out the acoustic/visual arguments; the fused vectors are then zeros.
    """

    def __init__(self, config: UniMSEConfig):
        T5PreTrainedModel.__init__(self, config)
        self.model_dim = config.d_model
        self.shared = nn.Embedding(config.vocab_size, config.d_model)

        encoder_config = copy.deepcopy(config)
        encoder_config.is_decoder = False
        encoder_config.use_cache = False
        self.encoder = UniMSEEncoder(encoder_config)

        decoder_config = copy.deepcopy(config)
        decoder_config.is_decoder = True
        decoder_config.num_layers = config.num_decoder_layers
        self.decoder = UniMSEStack(decoder_config, config.fusion_layers if config.fusion_in_decoder else [])

        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.text_projection = nn.Linear(config.d_model, config.contrastive_dim, bias=False)
        self.acoustic_projection = nn.Linear(config.modality_hidden_size, config.contrastive_dim, bias=False)
        self.visual_projection = nn.Linear(config.modality_hidden_size, config.contrastive_dim, bias=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        acoustic_features: torch.FloatTensor | None = None,
        acoustic_mask: torch.Tensor | None = None,
        visual_features: torch.FloatTensor | None = None,
        visual_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.BoolTensor | None = None,
        encoder_outputs: UniMSEEncoderOutput | tuple | None = None,
        cache=None,
        past_key_values=None,
        inputs_embeds: torch.FloatTensor | None = None,
        decoder_inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> UniMSESeq2SeqLMOutput:
        """
        Args:
            input_ids: `(batch, length)` token ids of the prompt + text (+ context).
            attention_mask: `(batch, length)`.
            acoustic_features / acoustic_mask, visual_features / visual_mask: see [`UniMSEEncoder.forward`].
            labels: `(batch, target_length)` token ids of the universal label, -100 on padding.
            num_items_in_batch (keyword): target tokens of the whole gradient-accumulation step (the Trainer passes
                it); the loss is then the token sum divided by it instead of the batch mean.
            encoder_outputs: reused by `generate()`; the modality inputs are then ignored.
            cache / past_key_values: the decoder's KV cache, under either name (transformers 5.24 renamed
                `past_key_values` to `cache`; `generate()` passes whichever the installed version uses).

        Returns:
            [`UniMSESeq2SeqLMOutput`]: `loss` is the token cross-entropy (the contrastive terms are added by the
            trainer from `text_embeds`/`acoustic_embeds`/`visual_embeds`), computed from float32 logits; under
            autocast with `labels`, those float32 logits are the returned `logits` (without labels, autocast's dtype).
        """
        unknown = sorted(set(kwargs) - PASSTHROUGH_KWARGS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.forward() got unexpected keyword arguments {unknown}; the modality inputs "
                "are acoustic_features, acoustic_mask, visual_features, visual_mask"
            )
        if labels is None and decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError(
                "no target: pass labels (the universal-label token ids, for training or evaluation loss) or "
                "decoder_input_ids / decoder_inputs_embeds; use generate() to predict"
            )
        if past_key_values is not None:
            if cache is not None:
                raise ValueError("pass the decoder KV cache as cache or as past_key_values, not both")
            cache = past_key_values
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        ran_encoder = encoder_outputs is None
        if ran_encoder:
            encoder_outputs = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                inputs_embeds=inputs_embeds,
                acoustic_features=acoustic_features,
                acoustic_mask=acoustic_mask,
                visual_features=visual_features,
                visual_mask=visual_mask,
                **kwargs,
            )
        elif not isinstance(encoder_outputs, UniMSEEncoderOutput):  # a tuple or plain T5 output: text-only
            encoder_outputs = UniMSEEncoderOutput(
                last_hidden_state=encoder_outputs[0],
                hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
                attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None,
            )

        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._shift_right(labels)
        if self.config.fusion_in_decoder:
            kwargs["modality_embeds"] = encoder_outputs.modality_embeds
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            inputs_embeds=decoder_inputs_embeds,
            encoder_hidden_states=encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask,
            use_cache=use_cache,
            **{STACK_CACHE_ARGUMENT: cache},
            **kwargs,
        )
        sequence_output = decoder_outputs.last_hidden_state
        if self.config.scale_decoder_outputs:
            sequence_output = sequence_output * (self.model_dim**-0.5)
        logits = self.lm_head(sequence_output)

        loss = None
        if labels is not None:
            float_logits = logits.float()
            if torch.is_autocast_enabled(logits.device.type):
                # autocast made them bf16/fp16: return the float32 logits the loss reads (what the model gives
                # without autocast, and what accelerate's mixed precision would otherwise copy them into again)
                logits = float_logits
            # Mean over the target tokens; with the Trainer's `num_items_in_batch` (target tokens of the whole
            # gradient-accumulation step) the sum is divided by that count, so accumulation gives the same loss.
            loss = nn.functional.cross_entropy(
                float_logits.view(-1, float_logits.size(-1)),
                labels.to(logits.device).view(-1),
                ignore_index=-100,
                reduction="mean" if num_items_in_batch is None else "sum",
            )
            if num_items_in_batch is not None:
                loss = loss / torch.as_tensor(num_items_in_batch, device=loss.device, dtype=loss.dtype)

        contrastive = {}
        if ran_encoder:
            contrastive = {
                "text_embeds": self.text_projection(encoder_outputs.text_pooled),
                "acoustic_embeds": self.acoustic_projection(encoder_outputs.acoustic_pooled),
                "visual_embeds": self.visual_projection(encoder_outputs.visual_pooled),
                "acoustic_present": encoder_outputs.acoustic_present,
                "visual_present": encoder_outputs.visual_present,
            }
        return UniMSESeq2SeqLMOutput(
            loss=loss,
            logits=logits,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
            **{OUTPUT_CACHE_FIELD: getattr(decoder_outputs, OUTPUT_CACHE_FIELD)},
            **contrastive,
        )

    def save_pretrained(self, save_directory, *args, is_main_process: bool = True, **kwargs):
        """``PreTrainedModel.save_pretrained``; with the remote code (classes registered for an auto class, as
        ``import unimse_hf`` does) the ``auto_map`` also names this class for ``AutoModel`` (docs/architecture.md:
        ``AutoModel`` gives the generation model), and the ``multimodal-sentiment`` pipeline file is copied next
        to the weights and recorded in ``config.custom_pipelines``. A model loaded as remote code has no pipeline
        file beside it; its folders then carry none."""
        remote_code = self._auto_class is not None
        with_pipeline = remote_code and PIPELINE_FILE.is_file()
        if remote_code:
            module = type(self).__module__.rsplit(".", 1)[-1]
            self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}),
                                    "AutoModel": f"{module}.{type(self).__name__}"}  # fmt: skip
        previous = self.config.__dict__.pop("custom_pipelines", None)
        if with_pipeline:
            self.config.custom_pipelines = CUSTOM_PIPELINES
        try:
            super().save_pretrained(save_directory, *args, is_main_process=is_main_process, **kwargs)
        finally:
            self.config.__dict__.pop("custom_pipelines", None)
            if previous is not None and not with_pipeline:
                self.config.custom_pipelines = previous
        if with_pipeline and is_main_process:
            for source in (PIPELINE_FILE, *map(Path, get_relative_import_files(PIPELINE_FILE))):
                shutil.copy(source, Path(save_directory) / source.name)


__all__ = [
    "UniMSEEncoder",
    "UniMSEEncoderOutput",
    "UniMSEForConditionalGeneration",
    "UniMSEFusion",
    "UniMSEFusionBlock",
    "UniMSEModalityEncoder",
    "UniMSEPreTrainedModel",
    "UniMSESeq2SeqLMOutput",
    "UniMSEStack",
]
