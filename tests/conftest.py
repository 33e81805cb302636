"""Shared test fixtures: tiny random configurations and in-repo paths (no network, no ../shared needed)."""

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"
TOKENIZER_DIR = FIXTURES / "t5-tokenizer"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_T5 = dict(
    vocab_size=120,
    d_model=32,
    d_kv=8,
    d_ff=64,
    num_layers=3,
    num_decoder_layers=3,
    num_heads=4,
    relative_attention_num_buckets=8,
    dropout_rate=0.0,
    decoder_start_token_id=0,
)


# printed at the top of every run, so a CI log says which releases each environment tested
REPORTED_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "huggingface-hub",
    "accelerate",
    "peft",
    "evaluate",
    "numpy",
)


def pytest_report_header(config):
    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return "versions: " + ", ".join(f"{name} {installed(name)}" for name in REPORTED_PACKAGES)


def tiny_unimse_config(**overrides):
    """A UniMSEConfig small enough for fast CPU tests (3+3 blocks, d_model 32, modality dims 6/5)."""
    from unimse_hf import UniMSEConfig

    values = dict(
        TINY_T5,
        acoustic_dim=6,
        visual_dim=5,
        modality_hidden_size=8,
        fusion_bottleneck=16,
        contrastive_dim=7,
        modality_dropout=0.0,
    )
    values.update(overrides)
    return UniMSEConfig(**values)


@pytest.fixture
def tokenizer_dir() -> Path:
    return TOKENIZER_DIR
