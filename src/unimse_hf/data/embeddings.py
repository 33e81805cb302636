"""Sentence embeddings for pseudo-label retrieval (spec §2.3 step 2), from any Hugging Face encoder.

The paper embeds texts with ``princeton-nlp/sup-simcse-bert-base-uncased`` and takes ``pooler_output``.
Any ``AutoModel`` checkpoint (path or Hub id) works here, including sentence-transformers folders: their
``modules.json`` locates the transformer weights and ``1_Pooling/config.json`` gives the pooling.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

#: ``pooler``: the model's ``pooler_output`` (BERT: tanh(dense(CLS)); what SimCSE/the paper use).
#: ``cls``: the last hidden state of the first token. ``mean``: mask-weighted mean of the last hidden
#: states (what sentence-transformers' MiniLM/MPNet models are trained for). ``auto``: the mode of a
#: sentence-transformers ``1_Pooling/config.json`` if present, else ``pooler`` when the model has a
#: pooler, else ``mean``.
POOLING_MODES: tuple[str, ...] = ("auto", "pooler", "cls", "mean")


def _sentence_transformers_layout(path: Path) -> tuple[Path, str | None]:
    """Folder holding the transformer weights and the pooling mode of a local sentence-transformers model.

    Returns ``(path, None)`` for a plain transformers folder (or a Hub id, which has no local layout).
    """
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return path, None
    modules = json.loads(modules_file.read_text())
    weights_dir, pooling = path, None
    for module in modules:
        module_type = str(module.get("type", ""))
        module_dir = path / str(module.get("path", ""))
        if module_type.endswith("Transformer"):
            weights_dir = module_dir
        elif module_type.endswith("Pooling"):
            config = json.loads((module_dir / "config.json").read_text())
            if config.get("pooling_mode_mean_tokens"):
                pooling = "mean"
            elif config.get("pooling_mode_cls_token"):
                pooling = "cls"
    return weights_dir, pooling


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
        from transformers import AutoModel, AutoTokenizer

        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {pooling!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        local = Path(model_name_or_path)
        weights, st_pooling = _sentence_transformers_layout(local) if local.is_dir() else (model_name_or_path, None)
        self.model_name_or_path = str(model_name_or_path)
        self.tokenizer = AutoTokenizer.from_pretrained(weights)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = AutoModel.from_pretrained(weights).to(self.device).eval()
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
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        starts = range(0, len(order), self.batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc="embedding texts", unit="batch", disable=not self.show_progress):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                pooled = self._pool(self.model(**batch), batch["attention_mask"])
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[idx] = pooled.cpu().numpy()
        return out
