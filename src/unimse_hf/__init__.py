"""unimse-hf: UniMSE (Hu et al., EMNLP 2022) for the Hugging Face ecosystem.

Importing the package is light: it loads no torch and no transformers, so the data layer (``unimse_hf.labels``,
``unimse_hf.data``) and ``unimse-hf --help`` stay fast. The public names below are imported on first use (PEP 562).
The ``"unimse"`` model type is registered with the transformers Auto classes as soon as transformers is imported in
the process (see :mod:`unimse_hf.auto_registration`), so ``import unimse_hf`` followed by
``AutoModelForSeq2SeqLM.from_pretrained(folder)`` works; saved folders also carry ``auto_map`` + the modeling files,
so they load with ``trust_remote_code=True`` where ``unimse_hf`` is not installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .auto_registration import register_auto_classes, register_when_transformers_is_imported
from .lazy_attributes import lazy_attributes

__version__ = "0.1.0.dev0"

# public name -> the module that defines it
_LAZY_NAMES = {
    "UniMSEConfig": "configuration_unimse",
    "UniMSEDataCollator": "data_collator",
    "UniMSEEncoderOutput": "modeling_unimse",
    "UniMSEFeatureExtractor": "feature_extraction_unimse",
    "UniMSEForConditionalGeneration": "modeling_unimse",
    "UniMSEProcessor": "processing_unimse",
    "UniMSESeq2SeqLMOutput": "modeling_unimse",
    "UniMSETrainer": "trainer",
    "UniMSETrainingArguments": "training_args",
    "convert_official_state_dict": "convert_official",
}

if TYPE_CHECKING:
    from .configuration_unimse import UniMSEConfig
    from .convert_official import convert_official_state_dict
    from .data_collator import UniMSEDataCollator
    from .feature_extraction_unimse import UniMSEFeatureExtractor
    from .modeling_unimse import UniMSEEncoderOutput, UniMSEForConditionalGeneration, UniMSESeq2SeqLMOutput
    from .processing_unimse import UniMSEProcessor
    from .trainer import UniMSETrainer
    from .training_args import UniMSETrainingArguments


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_NAMES, globals())

register_when_transformers_is_imported()

__all__ = [
    "UniMSEConfig",
    "UniMSEDataCollator",
    "UniMSEEncoderOutput",
    "UniMSEFeatureExtractor",
    "UniMSEForConditionalGeneration",
    "UniMSEProcessor",
    "UniMSESeq2SeqLMOutput",
    "UniMSETrainer",
    "UniMSETrainingArguments",
    "convert_official_state_dict",
    "register_auto_classes",
]
