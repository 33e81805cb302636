"""Sentence embeddings for pseudo-label retrieval (docs/method.md#pseudo-labels), from any Hugging Face encoder.

The official scripts embed texts with ``princeton-nlp/sup-simcse-bert-base-uncased`` and takes ``pooler_output``.
Any ``AutoModel`` checkpoint (path or Hub id) works here, including sentence-transformers folders: their
``modules.json`` locates the transformer weights and ``1_Pooling/config.json`` gives the pooling.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:  # torch and transformers are imported when a TextEmbedder is built, not with this module
    import torch

#: ``pooler``: the model's ``pooler_output`` (BERT: tanh(dense(CLS)); what SimCSE/the paper use).
#: ``cls``: the last hidden state of the first token. ``mean``: mask-weighted mean of the last hidden
#: states (what sentence-transformers' MiniLM/MPNet models are trained for). ``auto``: the mode of a
#: sentence-transformers ``1_Pooling/config.json`` if present (local folder, or Hub repo when reachable),
#: else ``pooler`` when the model has a pooler, else ``mean``. Pass the mode explicitly when in doubt.
POOLING_MODES: tuple[str, ...] = ("auto", "pooler", "cls", "mean")


def _model_file(model_name_or_path: str | Path, filename: str) -> Path | None:
    """``filename`` of a local model folder or of a Hub model (downloaded), or ``None`` if it has none.

    A Hub file that cannot be found (absent, or offline and not cached) counts as absent.
    """
    local = Path(model_name_or_path)
    if local.is_dir():
        return local / filename if (local / filename).is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(str(model_name_or_path), filename))
    except EntryNotFoundError:
        return None


def _sentence_transformers_layout(model_name_or_path: str | Path) -> tuple[str, str | None]:
    """Sub-folder of the transformer weights and pooling mode of a sentence-transformers model.

    Returns ``("", None)`` for a plain transformers model (no ``modules.json``).
    """
    modules_file = _model_file(model_name_or_path, "modules.json")
    if modules_file is None:
        return "", None
    subfolder, pooling = "", None
    for module in json.loads(modules_file.read_text()):
        module_type, module_path = str(module.get("type", "")), str(module.get("path", ""))
        if module_type.endswith("Transformer"):
            subfolder = module_path
        elif module_type.endswith("Pooling"):
            config_file = _model_file(model_name_or_path, f"{module_path}/config.json".lstrip("/"))
            config = json.loads(config_file.read_text()) if config_file is not None else {}
            if config.get("pooling_mode_mean_tokens"):
                pooling = "mean"
            elif config.get("pooling_mode_cls_token"):
                pooling = "cls"
    return subfolder, pooling


class TextEmbedder:
    """Callable ``texts -> (N, d) float32`` array of L2-normalised embeddings.

    Args:
        model_name_or_path: a local folder or a Hub id of any ``AutoModel`` encoder or sentence-transformers
            model (Hub ids need network access unless cached).
        pooling: one of :data:`POOLING_MODES`.
        batch_size: texts per forward pass. Texts are sorted by length for batching (less padding) and the
            output is returned in input order, so results do not depend on the batch composition order.
        max_length: tokenizer truncation length.
        device: torch device; default CUDA if available, else CPU.
        show_progress: show a tqdm bar over batches.
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        pooling: str = "auto",
        batch_size: int = 64,
        max_length: int = 128,
        device: str | torch.device | None = None,
        show_progress: bool = True,
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        subfolder, st_pooling = _sentence_transformers_layout(model_name_or_path)
        self.model_name_or_path = str(model_name_or_path)
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, subfolder=subfolder)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = AutoModel.from_pretrained(model_name_or_path, subfolder=subfolder).to(self.device).eval()
        if pooling == "auto":
            has_pooler = getattr(self.model, "pooler", None) is not None
            pooling = st_pooling or ("pooler" if has_pooler else "mean")
        self.pooling = pooling
        self.batch_size = batch_size
        self.max_length = max_length
        self.show_progress = show_progress

    def _pool(self, outputs, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "pooler":
            if getattr(outputs, "pooler_output", None) is None:
                raise ValueError(f"pooling='pooler' but {self.model_name_or_path} returns no pooler_output")
            return outputs.pooler_output
        hidden = outputs.last_hidden_state  # (B, L, d)
        if self.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns a ``(len(texts), hidden_size)`` float32 array with unit-norm rows."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        starts = range(0, len(order), self.batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc="embedding texts", unit="batch", disable=not self.show_progress):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                pooled = self._pool(self.model(**batch), batch["attention_mask"])
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[idx] = pooled.cpu().numpy()
        return out
