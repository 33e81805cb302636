"""TextEmbedder on a tiny random BERT saved to a tmp dir (no network)."""

import numpy as np
import pytest
import torch
from data_helpers import save_tiny_encoder

from unimse_hf.data.embeddings import TextEmbedder

TEXTS = ["i love this movie", "so sad", "the movie was great great great", "ok", "i hate it"]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.mark.parametrize("pooling", ["pooler", "cls", "mean"])
def test_unit_norm_and_independent_of_batching(encoder_dir, pooling):
    one = TextEmbedder(encoder_dir, pooling=pooling, batch_size=1, show_progress=False)(TEXTS)
    many = TextEmbedder(encoder_dir, pooling=pooling, batch_size=4, show_progress=False)(TEXTS)
    assert one.shape == (5, 16) and one.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_pooling_modes_match_the_model_outputs(encoder_dir):
    from transformers import AutoModel, AutoTokenizer

    model, tokenizer = AutoModel.from_pretrained(encoder_dir).eval(), AutoTokenizer.from_pretrained(encoder_dir)
    with torch.no_grad():
        out = model(**tokenizer(["so sad"], return_tensors="pt"))
    expected = {
        "pooler": out.pooler_output[0],
        "cls": out.last_hidden_state[0, 0],
        "mean": out.last_hidden_state[0].mean(0),
    }
    for pooling, vector in expected.items():
        got = TextEmbedder(encoder_dir, pooling=pooling, show_progress=False)(["so sad"])[0]
        np.testing.assert_allclose(got, (vector / vector.norm()).numpy(), atol=1e-5)


def test_auto_pooling(encoder_dir, tmp_path):
    assert TextEmbedder(encoder_dir, show_progress=False).pooling == "pooler"
    st_dir = save_tiny_encoder(tmp_path / "st", sentence_transformers_layout=True)
    assert TextEmbedder(st_dir, show_progress=False).pooling == "mean"


def test_bad_arguments(encoder_dir):
    with pytest.raises(ValueError, match="pooling must be one of"):
        TextEmbedder(encoder_dir, pooling="max")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TextEmbedder(encoder_dir, batch_size=0)


def test_sentence_transformers_layout_of_a_hub_id(tmp_path):
    """A Hub id: modules.json / 1_Pooling/config.json are fetched with hf_hub_download (mocked here)."""
    from unittest.mock import patch

    from huggingface_hub.errors import LocalEntryNotFoundError

    from unimse_hf.data.embeddings import _sentence_transformers_layout

    st_dir = save_tiny_encoder(tmp_path / "st", sentence_transformers_layout=True)

    def fake_download(repo_id, filename):
        if repo_id == "org/st-model" and (st_dir / filename).is_file():
            return str(st_dir / filename)
        raise LocalEntryNotFoundError(f"{repo_id}/{filename}")

    with patch("huggingface_hub.hf_hub_download", side_effect=fake_download):
        assert _sentence_transformers_layout("org/st-model") == ("", "mean")
        assert _sentence_transformers_layout("org/plain-bert") == ("", None)
