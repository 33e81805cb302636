"""Helpers that build small synthetic unified-schema rows for the data-building tests."""

from __future__ import annotations

import numpy as np
from datasets import DatasetDict

from unimse_hf.data.schema import empty_row, rows_to_dataset_dict


def make_row(corpus: str, split: str, text: str, polarity: str | None, row_id: str | None = None, **gold) -> dict:
    """A row of ``corpus`` with gold ``polarity`` and the gold label fields given as keywords."""
    row = empty_row(corpus, split, row_id or f"{split}/{text}", text)
    if polarity is not None:
        row["polarity"], row["polarity_origin"] = polarity, "gold"
    for name, value in gold.items():
        row[name], row[f"{name}_origin"] = value, "gold"
    return row


def make_corpora(rows: list[dict]) -> dict[str, DatasetDict]:
    """Group rows by corpus into ``DatasetDict`` s (splits in schema order)."""
    by_corpus: dict[str, list[dict]] = {}
    for row in rows:
        by_corpus.setdefault(row["corpus"], []).append(row)
    return {corpus: rows_to_dataset_dict(corpus_rows) for corpus, corpus_rows in by_corpus.items()}


class LookupEmbedder:
    """Hand-made embeddings: ``texts -> vectors[text]``; records every text it was asked for."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)

    @property
    def seen(self) -> set[str]:
        return {t for call in self.calls for t in call}


TINY_VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "a",
    "b",
    "c",
    "i",
    "love",
    "hate",
    "it",
    "this",
    "so",
    "sad",
    "happy",
    "ok",
    "no",
    "yes",
    "well",
    "the",
    "movie",
    "was",
    "great",
    "bad",
]


def save_tiny_encoder(path, *, sentence_transformers_layout: bool = False, max_position_embeddings: int = 64):
    """Save a tiny random ``BertModel`` (hidden 16, 1 layer, ``max_position_embeddings`` tokens) with a word-level
    tokenizer to ``path``.

    With ``sentence_transformers_layout`` the folder also gets ``modules.json`` and ``1_Pooling/config.json``
    (mean pooling), like a sentence-transformers model.
    """
    import json

    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(0)
    BertTokenizer(vocab={w: i for i, w in enumerate(TINY_VOCAB)}).save_pretrained(path)
    config = BertConfig(
        vocab_size=len(TINY_VOCAB),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_position_embeddings,
    )
    BertModel(config).save_pretrained(path)
    if sentence_transformers_layout:
        (path / "1_Pooling").mkdir()
        (path / "1_Pooling" / "config.json").write_text(
            json.dumps(
                {"word_embedding_dimension": 16, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}
            )
        )
        (path / "modules.json").write_text(
            json.dumps(
                [
                    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                ]
            )
        )
    return path


def write_iemocap_release(root, dialogues):
    """A minimal ``IEMOCAP_full_release``-shaped folder: ``{(session, dialogue): [(turn, label, text)]}``."""
    for (session, dialogue), turns in dialogues.items():
        base = root / f"Session{session}" / "dialog"
        (base / "transcriptions").mkdir(parents=True, exist_ok=True)
        (base / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
        lines, blocks = [], ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for k, (turn, label, text) in enumerate(turns):
            start, end = 1.0 + 2 * k, 2.0 + 2 * k
            lines.append(f"{dialogue}_{turn} [{start:08.4f}-{end:08.4f}]: {text}")
            blocks += [f"[{start:.4f} - {end:.4f}]\t{dialogue}_{turn}\t{label}\t[2.5000, 2.5000, 2.5000]", ""]
        (base / "transcriptions" / f"{dialogue}.txt").write_text("\n".join(lines) + "\n")
        (base / "EmoEvaluation" / f"{dialogue}.txt").write_text("\n".join(blocks))
    return root
