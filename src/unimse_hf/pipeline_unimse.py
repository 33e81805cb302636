"""``pipeline("multimodal-sentiment")``: text (+ acoustic/visual frames or raw audio/video) in, sentiment, emotion out.

One utterance, a batch of utterances, or a whole dialogue (one prediction per utterance, with the ERC context
window of paper §3.2 built from the neighbouring utterances) go through :class:`UniMSEProcessor`, ``generate``
and the universal-label parser. Registered as ``"multimodal-sentiment"`` when ``unimse_hf`` is in use, and recorded
in every saved model folder (``config.custom_pipelines`` + this file), so that ``pipeline("multimodal-sentiment",
model=folder, trust_remote_code=True)`` also works where ``unimse_hf`` is not installed.

This file imports only numpy, torch, transformers and the label module next to it: it is copied into saved
folders as remote code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import GenerationConfig, Pipeline

from .labels import parse_universal_label

TASK = "multimodal-sentiment"
#: raw-media keys of an utterance: their frames are computed by the processor's feature extractor (docs/media.md)
MEDIA_KEYS = ("audio", "video", "sampling_rate")
UTTERANCE_KEYS = ("text", "speaker", "context_before", "context_after", "acoustic", "visual", *MEDIA_KEYS)
DIALOGUE_UTTERANCE_KEYS = ("text", "speaker", "acoustic", "visual", *MEDIA_KEYS)
# A copy of unimse_hf.data.schema.MODALITIES: this file must import nothing from unimse_hf but labels (remote code).
MODALITIES = ("acoustic", "visual")
#: Output fields that ``return_probabilities`` scores, in the order the universal label writes them.
LABEL_OUTPUT_FIELDS = ("polarity", "score", "emotion", "iemocap_emotion")
INPUT_FORMS = (
    "a str, a dict with 'text' (and optional 'speaker', 'context_before', 'context_after', 'acoustic', "
    "'visual', 'audio' (a path, or an array with 'sampling_rate'), 'video' (a path)), a dict with 'dialogue' (a "
    "list of {'text', 'speaker'?, 'acoustic'?, 'visual'?, 'audio'?, 'sampling_rate'?, 'video'?} dicts), or a list "
    "of those"
)
_GENERATION_KEYS = frozenset(key for key in vars(GenerationConfig()) if not key.startswith("_")) | {"generation_config"}


class MultimodalSentimentPipeline(Pipeline):
    r"""Sentiment score, polarity and emotions of utterances, with optional acoustic/visual frame features.

    Inputs (one, or a list of them; ``batch_size=`` batches the utterances, results equal one-at-a-time runs):

    - ``"I love it"``;
    - ``{"text": ..., "speaker"?: str, "context_before"?: [...], "context_after"?: [...], "acoustic"?: array
      (frames, acoustic_dim), "visual"?: array (frames, visual_dim)}``; context utterances are strings or
      ``{"text", "speaker"?}`` dicts, ``context_before`` oldest first;
    - raw media instead of frames (the ``media`` extra; docs/media.md): ``"video": path`` (visual frames from the
      faces, acoustic frames from its audio track), ``"audio": path`` or ``"audio": array, "sampling_rate": Hz``
      (acoustic frames); a missing stream or a face-less video masks that modality. A modality takes one source:
      ``acoustic`` with ``audio``, or ``visual`` with ``video``, is an error;
    - ``{"dialogue": [{"text", "speaker"?, "acoustic"?, "visual"?, "audio"?, "video"?}, ...]}``: one prediction per
      utterance, the context of each built from its neighbours (``context_mode="past"`` uses earlier utterances
      only, for streaming; default: the processor's mode, bidirectional as in the paper).

    Output per utterance: ``polarity``, ``score`` (float), ``emotion`` (MELD's 7), ``iemocap_emotion`` (IEMOCAP's
    6), ``generated`` (the raw universal label) and ``valid`` (the label had its four fields, each recognised); with
    ``return_probabilities=True`` also ``probabilities``: per field, the probability of the generated tokens of
    that field (from the generation scores). Other keyword arguments (``max_new_tokens``, ``num_beams``, ...) or
    ``generate_kwargs={...}`` go to ``generate``.

    Example::

        import unimse_hf
        from transformers import pipeline

        classifier = pipeline("multimodal-sentiment", model="path/to/unimse-folder")
        classifier({"text": "I love it", "acoustic": np.zeros((40, 64)), "visual": np.zeros((12, 64))})
        classifier({"text": "I love it", "video": "clip.mp4"})
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    # generation kwargs are routed by _sanitize_parameters, the same way on every supported transformers release
    _pipeline_calls_generate = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.processor is None or not hasattr(self.processor, "build_input_text"):
            raise ValueError(
                "the multimodal-sentiment pipeline needs a UniMSEProcessor: pass processor=... (e.g. "
                f"AutoProcessor.from_pretrained(folder)), got {type(self.processor).__name__}"
            )

    # --------------------------------------------------------------------------------------------- parameters
    def _sanitize_parameters(
        self,
        context_mode: str | None = None,
        return_probabilities: bool | None = None,
        generate_kwargs: Mapping[str, Any] | None = None,
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - _GENERATION_KEYS)
        if unknown:
            raise TypeError(
                f"{TASK} pipeline got unexpected keyword arguments {unknown}: it takes context_mode, "
                "return_probabilities, batch_size, generate_kwargs and generation parameters (max_new_tokens, "
                "num_beams, ...)"
            )
        preprocess, forward, postprocess = {}, {}, {}
        if context_mode is not None:
            preprocess["context_mode"] = self._check_context_mode(context_mode)
        generation = dict(generate_kwargs or {})
        generation.update(kwargs)
        if generation:
            forward["generate_kwargs"] = generation
        if return_probabilities is not None:
            forward["return_probabilities"] = postprocess["return_probabilities"] = bool(return_probabilities)
        return preprocess, forward, postprocess

    # --------------------------------------------------------------------------------------------- call
    def __call__(self, inputs, **kwargs):
        """Predict for one input or a list of inputs (see the class docstring); returns a dict per utterance, a
        list of them per dialogue, and a list of those for a list of inputs."""
        single = isinstance(inputs, (str, Mapping))
        if single:
            items = [inputs]
        elif isinstance(inputs, (list, tuple)):
            items = list(inputs)
        else:
            raise TypeError(f"inputs must be {INPUT_FORMS}; got {type(inputs).__name__}")
        utterances, groups = [], []
        for index, item in enumerate(items):
            expanded = self.normalize_input(item, name="inputs" if single else f"inputs[{index}]")
            groups.append((len(utterances), len(expanded), isinstance(item, Mapping) and "dialogue" in item))
            utterances.extend(expanded)
        outputs = super().__call__(utterances, **kwargs) if utterances else []
        results = [outputs[start : start + count] if dialogue else outputs[start] for start, count, dialogue in groups]
        return results[0] if single else results

    def _check_context_mode(self, context_mode: str) -> str:
        if context_mode not in ("bidirectional", "past"):
            raise ValueError(f"context_mode must be 'bidirectional' or 'past', got {context_mode!r}")
        if context_mode == "bidirectional" and getattr(self.processor, "context_mode", None) == "past":
            raise ValueError(
                "context_mode='bidirectional' was asked, but this model's processor builds past-only contexts "
                "(processor.context_mode='past'), the setting it was trained with"
            )
        return context_mode

    # --------------------------------------------------------------------------------------------- inputs
    def normalize_input(self, item: Any, name: str = "inputs") -> list[dict]:
        """Check one input and turn it into utterance records (one per utterance; a dialogue gives several).

        Raises ``TypeError``/``ValueError`` naming ``name`` and the expected form for a wrong type, a missing or
        empty text, unknown keys, or a feature array of the wrong rank or dim or with NaN/inf values.
        """
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, Mapping):
            raise TypeError(f"{name} must be {INPUT_FORMS}; got {type(item).__name__}")
        if "dialogue" in item:
            return self._dialogue_records(item, name)
        self._check_keys(item, UTTERANCE_KEYS, name)
        record = {
            "text": self._text(item.get("text"), f"{name}['text']"),
            "speaker": self._speaker(item.get("speaker"), f"{name}['speaker']"),
        }
        for side in ("context_before", "context_after"):
            speakers = side.replace("context", "speakers")
            record[side], record[speakers] = self._context(item.get(side), f"{name}[{side!r}]")
        for modality in MODALITIES:
            record[modality] = self._frames(item.get(modality), modality, f"{name}[{modality!r}]")
        self._media_frames(item, name, record)
        return [record]

    def _dialogue_records(self, item: Mapping, name: str) -> list[dict]:
        if set(item) != {"dialogue"}:
            raise ValueError(f"{name} is a dialogue and takes the key 'dialogue' only, got {sorted(item)}")
        turns = item["dialogue"]
        if isinstance(turns, (str, Mapping)) or not isinstance(turns, Sequence) or not turns:
            raise ValueError(f"{name}['dialogue'] must be a non-empty list of utterance dicts, got {turns!r:.80}")
        utterances = []
        for i, turn in enumerate(turns):
            turn_name = f"{name}['dialogue'][{i}]"
            if not isinstance(turn, Mapping):
                raise TypeError(
                    f"{turn_name} must be a dict with 'text' (and optional 'speaker', 'acoustic', 'visual', 'audio', "
                    "'sampling_rate', 'video'), got "
                    f"{type(turn).__name__}"
                )
            self._check_keys(turn, DIALOGUE_UTTERANCE_KEYS, turn_name)
            utterance = {
                "text": self._text(turn.get("text"), f"{turn_name}['text']"),
                "speaker": self._speaker(turn.get("speaker"), f"{turn_name}['speaker']"),
                **{m: self._frames(turn.get(m), m, f"{turn_name}[{m!r}]") for m in MODALITIES},
            }
            self._media_frames(turn, turn_name, utterance)
            utterances.append(utterance)
        texts = [u["text"] for u in utterances]
        speakers = [u["speaker"] for u in utterances]
        return [
            {
                **utterance,
                "context_before": texts[:i],
                "speakers_before": speakers[:i],
                "context_after": texts[i + 1 :],
                "speakers_after": speakers[i + 1 :],
            }
            for i, utterance in enumerate(utterances)
        ]

    @staticmethod
    def _check_keys(item: Mapping, allowed: tuple[str, ...], name: str) -> None:
        unknown = sorted(str(key) for key in item if key not in allowed)
        if unknown:
            raise ValueError(f"{name} has unknown keys {unknown}; allowed: {list(allowed)}")

    @staticmethod
    def _text(value: Any, name: str) -> str:
        if value is None:
            raise ValueError(f"{name} is missing: every utterance needs its text (a non-empty str)")
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a non-empty str, got {type(value).__name__}")
        if not value.strip():
            raise ValueError(f"{name} is empty: every utterance needs its text (a non-empty str)")
        return value

    @staticmethod
    def _speaker(value: Any, name: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str (the speaker's name), got {type(value).__name__}")
        return value

    def _context(self, value: Any, name: str) -> tuple[list[str], list[str]]:
        """Context utterances (str or ``{"text", "speaker"?}``) -> (texts, speakers)."""
        if value is None:
            return [], []
        if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
            raise TypeError(
                f"{name} must be a list of utterances (str or {{'text', 'speaker'}} dicts), got {type(value).__name__}"
            )
        texts, speakers = [], []
        for i, utterance in enumerate(value):
            if isinstance(utterance, Mapping):
                self._check_keys(utterance, ("text", "speaker"), f"{name}[{i}]")
                texts.append(self._text(utterance.get("text"), f"{name}[{i}]['text']"))
                speakers.append(self._speaker(utterance.get("speaker"), f"{name}[{i}]['speaker']"))
            else:
                texts.append(self._text(utterance, f"{name}[{i}]"))
                speakers.append("")
        return texts, speakers

    def _frames(self, value: Any, modality: str, name: str) -> np.ndarray | None:
        """A ``(frames, dim)`` float32 array (``None``: no frames)."""
        if value is None:
            return None
        dim = getattr(self.model.config, f"{modality}_dim")
        try:
            array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be a (frames, {dim}) array of numbers, got {type(value).__name__}") from error
        if array.ndim != 2 or array.shape[1] != dim:
            raise ValueError(
                f"{name} must be a (frames, {dim}) array ({modality}_dim of this model is {dim}), got shape "
                f"{array.shape}"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds {int((~np.isfinite(array)).sum())} NaN/inf values; give finite features")
        return array if array.shape[0] else None

    def _media_frames(self, item: Mapping, name: str, record: dict) -> None:
        """Fill ``record``'s acoustic/visual frames from the item's ``audio`` / ``video`` (+ ``sampling_rate``)."""
        audio, video, rate = item.get("audio"), item.get("video"), item.get("sampling_rate")
        if audio is None and video is None:
            if rate is not None:
                raise ValueError(f"{name}['sampling_rate'] is the rate of an 'audio' array, but {name} has no 'audio'")
            return
        for frames_key, media_key in (("acoustic", "audio"), ("visual", "video")):
            if item.get(frames_key) is not None and item.get(media_key) is not None:
                raise ValueError(
                    f"{name} has both {frames_key!r} frames and {media_key!r}: give one source of {frames_key} features"
                )
        if video is not None and not isinstance(video, (str, os.PathLike)):
            raise TypeError(f"{name}['video'] must be a video file path (str), got {type(video).__name__}")
        if audio is not None and not isinstance(audio, (str, os.PathLike, np.ndarray, torch.Tensor, list)):
            raise TypeError(
                f"{name}['audio'] must be an audio/video file path or a waveform array, got {type(audio).__name__}"
            )
        for key, value in (("audio", audio), ("video", video)):
            if isinstance(value, (str, os.PathLike)) and not os.path.isfile(value):
                raise FileNotFoundError(f"{name}[{key!r}]: no such file {os.fspath(value)!r}")
        if audio is not None and not isinstance(audio, (str, os.PathLike)) and rate is None:
            raise ValueError(f"{name}['audio'] is a waveform array: give its 'sampling_rate' (Hz) too")
        if isinstance(audio, (str, os.PathLike)) and rate is not None:
            raise ValueError(f"{name}['sampling_rate'] is for an 'audio' array; {name}['audio'] is a file path")
        extractor = self.processor.feature_extractor
        if not hasattr(extractor, "extract_media"):
            raise TypeError(
                f"{name} has raw media, but this model's feature extractor ({type(extractor).__name__}) cannot read "
                "it; give 'acoustic' / 'visual' frames"
            )
        wanted = [modality for modality in MODALITIES if record[modality] is None and item.get(modality) is None]
        features = extractor.extract_media(audio, video, rate, modalities=wanted, name=name)
        for modality in wanted:
            source = "audio" if modality == "acoustic" and audio is not None else "video"
            record[modality] = self._frames(getattr(features, modality), modality, f"{name}[{source!r}]")

    # --------------------------------------------------------------------------------------------- steps
    def preprocess(self, record: dict, context_mode: str | None = None) -> dict[str, torch.Tensor]:
        """One utterance record -> model inputs with a batch dim of 1. ``context_mode="past"`` leaves out the
        utterances after it (the processor keeps its ``context_window`` nearest on each side). Both modalities are
        always present (0 frames when absent), so that utterances with and without features batch together;
        all-empty ones are dropped in :meth:`_forward`."""
        past_only = context_mode == "past"
        batch = self.processor(
            record["text"],
            speaker=record["speaker"],
            context_before=record["context_before"],
            speakers_before=record["speakers_before"],
            context_after=[] if past_only else record["context_after"],
            speakers_after=[] if past_only else record["speakers_after"],
        )
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        for modality in MODALITIES:
            frames = record[modality]
            if frames is None:
                frames = np.zeros((0, getattr(self.model.config, f"{modality}_dim")), dtype=np.float32)
            inputs[f"{modality}_features"] = torch.from_numpy(frames).unsqueeze(0)
            inputs[f"{modality}_mask"] = torch.ones((1, frames.shape[0]), dtype=torch.long)
        return inputs

    def _forward(
        self, model_inputs: dict, generate_kwargs: Mapping[str, Any] | None = None, return_probabilities: bool = False
    ) -> dict[str, torch.Tensor]:
        inputs = dict(model_inputs)
        for modality in MODALITIES:
            if not bool(inputs[f"{modality}_mask"].any()):
                del inputs[f"{modality}_features"], inputs[f"{modality}_mask"]
        generation = dict(generate_kwargs or {})
        own = self.model.generation_config
        if not {"max_length", "max_new_tokens", "generation_config"} & set(generation) and own.max_new_tokens is None \
                and own.max_length == GenerationConfig().max_length:  # fmt: skip
            # no length set anywhere: room for the longest target the processor writes (a universal label is ~12)
            generation["max_new_tokens"] = self.processor.max_target_length
        if not return_probabilities:
            return {"sequences": self.model.generate(**inputs, **generation)}
        generation.update(output_scores=True, return_dict_in_generate=True)
        out = self.model.generate(**inputs, **generation)
        beams = getattr(out, "beam_indices", None)
        scores = self.model.compute_transition_scores(
            out.sequences, out.scores, beam_indices=beams, normalize_logits=beams is None
        )
        return {"sequences": out.sequences, "transition_scores": scores}

    def postprocess(self, model_outputs: dict, return_probabilities: bool = False) -> dict[str, Any]:
        sequence = model_outputs["sequences"][0]
        generated = self.processor.decode(sequence)
        label = parse_universal_label(generated)
        result = {
            "polarity": label.polarity,
            "score": float(label.score),
            "emotion": label.meld_emotion,
            "iemocap_emotion": label.iemocap_emotion,
            "generated": generated,
            "valid": label.is_well_formed,
        }
        if return_probabilities:
            result["probabilities"] = self._field_probabilities(sequence, model_outputs["transition_scores"][0])
        return result

    def _field_probabilities(self, sequence: torch.Tensor, log_probs: torch.Tensor) -> dict[str, float | None]:
        """Probability of each label field's generated tokens: ``exp`` of the sum of their log-probabilities.

        ``sequence`` ``(length,)`` starts with the decoder start token, ``log_probs`` ``(length - 1,)`` scores the
        tokens after it. A token belongs to the field whose commas precede it; comma-only and special tokens are
        left out. A field the generation did not write gets ``None``.
        """
        tokenizer = self.processor.tokenizer
        special = set(tokenizer.all_special_ids)
        ids = sequence[1:].tolist()
        totals: dict[int, float] = {}
        for position, (token, log_prob) in enumerate(zip(ids, log_probs.tolist(), strict=False)):
            if token in special or not np.isfinite(log_prob):
                continue
            piece = tokenizer.decode([token]).strip()
            field = tokenizer.decode(ids[:position], skip_special_tokens=True).count(",")
            if piece.strip(",") and field < len(LABEL_OUTPUT_FIELDS):
                totals[field] = totals.get(field, 0.0) + log_prob
        return {name: float(np.exp(totals[i])) if i in totals else None for i, name in enumerate(LABEL_OUTPUT_FIELDS)}


__all__ = ["MultimodalSentimentPipeline", "TASK"]
