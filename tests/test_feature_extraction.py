"""UniMSEFeatureExtractor: frame padding and masks, non-finite values, dims checks, save/load and remote code."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import TOKENIZER_DIR, tiny_unimse_config
from transformers import AutoFeatureExtractor, AutoProcessor, AutoTokenizer, BatchFeature

from unimse_hf import UniMSEProcessor
from unimse_hf.feature_extraction_unimse import UniMSEDataWarning, UniMSEFeatureExtractor


@pytest.fixture
def extractor():
    return UniMSEFeatureExtractor(acoustic_dim=2, visual_dim=3)


# ------------------------------------------------------------------------------------------------ padding
def test_padding_and_masks_exact_values(extractor):
    a0 = np.array([[1, 2], [3, 4]], dtype=np.float64)  # numpy, 2 frames
    a2 = torch.tensor([[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]])  # tensor, 3 frames
    v1 = [[1.0, 2.0, 3.0]]  # nested list, 1 frame
    out = extractor(acoustic=[a0, None, a2], visual=[[], v1, np.zeros((0, 3))])
    assert isinstance(out, BatchFeature)
    assert list(out) == ["acoustic_features", "acoustic_mask", "visual_features", "visual_mask"]
    assert out["acoustic_features"].dtype == torch.float32 and out["acoustic_mask"].dtype == torch.int64
    assert out["acoustic_features"].tolist() == [
        [[1, 2], [3, 4], [0, 0]],
        [[0, 0], [0, 0], [0, 0]],
        [[5, 6], [7, 8], [9, 10]],
    ]
    assert out["acoustic_mask"].tolist() == [[1, 1, 0], [0, 0, 0], [1, 1, 1]]
    assert out["visual_features"].tolist() == [[[0, 0, 0]], [[1, 2, 3]], [[0, 0, 0]]]
    assert out["visual_mask"].tolist() == [[0], [1], [0]]


def test_input_forms(extractor):
    single = extractor(acoustic=np.ones((4, 2)))  # one sample's (frames, dim) array
    assert single["acoustic_features"].shape == (1, 4, 2) and "visual_features" not in single
    batch = extractor(visual=np.ones((2, 5, 3)))  # (batch, frames, dim): taken as unpadded
    assert batch["visual_mask"].tolist() == [[1] * 5] * 2 and set(batch) == {"visual_features", "visual_mask"}
    assert dict(extractor(acoustic=[None, []])) == {}  # no sample has frames: no keys
    as_numpy = extractor(acoustic=[np.ones((1, 2)), np.ones((2, 2))], return_tensors="np")
    assert isinstance(as_numpy["acoustic_features"], np.ndarray) and as_numpy["acoustic_features"].dtype == np.float32
    assert as_numpy["acoustic_mask"].tolist() == [[1, 0], [1, 1]]


def test_padding_value_and_any_dim():
    extractor = UniMSEFeatureExtractor(acoustic_dim=None, visual_dim=None, padding_value=-1.0)
    out = extractor(acoustic=[np.zeros((1, 7)), np.zeros((2, 7))])
    assert out["acoustic_features"][0, 1].tolist() == [-1.0] * 7 and out["acoustic_mask"].tolist() == [[1, 0], [1, 1]]


def test_non_finite_values_are_zeroed_and_counted(extractor):
    bad = np.ones((3, 2), dtype=np.float32)
    bad[0, 0], bad[1, 1], bad[2, 0] = np.nan, -np.inf, np.inf  # MOSEI COVAREP has -inf
    also_bad = np.array([[np.nan, 1.0]])
    with pytest.warns(UniMSEDataWarning, match=r"acoustic: replaced 4 NaN/inf values in 2 of 3 samples by 0"):
        out = extractor(acoustic=[bad, np.ones((1, 2)), also_bad])
    assert out["acoustic_features"][0].tolist() == [[0, 1], [1, 0], [0, 1]]
    assert out["acoustic_features"][2, 0].tolist() == [0, 1]
    assert out["acoustic_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 0, 0]]  # zeroed frames stay real frames


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(acoustic=[np.ones((2, 5))]), ValueError, r"acoustic\[0\] has 5 features per frame, acoustic_dim is 2"),
        (dict(visual=[None, np.ones((2, 4))]), ValueError, r"visual\[1\] has 4 features per frame, visual_dim is 3"),
        (dict(visual=[np.ones(3)]), ValueError, r"visual\[0\] must be 2-D \(frames, dim\), got shape \(3,\)"),
        (dict(acoustic=["loud"]), TypeError, r"acoustic\[0\] must be a \(frames, dim\) array of numbers"),
        (dict(acoustic="loud"), TypeError, "acoustic must be a list with one .* entry per sample or an array, got str"),
        (dict(acoustic=np.ones(4)), ValueError, r"acoustic must be a \(batch, frames, dim\) array, .* got an array "
         r"of shape \(4,\)"),
        (dict(acoustic=[np.ones((1, 2))], visual=[None, None]), ValueError,
         "acoustic and visual must have one entry per sample each, got 1 acoustic and 2 visual entries"),
        (dict(), ValueError, "acoustic and visual are both None"),
        (dict(acoustic=[np.ones((1, 2))], return_tensors="tf"), ValueError, "return_tensors must be 'pt' or 'np'"),
    ],
)  # fmt: skip
def test_bad_inputs_raise_clear_errors(extractor, kwargs, error, message):
    with pytest.raises(error, match=message):
        extractor(**kwargs)


def test_batch_mixing_frame_dims_is_rejected():
    extractor = UniMSEFeatureExtractor(acoustic_dim=None, visual_dim=None)
    with pytest.raises(ValueError, match=r"acoustic\[3\] has 35 features per frame but acoustic\[1\] has 64: all "
                                         "samples of a batch need the same acoustic dim"):  # fmt: skip
        extractor(acoustic=[None, np.ones((2, 64)), np.ones((1, 64)), np.zeros((2, 35))])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(acoustic_dim=0), ValueError, "acoustic_dim must be a positive int or None, got 0"),
        (dict(visual_dim=True), ValueError, "visual_dim must be a positive int or None, got True"),
        (dict(sampling_rate=-16000), ValueError, r"sampling_rate must be a positive int \(Hz\) or None, got -16000"),
        (dict(acoustic_feature_set=3), TypeError, "acoustic_feature_set must be a str or None, got int 3"),
        (dict(padding_value=float("nan")), ValueError, "padding_value must be a finite number, got nan"),
        (dict(feature_size=5), ValueError, r"feature_size is acoustic_dim \(64\) for this extractor, got 5"),
        (dict(padding_side="left"), ValueError, "padding_side must be 'right'"),
        (dict(return_attention_mask=False), ValueError, "return_attention_mask must be True"),
        (dict(acustic_dim=3), TypeError, r"unexpected keyword arguments \['acustic_dim'\]"),
    ],
)
def test_bad_options_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        UniMSEFeatureExtractor(**kwargs)


# ------------------------------------------------------------------------------------------------ save / load
SETTINGS = dict(acoustic_dim=74, visual_dim=None, sampling_rate=16000, acoustic_feature_set="covarep",
                visual_feature_set="facet", padding_value=0.5)  # fmt: skip


def test_feature_extractor_config_round_trip(tmp_path):
    extractor = UniMSEFeatureExtractor(**SETTINGS)
    assert extractor.feature_size == 74 and extractor.padding_side == "right" and extractor.return_attention_mask
    extractor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "UniMSEFeatureExtractor"
    assert {key: saved[key] for key in SETTINGS} == SETTINGS
    assert saved["auto_map"] == {"AutoFeatureExtractor": "feature_extraction_unimse.UniMSEFeatureExtractor"}
    assert (tmp_path / "feature_extraction_unimse.py").exists()  # remote code
    for loaded in (UniMSEFeatureExtractor.from_pretrained(tmp_path), AutoFeatureExtractor.from_pretrained(tmp_path)):
        assert type(loaded) is UniMSEFeatureExtractor
        assert loaded.to_dict() == extractor.to_dict()


def test_auto_classes_load_it_from_a_processor_folder(tmp_path):
    """processor.save_pretrained nests the extractor's config in processor_config.json: AutoFeatureExtractor reads
    it from there, AutoProcessor rebuilds the processor with it."""
    extractor = UniMSEFeatureExtractor(**SETTINGS)
    processor = UniMSEProcessor(AutoTokenizer.from_pretrained(TOKENIZER_DIR), extractor, context_window=1)
    processor.save_pretrained(tmp_path)
    nested = json.loads((tmp_path / "processor_config.json").read_text())["feature_extractor"]
    assert {key: nested[key] for key in SETTINGS} == SETTINGS
    assert AutoFeatureExtractor.from_pretrained(tmp_path).to_dict() == extractor.to_dict()
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is UniMSEProcessor and type(loaded.feature_extractor) is UniMSEFeatureExtractor
    assert loaded.feature_extractor.to_dict() == extractor.to_dict() and loaded.context_window == 1


def test_auto_feature_extractor_from_a_model_folder(tmp_path):
    """A config without ``feature_extractor_type``: the folder's UniMSEConfig maps to UniMSEFeatureExtractor."""
    tiny_unimse_config().save_pretrained(tmp_path)
    UniMSEFeatureExtractor(acoustic_dim=6, visual_dim=5).save_pretrained(tmp_path)
    path = tmp_path / "preprocessor_config.json"
    saved = json.loads(path.read_text())
    del saved["feature_extractor_type"], saved["auto_map"]
    path.write_text(json.dumps(saved))
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert type(loaded) is UniMSEFeatureExtractor and (loaded.acoustic_dim, loaded.visual_dim) == (6, 5)


def test_saved_feature_extractor_loads_as_remote_code_without_unimse_hf(tmp_path):
    UniMSEFeatureExtractor(**SETTINGS).save_pretrained(tmp_path / "fe")
    script = (
        "import sys; sys.modules['unimse_hf'] = None; import numpy as np; "
        "from transformers import AutoFeatureExtractor; "
        f"fe = AutoFeatureExtractor.from_pretrained({str(tmp_path / 'fe')!r}, trust_remote_code=True); "
        "out = fe(acoustic=[np.ones((1, 74)), np.full((2, 74), np.nan)], visual=[None, np.ones((1, 9))]); "
        "print(type(fe).__module__, fe.acoustic_feature_set, fe.sampling_rate, out['acoustic_mask'].tolist(), "
        "float(out['acoustic_features'][0, 1, 0]), float(out['acoustic_features'][1].sum()), "
        "tuple(out['visual_features'].shape), sep='|')"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    module, *printed = result.stdout.strip().split("|")
    assert module.startswith("transformers_modules.")
    assert printed == ["covarep", "16000", "[[1, 0], [1, 1]]", "0.5", "0.0", "(2, 1, 9)"]
    assert "replaced 148 NaN/inf values in 1 of 2 samples by 0" in result.stderr
