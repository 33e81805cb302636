"""unimse-hf: UniMSE (Hu et al., EMNLP 2022) for the Hugging Face ecosystem.

Importing the package registers the ``"unimse"`` model type with ``AutoConfig``, ``AutoModel`` and
``AutoModelForSeq2SeqLM``; saved folders also carry ``auto_map`` + the modeling files, so they load with
``trust_remote_code=True`` where ``unimse_hf`` is not installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

from .configuration_unimse import UniMSEConfig
from .convert_official import convert_official_state_dict
from .modeling_unimse import UniMSEEncoderOutput, UniMSEForConditionalGeneration, UniMSESeq2SeqLMOutput

__version__ = "0.1.0.dev0"

# model registration: in-library Auto classes, and an auto_map written on save for remote-code loading (transformers
# keeps one auto class per model class for remote code: AutoModelForSeq2SeqLM, the natural one for a seq2seq model)
AutoConfig.register(UniMSEConfig.model_type, UniMSEConfig, exist_ok=True)
AutoModel.register(UniMSEConfig, UniMSEForConditionalGeneration, exist_ok=True)
AutoModelForSeq2SeqLM.register(UniMSEConfig, UniMSEForConditionalGeneration, exist_ok=True)
UniMSEConfig.register_for_auto_class()
UniMSEForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")

# --- processor, data collator (issue 3): AutoProcessor for folders whose processor_class is UniMSEProcessor or
# whose config is a UniMSEConfig; the auto_map + processing files are written on save for remote-code loading
from transformers import AutoProcessor  # noqa: E402

from .data_collator import UniMSEDataCollator  # noqa: E402
from .processing_unimse import UniMSEProcessor  # noqa: E402

AutoProcessor.register(UniMSEConfig, UniMSEProcessor, exist_ok=True)
UniMSEProcessor.register_for_auto_class()
# --- end processor block

__all__ = [
    "UniMSEConfig",
    "UniMSEDataCollator",
    "UniMSEEncoderOutput",
    "UniMSEForConditionalGeneration",
    "UniMSEProcessor",
    "UniMSESeq2SeqLMOutput",
    "convert_official_state_dict",
]
