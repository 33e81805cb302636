"""`import unimse_hf` registers the Auto classes without loading torch until transformers itself is imported."""

import subprocess
import sys
import textwrap

import pytest

CHECK_REGISTERED = """
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
assert "unimse" in CONFIG_MAPPING, "AutoConfig does not know unimse"
config = AutoConfig.for_model("unimse", vocab_size=50, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=2)
for auto in (AutoModel, AutoModelForSeq2SeqLM):
    model = auto.from_config(config)
    assert type(model).__name__ == "UniMSEForConditionalGeneration", (auto, type(model))
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING
assert type(config) in PROCESSOR_MAPPING, "AutoProcessor does not know UniMSEConfig"
from transformers.models.auto.feature_extraction_auto import FEATURE_EXTRACTOR_MAPPING
assert type(config) in FEATURE_EXTRACTOR_MAPPING, "AutoFeatureExtractor does not know UniMSEConfig"
"""


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize(
    "imports",
    [
        "import unimse_hf",  # transformers comes later: the import hook registers right after it
        "import transformers\nimport unimse_hf",  # transformers is there: registered at once
        "from unimse_hf import UniMSEProcessor",  # a lazy name whose module imports transformers itself
        "from unimse_hf.modeling_unimse import UniMSEForConditionalGeneration as Direct",  # a submodule directly
    ],
)
def test_import_unimse_hf_registers_the_auto_classes(imports):
    run_python(imports + "\n" + CHECK_REGISTERED)


def test_import_unimse_hf_alone_loads_neither_torch_nor_transformers():
    out = run_python("""
        import sys
        import unimse_hf, unimse_hf.labels
        print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
        print(callable(unimse_hf.register_auto_classes), "UniMSEConfig" in dir(unimse_hf))
        """)
    assert out.split("\n")[:2] == ["[]", "True True"]


def test_public_names_load_on_first_use_and_unknown_names_raise():
    import unimse_hf

    assert unimse_hf.UniMSEForConditionalGeneration.__name__ == "UniMSEForConditionalGeneration"
    with pytest.raises(AttributeError, match="has no attribute 'UniMSEModel'"):
        unimse_hf.UniMSEModel  # noqa: B018


CHECK_PIPELINE_REGISTERED = """
from transformers.pipelines import PIPELINE_REGISTRY
from unimse_hf.pipeline_unimse import MultimodalSentimentPipeline
task = PIPELINE_REGISTRY.supported_tasks["multimodal-sentiment"]
assert task["impl"] is MultimodalSentimentPipeline, task
print("pipeline-registered", task["type"], [c.__name__ for c in task["pt"]])
"""


@pytest.mark.parametrize(
    "imports",
    [
        "import unimse_hf\nfrom transformers import pipeline",  # registered when transformers.pipelines is imported
        "from transformers import pipeline\nimport unimse_hf",  # already imported: registered at once
        "import unimse_hf\nimport transformers\nfrom unimse_hf import UniMSEConfig\nimport transformers.pipelines",
    ],
)
def test_import_unimse_hf_registers_the_pipeline_task(imports):
    out = run_python(imports + "\n" + CHECK_PIPELINE_REGISTERED)
    assert "pipeline-registered multimodal ['AutoModelForMultimodalSentiment']" in out


def test_the_pipeline_registration_waits_for_transformers_pipelines():
    """Importing transformers.pipelines costs seconds: `import unimse_hf` + the Auto classes must not do it."""
    out = run_python("""
        import sys
        import unimse_hf
        from transformers import AutoModelForSeq2SeqLM
        AutoModelForSeq2SeqLM  # registration of the Auto classes ran
        print("transformers.pipelines" in sys.modules)
        """)
    assert out.split("\n")[0] == "False"
