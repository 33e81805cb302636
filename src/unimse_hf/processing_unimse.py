"""UniMSEProcessor: model input text (prompt + ERC context window), tokenisation, and acoustic/visual padding.

The processor owns every step between plain inputs (or one row of the unified dataset) and the tensors that
`UniMSEForConditionalGeneration.forward` takes (paper §3.2, input formalization):

- the input text ``prefix + [context before] </s> [speaker] text </s> [context after]``,
- its tokenisation (truncated to ``max_source_length`` with a warning that says how much was cut),
- the target (universal label) tokenisation, padded with -100,
- acoustic/visual frame sequences padded on the right into ``(batch, frames, dim)`` with ``(batch, frames)``
  masks (1 = real frame), NaN/inf replaced by 0 with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from .labels import CORPORA, UniversalLabel, parse_universal_label

CONTEXT_MODES = ("bidirectional", "past")
MODALITIES = ("acoustic", "visual")
# Literal fence around the target utterance; the T5 tokenizer maps it to the EOS id (as in the official inputs).
UTTERANCE_FENCE = "</s>"


class UniMSEDataWarning(UserWarning):
    """Inputs were altered to fit the model: text truncated, non-finite feature values zeroed."""


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
    r"""Processor of UniMSE: a T5 tokenizer plus the prompt/context rules and the acoustic/visual padding.

    Args:
        tokenizer: a T5 tokenizer (``</s>`` must be its EOS token).
        prefix: prompt put in front of every input (the official code's ``"sst2 sentence: "``).
        context_window: ERC utterances taken on each side of the target (paper §3.2: 2).
        context_mode: ``"bidirectional"`` (the paper: past and future utterances) or ``"past"`` (streaming use).
        use_speakers: write ``"Speaker text"`` for every utterance that has a speaker name.
        speaker_corpora: in :meth:`process_rows`, the corpora whose rows keep their speaker names (official
            inputs: MELD only; IEMOCAP rows carry actor ids as ``speaker`` but the paper writes none). ``None``:
            every corpus.
        max_source_length: input token limit (EOS included); longer inputs are cut on the tokenizer's
            ``truncation_side`` with a :class:`UniMSEDataWarning`.
        max_target_length: target token limit (EOS included) for ``text_target``.
        acoustic_dim / visual_dim: features per frame that every sample must have (``None``: any, but one per
            batch). Match ``UniMSEConfig.acoustic_dim`` / ``visual_dim``.

    Call it with plain inputs (one sample or a batch)::

        processor("I love it", acoustic=np.zeros((20, 64)), text_target="positive,1.8,joy,excited")
        processor(["u1", "u2"], speaker=["Joey", "Ross"], context_before=[[], ["u1"]], speakers_before=[[], ["Joey"]])

    or with rows of the unified dataset through :meth:`process_rows`.
    """

    model_input_names = ["input_ids", "attention_mask", "acoustic_features", "acoustic_mask", "visual_features",
                         "visual_mask"]

    def __init__(
        self,
        tokenizer,
        prefix: str = "sst2 sentence: ",
        context_window: int = 2,
        context_mode: str = "bidirectional",
        use_speakers: bool = True,
        speaker_corpora: Sequence[str] | None = ("meld",),
        max_source_length: int = 512,
        max_target_length: int = 32,
        acoustic_dim: int | None = 64,
        visual_dim: int | None = 64,
        **kwargs,
    ):
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
        if speaker_corpora is not None:
            unknown = [c for c in _check_str_list("speaker_corpora", speaker_corpora) if c not in CORPORA]
            if unknown:
                raise ValueError(f"speaker_corpora must name corpora of {CORPORA} (or be None), got {unknown}")
        for name, value in (("acoustic_dim", acoustic_dim), ("visual_dim", visual_dim)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        self.prefix = prefix
        self.context_window = context_window
        self.context_mode = context_mode
        self.use_speakers = bool(use_speakers)
        self.speaker_corpora = None if speaker_corpora is None else list(speaker_corpora)
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.acoustic_dim = acoustic_dim
        self.visual_dim = visual_dim
        super().__init__(tokenizer, **kwargs)

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

    # ------------------------------------------------------------------------------------------ frames
    def pad_frames(self, frames: Sequence[Any], modality: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Pad per-sample frame sequences on the right.

        Args:
            frames: one entry per sample: a ``(frames_i, dim)`` array-like (numpy, nested list, tensor), or
                ``None`` / an empty array (``[]``, ``(0, dim)``: the unified schema's "no frames") when the sample
                lacks the modality.
            modality: ``"acoustic"`` or ``"visual"`` (names the argument in errors and picks the expected dim).

        Returns:
            ``(features, mask)``: float32 ``(batch, max_frames, dim)`` and int64 ``(batch, max_frames)`` with 1 on
            real frames, valid frames first; a sample without the modality has an all-zero mask row.
            ``None`` when no sample has the modality.
        """
        expected = getattr(self, f"{modality}_dim")
        arrays: list[torch.Tensor | None] = []
        first: tuple[int, int] | None = None  # (index, dim) of the first present sample
        bad_values = bad_samples = 0
        for i, item in enumerate(frames):
            if item is None:
                arrays.append(None)
                continue
            name = f"{modality}[{i}]"
            try:
                array = torch.as_tensor(
                    item.detach() if isinstance(item, torch.Tensor) else np.asarray(item, dtype=np.float32),
                    dtype=torch.float32,
                )
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"{name} must be a (frames, dim) array of numbers (numpy, list or tensor), got "
                    f"{type(item).__name__}: {error}"
                ) from error
            if array.numel() == 0 and (array.ndim == 1 or array.shape[0] == 0):  # [] or (0, dim): no frames
                arrays.append(None)
                continue
            if array.ndim != 2:
                raise ValueError(f"{name} must be 2-D (frames, dim), got shape {tuple(array.shape)}")
            dim = array.shape[1]
            if expected is not None and dim != expected:
                raise ValueError(
                    f"{name} has {dim} features per frame, {modality}_dim is {expected}"
                )
            if first is None:
                first = (i, dim)
            elif dim != first[1]:
                raise ValueError(
                    f"{name} has {dim} features per frame but {modality}[{first[0]}] has {first[1]}: "
                    f"all samples of a batch need the same {modality} dim"
                )
            finite = torch.isfinite(array)
            if not bool(finite.all()):
                bad_values += int((~finite).sum())
                bad_samples += 1
                array = torch.where(finite, array, torch.zeros(()))
            arrays.append(array)
        if first is None:
            return None
        if bad_values:
            warnings.warn(
                f"{modality}: replaced {bad_values} NaN/inf values in {bad_samples} of {len(arrays)} samples by 0",
                UniMSEDataWarning,
                stacklevel=3,
            )
        longest = max(a.shape[0] for a in arrays if a is not None)
        features = torch.zeros((len(arrays), longest, first[1]), dtype=torch.float32)
        mask = torch.zeros((len(arrays), longest), dtype=torch.long)
        for row, array in enumerate(arrays):
            if array is not None:
                features[row, : array.shape[0]] = array
                mask[row, : array.shape[0]] = 1
        return features, mask

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
            one sample has acoustic frames; the same for visual.
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
            for modality in MODALITIES:
                padded = self.pad_frames(per_sample[modality], modality)
                if padded is not None:
                    data[f"{modality}_features"], data[f"{modality}_mask"] = padded
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

    def process_rows(self, rows: Sequence[dict[str, Any]], *, target_column: str | None = None) -> BatchFeature:
        """Process rows of the unified dataset (``text``, ``corpus``, ``speaker``, ``context_*``, ``speakers_*``,
        optional ``acoustic``/``visual``); ``target_column`` (e.g. ``"universal_label"``) gives ``labels``.
        Speaker names are dropped from rows whose ``corpus`` is not in ``speaker_corpora``.

        A row whose target is ``None`` (e.g. an evaluation row whose pseudo fields could not be filled) gets a
        ``labels`` row of -100: it adds nothing to the loss and is still generated for and scored on its gold
        field. At least one row must have a target."""
        columns = ("speaker", "context_before", "speakers_before", "context_after", "speakers_after")
        kwargs = {name: [row.get(name) for row in rows] for name in columns + MODALITIES}
        if self.speaker_corpora is not None:
            for i, row in enumerate(rows):
                if row.get("corpus") not in self.speaker_corpora:
                    kwargs["speaker"][i] = None
                    kwargs["speakers_before"][i] = kwargs["speakers_after"][i] = None
        without_target = []
        if target_column is not None:
            targets = [row.get(target_column) for row in rows]
            without_target = [i for i, target in enumerate(targets) if target is None]
            if len(without_target) == len(rows):
                raise ValueError(f"no row has a {target_column!r} (all None or absent); pass target_column=None")
            kwargs["text_target"] = ["" if target is None else target for target in targets]
        batch = self(text=[row.get("text") for row in rows], **kwargs)
        if without_target:
            batch["labels"][without_target] = -100
        return batch

    # ------------------------------------------------------------------------------------------ output
    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """Decode generated ids ``(batch, length)`` to strings (special tokens skipped; -100 read as padding)."""
        ids = torch.as_tensor(np.asarray(sequences))
        ids = torch.where(ids < 0, torch.full_like(ids, self.tokenizer.pad_token_id), ids)
        kwargs.setdefault("skip_special_tokens", True)
        return self.tokenizer.batch_decode(ids.tolist(), **kwargs)

    def decode(self, sequence, **kwargs) -> str:
        """Decode one generated sequence ``(length,)``."""
        return self.batch_decode([sequence], **kwargs)[0]

    def post_process_generation(self, sequences) -> list[UniversalLabel]:
        """Decode generated ids ``(batch, length)`` and parse each into a :class:`UniversalLabel`."""
        return [parse_universal_label(text) for text in self.batch_decode(sequences)]
