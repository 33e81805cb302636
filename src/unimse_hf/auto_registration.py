"""Registration of the ``"unimse"`` model type with the transformers Auto classes.

``import unimse_hf`` must not load torch (a data-only process importing ``unimse_hf.labels`` should not pay for it),
but the usage ``import unimse_hf; AutoModelForSeq2SeqLM.from_pretrained(folder)`` needs the Auto classes to know
UniMSE, and touching them imports transformers, hence torch. So the registration runs as soon as transformers is
imported in this process: at once if it already is, else right after its first import (or, when one of our own
modules imported it, right after that module finished), through an import hook that removes itself once done.
A process that never imports transformers never loads it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys


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
    # remote code keeps one auto class per model class: AutoModelForSeq2SeqLM, the natural one for a seq2seq model
    UniMSEConfig.register_for_auto_class()
    UniMSEForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")
    UniMSEProcessor.register_for_auto_class()
    UniMSEFeatureExtractor.register_for_auto_class()


class _RegistrationHook(importlib.abc.MetaPathFinder):
    """Loads nothing itself: it wraps the real loaders of ``transformers`` and of the ``unimse_hf`` submodules to
    call :func:`register_auto_classes` once transformers has been imported and no ``unimse_hf`` module is still
    executing (when one of ours imports transformers, registering at that moment would import it half-built), then
    leaves ``sys.meta_path``."""

    def __init__(self) -> None:
        self.transformers_imported = False
        self.executing = 0  # unimse_hf submodules whose code is running now (nested imports count each)

    def find_spec(self, fullname, path, target=None):
        ours = fullname.startswith("unimse_hf.")
        if fullname != "transformers" and not ours:
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
            self.transformers_imported |= not ours
            if self.transformers_imported and not self.executing and self in sys.meta_path:
                sys.meta_path.remove(self)
                register_auto_classes()

        spec.loader.exec_module = exec_module
        return spec


def register_when_transformers_is_imported() -> None:
    """Register now if transformers is already imported, else as soon as it is (see :class:`_RegistrationHook`)."""
    if "transformers" in sys.modules:
        register_auto_classes()
    elif not any(isinstance(finder, _RegistrationHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegistrationHook())
