"""UniMSEProcessor: model input text (prompt + ERC context window) and its tokenisation, plus frame padding.

The processor composes a T5 tokenizer and a :class:`UniMSEFeatureExtractor` and owns every step between plain
inputs and the tensors that `UniMSEForConditionalGeneration.forward` takes (paper §3.2, input formalization):

- the input text ``prefix + [context before] </s> [speaker] text </s> [context after]``,
- its tokenisation (truncated to ``max_source_length`` with a warning that says how much was cut),
- the target (universal label) tokenisation, padded with -100,
- acoustic/visual frames, handed to the feature extractor (right padding, masks, NaN/inf zeroed).

Rows of the unified dataset are turned into these inputs by ``UniMSEDataCollator``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from .feature_extraction_unimse import UniMSEDataWarning, UniMSEFeatureExtractor
from .labels import UniversalLabel, parse_universal_label

CONTEXT_MODES = ("bidirectional", "past")
# Literal fence around the target utterance; the T5 tokenizer maps it to the EOS id (as in the official inputs).
UTTERANCE_FENCE = "</s>"


def decode_token_ids(tokenizer, sequences, **kwargs) -> list[str]:
    """Decode token ids ``(batch, length)`` (generations or labels) to strings.

    Negative ids (-100: label padding, or the Trainer's padding of generations across batches) are read as the
    pad token; special tokens are skipped unless ``skip_special_tokens=False`` is passed. Rows may differ in length.
    """
    if isinstance(sequences, torch.Tensor):
        sequences = sequences.detach().cpu().numpy()
    rows = []
    for i, row in enumerate(sequences):
        ids = row.detach().cpu().numpy() if isinstance(row, torch.Tensor) else np.asarray(row)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(
                f"sequences[{i}] must be a 1-D sequence of token ids, got dtype {ids.dtype} shape {ids.shape}"
            )
        rows.append(np.where(ids < 0, tokenizer.pad_token_id, ids).tolist())
    kwargs.setdefault("skip_special_tokens", True)
    return tokenizer.batch_decode(rows, **kwargs)


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r}")
    return value


def _check_str_list(name: str, value: object) -> list[str]:
    if isinstance(value, np.ndarray) and value.ndim == 1:  # a list column read in numpy format
        value = value.tolist()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of str, got {type(value).__name__} {value!r}")
    return [_check_str(f"{name}[{i}]", item) for i, item in enumerate(value)]


class UniMSEProcessor(ProcessorMixin):
    r"""Processor of UniMSE: a T5 tokenizer and a :class:`UniMSEFeatureExtractor`, plus the prompt/context rules.

    Args:
        tokenizer: a T5 tokenizer (``</s>`` must be its EOS token).
        feature_extractor: pads the acoustic/visual frames and checks their dims; ``None``:
            ``UniMSEFeatureExtractor()`` (64 acoustic and 64 visual features per frame, ``UniMSEConfig``'s defaults).
        prefix: prompt put in front of every input (the official code's ``"sst2 sentence: "``).
        context_window: ERC utterances taken on each side of the target (paper §3.2: 2).
        context_mode: ``"bidirectional"`` (the paper: past and future utterances) or ``"past"`` (streaming use).
        use_speakers: write ``"Speaker text"`` for every utterance that has a speaker name.
        max_source_length: input token limit (EOS included); longer inputs are cut on the tokenizer's
            ``truncation_side`` with a :class:`UniMSEDataWarning`.
        max_target_length: target token limit (EOS included) for ``text_target``.

    Call it with plain inputs (one sample or a batch)::

        processor = UniMSEProcessor(tokenizer, UniMSEFeatureExtractor(acoustic_dim=74, visual_dim=35))
        processor("I love it", acoustic=np.zeros((20, 74)), text_target="positive,1.8,joy,excited")
        processor(["u1", "u2"], speaker=["Joey", "Ross"], context_before=[[], ["u1"]], speakers_before=[[], ["Joey"]])

    Rows of the unified dataset go through ``UniMSEDataCollator(processor)``. ``model_input_names`` are the
    tokenizer's (``input_ids``, ``attention_mask``) followed by the feature extractor's.
    """

    def __init__(
        self,
        tokenizer,
        feature_extractor: UniMSEFeatureExtractor | None = None,
        prefix: str = "sst2 sentence: ",
        context_window: int = 2,
        context_mode: str = "bidirectional",
        use_speakers: bool = True,
        max_source_length: int = 512,
        max_target_length: int = 32,
        **kwargs,
    ):
        if feature_extractor is None:
            feature_extractor = UniMSEFeatureExtractor()
        # duck-typed: loaded as remote code, the extractor's class comes from another dynamic module than ours
        elif not all(hasattr(feature_extractor, name) for name in ("acoustic_dim", "visual_dim", "pad_frames")):
            raise TypeError(
                f"feature_extractor must be a UniMSEFeatureExtractor or None, got {type(feature_extractor).__name__}"
            )
        _check_str("prefix", prefix)
        if context_mode not in CONTEXT_MODES:
            raise ValueError(f"context_mode must be one of {CONTEXT_MODES}, got {context_mode!r}")
        for name, value, minimum in (
            ("context_window", context_window, 0),
            ("max_source_length", max_source_length, 2),
            ("max_target_length", max_target_length, 2),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
        self.prefix = prefix
        self.context_window = context_window
        self.context_mode = context_mode
        self.use_speakers = bool(use_speakers)
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        super().__init__(tokenizer=tokenizer, feature_extractor=feature_extractor, **kwargs)

    @property
    def acoustic_dim(self) -> int | None:
        """The feature extractor's ``acoustic_dim`` (features per acoustic frame; ``None``: any)."""
        return self.feature_extractor.acoustic_dim

    @property
    def visual_dim(self) -> int | None:
        """The feature extractor's ``visual_dim`` (features per visual frame; ``None``: any)."""
        return self.feature_extractor.visual_dim

    # ------------------------------------------------------------------------------------------ text
    def _utterance(self, text: str, speaker: str) -> str:
        text = text.strip()
        speaker = speaker.strip()
        return f"{speaker} {text}" if self.use_speakers and speaker else text

    def build_input_text(
        self,
        text: str,
        *,
        speaker: str = "",
        context_before: Sequence[str] = (),
        speakers_before: Sequence[str] | None = None,
        context_after: Sequence[str] = (),
        speakers_after: Sequence[str] | None = None,
    ) -> str:
        """The model input string of one sample (paper §3.2, input formalization).

        ``context_before`` is ordered oldest first (nearest last), ``context_after`` nearest first; the
        ``context_window`` nearest of each are kept (``context_after`` is ignored in ``"past"`` mode). With
        context the result is ``prefix + "S[i-2] u[i-2] S[i-1] u[i-1] </s> S[i] u[i] </s> S[i+1] u[i+1] ..."``;
        an empty side is dropped together with its ``</s>``, so a sample without context is ``prefix + text``.
        The text is only stripped, never otherwise altered.
        """
        _check_str("text", text)
        _check_str("speaker", speaker)
        before = _check_str_list("context_before", context_before)
        after = _check_str_list("context_after", context_after)
        sides = []
        for name, utterances, speakers in (
            ("speakers_before", before, speakers_before),
            ("speakers_after", after, speakers_after),
        ):
            speakers = [""] * len(utterances) if speakers is None else _check_str_list(name, speakers)
            if len(speakers) != len(utterances):
                context_name = name.replace("speakers", "context")
                raise ValueError(
                    f"{name} must have one name per utterance of {context_name} ({len(utterances)}), "
                    f"got {len(speakers)}"
                )
            sides.append([self._utterance(u, s) for u, s in zip(utterances, speakers, strict=True)])
        past, future = sides
        window = self.context_window
        past = past[len(past) - window :] if window else []
        future = future[:window] if self.context_mode == "bidirectional" else []
        parts = []
        if past:
            parts += [" ".join(past), UTTERANCE_FENCE]
        parts.append(self._utterance(text, speaker))
        if future:
            parts += [UTTERANCE_FENCE, " ".join(future)]
        return self.prefix + " ".join(parts)

    def _tokenize(self, texts: list[str], max_length: int, what: str) -> dict[str, list[list[int]]]:
        """Tokenise without padding, truncating to ``max_length`` tokens with a warning counting the cut."""
        encoded = self.tokenizer(texts, add_special_tokens=True)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        cut = [n - max_length for n in lengths if n > max_length]
        if cut:
            warnings.warn(
                f"{what}: truncated {len(cut)} of {len(texts)} samples to {max_length} tokens "
                f"({sum(cut)} tokens cut in total, at most {max(cut)} from one sample)",
                UniMSEDataWarning,
                stacklevel=3,
            )
            encoded = self.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length)
        return encoded

    def _pad_ids(self, sequences: list[list[int]], pad_value: int) -> torch.Tensor:
        """Right-pad token id lists into a ``(batch, longest)`` int64 tensor."""
        longest = max(len(ids) for ids in sequences)
        out = torch.full((len(sequences), longest), pad_value, dtype=torch.long)
        for row, ids in enumerate(sequences):
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    # ------------------------------------------------------------------------------------------ call
    def __call__(
        self,
        text: str | Sequence[str] | None = None,
        *,
        speaker: str | Sequence[str] | None = None,
        context_before: Sequence[str] | Sequence[Sequence[str]] | None = None,
        speakers_before: Sequence[str] | Sequence[Sequence[str]] | None = None,
        context_after: Sequence[str] | Sequence[Sequence[str]] | None = None,
        speakers_after: Sequence[str] | Sequence[Sequence[str]] | None = None,
        acoustic: Any = None,
        visual: Any = None,
        text_target: str | Sequence[str] | None = None,
        return_tensors: str = "pt",
    ) -> BatchFeature:
        """Process one sample (``text`` a str) or a batch (``text`` a list of str).

        For a single sample every other argument is that sample's value (``acoustic`` one ``(frames, dim)``
        array); for a batch each argument is a list with one entry per sample (``acoustic`` may also be a
        ``(batch, frames, dim)`` array, taken as unpadded). ``text_target`` alone (``text=None``) tokenises
        only targets.

        Returns:
            :class:`~transformers.BatchFeature` with ``input_ids``/``attention_mask`` ``(batch, length)``;
            ``labels`` ``(batch, target_length)`` (-100 on padding) when ``text_target`` is given;
            ``acoustic_features`` ``(batch, frames, dim)`` + ``acoustic_mask`` ``(batch, frames)`` when at least
            one sample has acoustic frames; the same for visual (padded by :class:`UniMSEFeatureExtractor`).
        """
        if return_tensors != "pt":
            raise ValueError(f"return_tensors must be 'pt', got {return_tensors!r}")
        if text is None and text_target is None:
            raise ValueError("text and text_target are both None: give at least one")
        data: dict[str, torch.Tensor] = {}
        if text is not None:
            single = isinstance(text, str)
            texts = [text] if single else _check_str_list("text", text)
            columns = {
                "speaker": speaker, "context_before": context_before, "speakers_before": speakers_before,
                "context_after": context_after, "speakers_after": speakers_after,
                "acoustic": acoustic, "visual": visual,
            }  # fmt: skip
            per_sample = {name: self._per_sample(name, value, len(texts), single) for name, value in columns.items()}
            defaults = {"speaker": "", "context_before": (), "context_after": ()}
            inputs = [
                self.build_input_text(
                    t,
                    **{
                        name: defaults[name] if per_sample[name][i] is None else per_sample[name][i]
                        for name in ("speaker", "context_before", "context_after")
                    },
                    speakers_before=per_sample["speakers_before"][i],
                    speakers_after=per_sample["speakers_after"][i],
                )
                for i, t in enumerate(texts)
            ]
            encoded = self._tokenize(inputs, self.max_source_length, "input text")
            data["input_ids"] = self._pad_ids(encoded["input_ids"], self.tokenizer.pad_token_id)
            data["attention_mask"] = self._pad_ids(encoded["attention_mask"], 0)
            data.update(self.feature_extractor(acoustic=per_sample["acoustic"], visual=per_sample["visual"]))
        if text_target is not None:
            targets = [text_target] if isinstance(text_target, str) else _check_str_list("text_target", text_target)
            if text is not None and len(targets) != len(data["input_ids"]):
                raise ValueError(
                    f"text_target must have one entry per text ({len(data['input_ids'])}), got {len(targets)}"
                )
            encoded = self._tokenize(targets, self.max_target_length, "text_target")
            data["labels"] = self._pad_ids(encoded["input_ids"], -100)
        return BatchFeature(data=data)

    @staticmethod
    def _per_sample(name: str, value: Any, batch: int, single: bool) -> list[Any]:
        """One entry per sample for argument ``name`` (``None`` -> all ``None``)."""
        if value is None:
            return [None] * batch
        if single:
            return [value]
        if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 3:
            value = list(value)
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise TypeError(
                f"{name} must be a list with one entry per text ({batch}) when text is a list, "
                f"got {type(value).__name__}"
            )
        if len(value) != batch:
            raise ValueError(f"{name} must have one entry per text ({batch}), got {len(value)}")
        return list(value)

    # ------------------------------------------------------------------------------------------ output
    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """Decode generated ids or labels ``(batch, length)`` to strings (see :func:`decode_token_ids`)."""
        return decode_token_ids(self.tokenizer, sequences, **kwargs)

    def decode(self, sequence, **kwargs) -> str:
        """Decode one generated sequence ``(length,)``."""
        return self.batch_decode([sequence], **kwargs)[0]

    def post_process_generation(self, sequences) -> list[UniversalLabel]:
        """Decode generated ids ``(batch, length)`` and parse each into a :class:`UniversalLabel`."""
        return [parse_universal_label(text) for text in self.batch_decode(sequences)]
