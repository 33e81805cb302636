"""Sentence embeddings for pseudo-label retrieval (docs/method.md#pseudo-labels), from any Hugging Face encoder.

:class:`TextEmbedder` has two back ends with one result:

- ``sentence-transformers`` (the ``embeddings`` extra) runs a sentence-transformers model (a folder or Hub repo with
  ``modules.json``) through its own modules: pooling from ``1_Pooling/config.json``, dense layers, normalisation.
- ``transformers`` runs any ``AutoModel`` encoder, e.g. the paper's ``princeton-nlp/sup-simcse-bert-base-uncased``
  with its ``pooler_output`` (no sentence-transformers pooling gives that), and the sentence-transformers models
  made of a transformer, one ``mean`` or ``cls`` pooling and a normalisation when the library is not installed.

Both embed in inference mode, in batches of texts sorted by token count (least padding), under bf16 autocast where
the device computes bf16 natively (``hardware.native_bf16``), and return L2-normalised float32 rows in input order.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:  # torch and transformers are imported when a TextEmbedder is built, not with this module
    import torch

#: ``pooler``: the model's ``pooler_output`` (BERT: tanh(dense(CLS)); what SimCSE/the paper use).
#: ``cls``: the last hidden state of the first token. ``mean``: mask-weighted mean of the last hidden
#: states (what sentence-transformers' MiniLM/MPNet models are trained for). ``auto``: the pooling of a
#: sentence-transformers model (``1_Pooling/config.json``, local folder or Hub repo when reachable), else
#: ``pooler`` when the model has a pooler, else ``mean``. Pass the mode explicitly when in doubt.
POOLING_MODES: tuple[str, ...] = ("auto", "pooler", "cls", "mean")
#: ``auto``: ``sentence-transformers`` for a sentence-transformers model when the library is installed and
#: ``pooling`` is ``auto`` or the model's own, else ``transformers``.
BACKENDS: tuple[str, ...] = ("auto", "sentence-transformers", "transformers")
_INSTALL_HINT = "pip install 'unimse-hf[embeddings]'"
#: modules a sentence-transformers model may have for the transformers back end to reproduce it
_PLAIN_MODULES = frozenset({"Transformer", "Pooling", "Normalize"})
_LEGACY_POOLING_KEYS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


class _SentenceTransformersLayout(NamedTuple):
    """What ``modules.json`` and the pooling config of a sentence-transformers model say."""

    subfolder: str  # folder of the transformer weights ("" for the model's root)
    pooling: str | None  # the pooling module's modes joined by "+" ("mean", "cls+mean", ...), None without one
    plain: bool  # only transformer, pooling and normalisation modules


def _sentence_transformers_installed() -> bool:
    return importlib.util.find_spec("sentence_transformers") is not None


def _model_file(model_name_or_path: str | Path, filename: str) -> Path | None:
    """``filename`` of a local model folder or of a Hub model (downloaded), or ``None`` if it has none.

    A Hub file that cannot be found (absent, or offline and not cached) counts as absent.
    """
    local = Path(model_name_or_path)
    if local.is_dir():
        return local / filename if (local / filename).is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HFValidationError

    try:
        return Path(hf_hub_download(str(model_name_or_path), filename))
    except EntryNotFoundError:
        return None
    except HFValidationError as err:
        raise ValueError(
            f"model_name_or_path must be a local model folder or a Hub model id, got {str(model_name_or_path)!r}, "
            "which is neither"
        ) from err


def _sentence_transformers_layout(model_name_or_path: str | Path) -> _SentenceTransformersLayout | None:
    """The layout of a sentence-transformers model, ``None`` for a model without ``modules.json``."""
    modules_file = _model_file(model_name_or_path, "modules.json")
    if modules_file is None:
        return None
    subfolder, pooling, plain = "", None, True
    for module in json.loads(modules_file.read_text()):
        kind, path = str(module.get("type", "")).rsplit(".", 1)[-1], str(module.get("path", ""))
        plain = plain and kind in _PLAIN_MODULES
        if kind == "Transformer":
            subfolder = path
        elif kind == "Pooling":
            config_file = _model_file(model_name_or_path, f"{path}/config.json".lstrip("/"))
            config = json.loads(config_file.read_text()) if config_file is not None else {}
            # sentence-transformers >= 6 writes "pooling_mode"; older versions one boolean key per mode
            modes = config.get("pooling_mode") or [
                _LEGACY_POOLING_KEYS.get(key, key)
                for key, on in config.items()
                if key.startswith("pooling_mode_") and on
            ]
            pooling = modes if isinstance(modes, str) else "+".join(modes)
    return _SentenceTransformersLayout(subfolder, pooling, plain)


class TextEmbedder:
    """Callable ``texts -> (N, d) float32`` array of L2-normalised embeddings, rows in input order.

    Args:
        model_name_or_path: a local folder or a Hub id of any ``AutoModel`` encoder or sentence-transformers
            model (Hub ids need network access unless cached).
        pooling: one of :data:`POOLING_MODES`.
        backend: one of :data:`BACKENDS`.
        batch_size: texts per forward pass; texts are sorted by token count for batching, so the result does not
            depend on the input order.
        max_length: tokenizer truncation length in tokens.
        device: torch device; default CUDA if available, else CPU.
        bf16: bf16 autocast; default (``None``) where the device computes bf16 natively (``hardware.native_bf16``).
        show_progress: show a progress bar over batches.

    Attributes ``backend``, ``pooling`` (the resolved mode), ``bf16`` and ``dimension`` (d) say what is used.
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        pooling: str = "auto",
        backend: str = "auto",
        batch_size: int = 64,
        max_length: int = 128,
        device: str | torch.device | None = None,
        bf16: bool | None = None,
        show_progress: bool = True,
    ) -> None:
        import torch

        from ..hardware import native_bf16

        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        for name, value in (("batch_size", batch_size), ("max_length", max_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if bf16 is not None and not isinstance(bf16, bool):
            raise ValueError(f"bf16 must be None (auto), True or False, got {bf16!r}")
        try:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        except RuntimeError as err:
            raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda:0', got {device!r}") from err
        self.model_name_or_path = str(model_name_or_path)
        self.batch_size, self.max_length, self.show_progress = batch_size, max_length, show_progress
        self.bf16 = native_bf16(self.device) if bf16 is None else bf16
        layout = _sentence_transformers_layout(model_name_or_path)
        expected = f"model_name_or_path must be a local model folder or a Hub model id, got {self.model_name_or_path!r}"
        config = Path(model_name_or_path, layout.subfolder if layout is not None else "", "config.json")
        if Path(model_name_or_path).is_dir() and not config.is_file():
            raise ValueError(f"{expected}, a folder without {config.relative_to(model_name_or_path)}")
        self.backend = self._resolve_backend(backend, pooling, layout)
        try:
            if self.backend == "sentence-transformers":
                self._load_sentence_transformers(layout)
            else:
                self._load_transformers(pooling, layout)
        except OSError as err:  # a Hub id that does not exist, or is not cached while offline
            raise ValueError(f"{expected} ({err})") from err

    def _resolve_backend(self, backend: str, pooling: str, layout: _SentenceTransformersLayout | None) -> str:
        installed = _sentence_transformers_installed()
        own_pooling = layout is not None and pooling in ("auto", layout.pooling)
        if backend == "auto":
            return "sentence-transformers" if installed and own_pooling else "transformers"
        if backend == "sentence-transformers":
            if not installed:
                raise ImportError(
                    f"backend='sentence-transformers' needs the sentence-transformers package: {_INSTALL_HINT}"
                )
            if layout is None:
                raise ValueError(
                    f"backend='sentence-transformers' needs a sentence-transformers model (with a modules.json), got "
                    f"{self.model_name_or_path!r}; use backend='transformers'"
                )
            if not own_pooling:
                raise ValueError(
                    f"backend='sentence-transformers' runs the model's own pooling ({layout.pooling!r}), got "
                    f"pooling={pooling!r}; pass pooling='auto' or backend='transformers'"
                )
        return backend

    def _load_sentence_transformers(self, layout: _SentenceTransformersLayout) -> None:
        from sentence_transformers import SentenceTransformer

        self.pooling = layout.pooling
        self._model = SentenceTransformer(self.model_name_or_path, device=str(self.device))
        self._model.max_seq_length = self.max_length
        self._tokenizer = self._model.tokenizer
        self.dimension = self._model.get_embedding_dimension()

    def _load_transformers(self, pooling: str, layout: _SentenceTransformersLayout | None) -> None:
        from transformers import AutoModel, AutoTokenizer

        if pooling == "auto" and layout is not None:
            if not layout.plain or layout.pooling not in ("mean", "cls"):
                raise ValueError(
                    f"{self.model_name_or_path!r} is a sentence-transformers model with pooling {layout.pooling!r} "
                    f"and modules beyond a transformer, a mean/cls pooling and a normalisation: {_INSTALL_HINT}, or "
                    "pass pooling explicitly to embed with its transformer alone"
                )
            pooling = layout.pooling
        subfolder = layout.subfolder if layout is not None else ""
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path, subfolder=subfolder)
        self._model = AutoModel.from_pretrained(self.model_name_or_path, subfolder=subfolder).to(self.device).eval()
        has_pooler = getattr(self._model, "pooler", None) is not None
        if pooling == "auto":
            pooling = "pooler" if has_pooler else "mean"
        if pooling == "pooler" and not has_pooler:
            raise ValueError(f"pooling='pooler' but {self.model_name_or_path!r} has no pooler; use 'cls' or 'mean'")
        self.pooling = pooling
        self.dimension = self._model.config.hidden_size

    def _embed_batch(self, texts: list[str]) -> torch.Tensor:
        """``(B, d)`` pooled embeddings of one batch, not normalised."""
        if self.backend == "sentence-transformers":
            return self._model.encode(texts, batch_size=len(texts), show_progress_bar=False, convert_to_tensor=True)
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        outputs = self._model(**batch)
        if self.pooling == "pooler":
            return outputs.pooler_output
        if self.pooling == "cls":
            return outputs.last_hidden_state[:, 0]
        mask = batch["attention_mask"].unsqueeze(-1).to(outputs.last_hidden_state.dtype)  # (B, L, 1)
        return (outputs.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns a ``(len(texts), dimension)`` float32 array with unit-norm rows."""
        import torch

        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, got a single str; wrap it in a list")
        texts = list(texts)
        bad = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
        if bad is not None:
            raise TypeError(f"texts must be a sequence of strings, got {type(texts[bad]).__name__} at index {bad}")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # batches of similar token counts: on the pseudo-label pools, sorting by characters (what sentence-transformers
        # does) pads to 1.4 times the tokens of sorting by tokens (docs/datasets.md#sentence-embeddings)
        lengths = [len(ids) for ids in self._tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]]
        order = sorted(range(len(texts)), key=lengths.__getitem__, reverse=True)
        out = torch.empty(len(texts), self.dimension)  # (N, d)
        starts = range(0, len(texts), self.batch_size)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            for start in tqdm(starts, desc="embedding texts", unit="batch", disable=not self.show_progress):
                idx = order[start : start + self.batch_size]
                out[idx] = self._embed_batch([texts[i] for i in idx]).float().cpu()
        return torch.nn.functional.normalize(out, dim=-1).numpy()
