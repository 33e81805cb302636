"""unimse-hf: UniMSE (Hu et al., EMNLP 2022) for the Hugging Face ecosystem."""

__version__ = "0.1.0.dev0"
