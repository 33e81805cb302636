"""Registration of the ``"unimse"`` model type with the transformers Auto classes, and of the
``"multimodal-sentiment"`` pipeline task.

``import unimse_hf`` must not load torch (a data-only process importing ``unimse_hf.labels`` should not pay for it),
but the usage ``import unimse_hf; AutoModelForSeq2SeqLM.from_pretrained(folder)`` needs the Auto classes to know
UniMSE, and touching them imports transformers, hence torch. So the registration runs as soon as transformers is
imported in this process: at once if it already is, else right after its first import (or, when one of our own
modules imported it, right after that module finished), through an import hook that removes itself once done.
A process that never imports transformers never loads it. The pipeline task is registered the same way when
``transformers.pipelines`` is imported (importing it costs seconds, so ``import transformers`` alone does not).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path


def register_auto_classes() -> None:
    """Register UniMSE with ``AutoConfig``, ``AutoModel``, ``AutoModelForSeq2SeqLM``, ``AutoProcessor`` and
    ``AutoFeatureExtractor``, and mark the classes for remote code (``save_pretrained`` then writes an ``auto_map``
    and copies the defining files, so a folder also loads with ``trust_remote_code=True`` where ``unimse_hf`` is not
    installed). Idempotent."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForSeq2SeqLM, AutoProcessor

    from .configuration_unimse import UniMSEConfig
    from .feature_extraction_unimse import UniMSEFeatureExtractor
    from .modeling_unimse import UniMSEForConditionalGeneration
    from .processing_unimse import UniMSEProcessor

    AutoConfig.register(UniMSEConfig.model_type, UniMSEConfig, exist_ok=True)
    AutoModel.register(UniMSEConfig, UniMSEForConditionalGeneration, exist_ok=True)
    AutoModelForSeq2SeqLM.register(UniMSEConfig, UniMSEForConditionalGeneration, exist_ok=True)
    AutoProcessor.register(UniMSEConfig, UniMSEProcessor, exist_ok=True)
    AutoFeatureExtractor.register(UniMSEConfig, UniMSEFeatureExtractor, exist_ok=True)
    # remote code keeps one auto class per model class (AutoModelForSeq2SeqLM); save_pretrained adds AutoModel
    UniMSEConfig.register_for_auto_class()
    UniMSEForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")
    UniMSEProcessor.register_for_auto_class()
    UniMSEFeatureExtractor.register_for_auto_class()


class AutoModelForMultimodalSentiment:
    """The model class ``pipeline("multimodal-sentiment", model=folder)`` loads with: a UniMSE folder through
    ``AutoModelForSeq2SeqLM``; a LoRA run folder (``adapter_config.json`` + ``base_model/``, written by
    ``UniMSETrainer``) as its base model with the adapter merged in (peft's ``merge_and_unload``: the same
    predictions without the adapter's extra matmuls)."""

    @staticmethod
    def from_pretrained(pretrained_model_name_or_path, *args, **kwargs):
        folder = Path(pretrained_model_name_or_path)
        if not (folder / "adapter_config.json").is_file():
            from transformers import AutoModelForSeq2SeqLM

            return AutoModelForSeq2SeqLM.from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        import torch

        from .lora import load_lora_run

        model = load_lora_run(folder).merge_and_unload()
        dtype = kwargs.get("dtype")
        return model.to(dtype) if isinstance(dtype, torch.dtype) else model


def register_pipeline() -> None:
    """Register ``MultimodalSentimentPipeline`` as the ``"multimodal-sentiment"`` task (models load with
    :class:`AutoModelForMultimodalSentiment`). Idempotent; a task registered before, e.g. from a saved folder's
    remote code, is left as it is."""
    from transformers.pipelines import PIPELINE_REGISTRY

    from .pipeline_unimse import TASK, MultimodalSentimentPipeline

    if TASK not in PIPELINE_REGISTRY.supported_tasks:
        PIPELINE_REGISTRY.register_pipeline(
            TASK,
            pipeline_class=MultimodalSentimentPipeline,
            pt_model=AutoModelForMultimodalSentiment,
            type="multimodal",
        )


# the module whose first import triggers each registration
_REGISTRATIONS = {"transformers": register_auto_classes, "transformers.pipelines": register_pipeline}


class _RegistrationHook(importlib.abc.MetaPathFinder):
    """Loads nothing itself: it wraps the real loaders of the modules of ``_REGISTRATIONS`` and of the ``unimse_hf``
    submodules to run each registration once its module has been imported and no ``unimse_hf`` module is still
    executing (when one of ours imports transformers, registering at that moment would import it half-built), then
    leaves ``sys.meta_path`` when none is left."""

    def __init__(self, pending: list[str]) -> None:
        self.pending = pending  # modules of _REGISTRATIONS not imported yet
        self.imported: list[str] = []  # imported, registration not run yet
        self.executing = 0  # unimse_hf submodules whose code is running now (nested imports count each)

    def find_spec(self, fullname, path, target=None):
        ours = fullname.startswith("unimse_hf.")
        if fullname not in self.pending and not ours:
            return None
        spec = next(
            (
                spec
                for finder in sys.meta_path
                if finder is not self and hasattr(finder, "find_spec")
                if (spec := finder.find_spec(fullname, path, target)) is not None
            ),
            None,
        )
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            self.executing += ours
            try:
                execute(module)
            finally:
                self.executing -= ours
            if not ours and fullname in self.pending:
                self.pending.remove(fullname)
                self.imported.append(fullname)
            if self.executing:
                return
            if not self.pending and self in sys.meta_path:
                sys.meta_path.remove(self)
            while self.imported:
                _REGISTRATIONS[self.imported.pop(0)]()

        spec.loader.exec_module = exec_module
        return spec


def register_when_transformers_is_imported() -> None:
    """Run each registration of ``_REGISTRATIONS`` now if its module is already imported, else as soon as it is (see
    :class:`_RegistrationHook`)."""
    pending = []
    for module, register in _REGISTRATIONS.items():
        if module in sys.modules:
            register()
        else:
            pending.append(module)
    if pending and not any(isinstance(finder, _RegistrationHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegistrationHook(pending))
