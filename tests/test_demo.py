"""`make demo`: the runner (demo/run_demo.py --quick) on the slice in demo/data, its baselines, and the slice script."""

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from data_helpers import save_tiny_encoder

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
SHARED_DATA = ROOT.parent / "shared" / "data"
SLICE_FILES = ("meld/train_sent_emo.csv", "meld/dev_sent_emo.csv", "meld/test_sent_emo.csv", "mosi/label.csv",
               "mosei/label.csv")  # fmt: skip


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMO / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return save_tiny_encoder(tmp_path_factory.mktemp("encoder"), max_position_embeddings=128)  # the builder cuts at 128


@pytest.fixture(scope="module")
def quick_run(encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-output")
    command = [sys.executable, str(DEMO / "run_demo.py"), "--quick", "--out", str(out), "--encoder", str(encoder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return out, result.stdout


def test_quick_demo_prints_metrics_beside_the_baseline(quick_run):
    _, printed = quick_run
    assert printed.count("This is a smoke run") == 2  # first and last words of the run
    assert re.search(r"^corpus\s+metric\s+dev: model\s+dev: majority\s+test: model\s+test: majority$", printed, re.M)
    number = r"(?:\d\.\d{3}|n/a)"
    for corpus, metric in (("MELD", "weighted F1"), ("MELD", "accuracy"), ("MOSI", r"Acc-2 \(non-0\)"),
                           ("MOSI", r"MAE \(lower is better\)"), ("MOSEI", r"F1 \(non-0\)")):  # fmt: skip
        assert re.search(rf"^{corpus}\s+{metric}\s+{number}\s+{number}\s+{number}\s+{number}\s*$", printed, re.M)
    assert "MELD always 'neutral'" in printed


def test_quick_demo_reloads_the_model_and_runs_the_pipeline(quick_run):
    out, printed = quick_run
    assert "UniMSEForConditionalGeneration:" in printed  # reloaded through transformers.AutoModel
    for name in ("model.safetensors", "config.json", "modeling_unimse.py", "processor_config.json"):
        assert (out / "model" / name).is_file(), name
    assert re.search(r"^input\s+polarity\s+score\s+emotion\s+valid$", printed, re.M)
    rows = re.findall(r"^(.+?)\s+(positive|negative|neutral)\s+([+-]\d+\.\d\d)\s+(\w+)\s+(True|False)\s*$", printed,
                      re.M)  # fmt: skip
    assert len(rows) == 6, rows  # a sentence, a sentence with frames, a dialogue of 4
    assert "[acoustic 50x64, visual 20x64]" in rows[1][0] and rows[5][0].startswith("dialogue 4/4 Monica:")
    summary = json.loads((out / "demo_summary.json").read_text())
    inputs = [p["input"] for p in summary["predictions"]]
    assert all(text.startswith(row[0].removesuffix("...")) for text, row in zip(inputs, rows, strict=True))
    assert {"polarity", "score", "emotion", "iemocap_emotion", "generated", "valid"} <= set(summary["predictions"][0])


def test_quick_demo_writes_the_learning_curves(quick_run):
    out, printed = quick_run
    curves = out / "model" / "learning_curves.png"
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(curves) in printed
    assert (out / "model" / "confusion_matrix_test_meld.png").is_file()


def test_majority_baselines_come_from_the_training_labels():
    import numpy as np
    from datasets import DatasetDict, concatenate_datasets

    from hub_datasets.build import read_corpus
    from unimse_hf.data.report import BuildReport

    run_demo = _load("run_demo")
    corpora = {c: read_corpus(c, DEMO / "data" / c, None, BuildReport(), False)[0] for c in run_demo.CORPORA}
    mixture = {"train": concatenate_datasets([corpora[c]["train"] for c in run_demo.CORPORA])}
    for corpus, splits in corpora.items():
        mixture.update({f"{split}_{corpus}": splits[split] for split in ("validation", "test")})
    predictors, scores = run_demo.majority_baselines(DatasetDict(mixture), None)
    meld_train = corpora["meld"]["train"]["meld_emotion"]
    assert predictors["meld"]["emotion"] == max(set(meld_train), key=meld_train.count) == "neutral"
    meld_test = corpora["meld"]["test"]["meld_emotion"]
    assert scores["test", "meld"]["accuracy"] == pytest.approx(meld_test.count("neutral") / len(meld_test))
    mosi_train = corpora["mosi"]["train"]["score"]
    assert predictors["mosi"]["median"] == pytest.approx(np.median(mosi_train))
    assert predictors["mosi"]["sign"] == (1.0 if sum(s > 0 for s in mosi_train) >= sum(s < 0 for s in mosi_train)
                                          else -1.0)  # fmt: skip
    mosi_test = [s for s in corpora["mosi"]["test"]["score"] if s != 0]
    always = sum((s > 0) == (predictors["mosi"]["sign"] > 0) for s in mosi_test) / len(mosi_test)
    assert scores["test", "mosi"]["acc2_non0"] == pytest.approx(always)
    median = predictors["mosi"]["median"]
    mae = sum(abs(s - median) for s in corpora["mosi"]["test"]["score"]) / len(corpora["mosi"]["test"])
    assert scores["test", "mosi"]["mae"] == pytest.approx(mae, rel=1e-5)


def test_bad_arguments_are_refused(encoder, tmp_path, capsys):
    run_demo = _load("run_demo")
    cases = [
        (["--encoder", str(tmp_path / "absent")], "is not a folder"),
        (["--encoder", str(encoder), "--data", str(tmp_path)], "lacks the sub-folders ['mosi', 'mosei', 'meld']"),
        (["--encoder", str(encoder), "--output_dir", "x"], "the demo sets these itself"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit):
            run_demo.main(argv)
        assert message in capsys.readouterr().err


def test_slice_is_small_and_matches_its_manifest():
    manifest = json.loads((DEMO / "data" / "slice.json").read_text())
    total = 0
    for relative in SLICE_FILES:
        path = DEMO / "data" / relative
        corpus, name = relative.split("/")
        assert manifest["corpora"][corpus]["files"][name] == hashlib.sha256(path.read_bytes()).hexdigest()
        total += path.stat().st_size
    assert total < 300_000
    assert (DEMO / "README.md").is_file()


def test_slice_script_keeps_a_slice_as_it_is(tmp_path):
    _load("make_slice").make_slice(DEMO / "data", tmp_path)
    for relative in SLICE_FILES:
        assert (tmp_path / relative).read_bytes() == (DEMO / "data" / relative).read_bytes(), relative


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"the full MELD/MOSI/MOSEI files are not under {SHARED_DATA}")
def test_slice_script_reproduces_the_slice_from_the_full_files(tmp_path):
    _load("make_slice").make_slice(SHARED_DATA, tmp_path)
    for relative in (*SLICE_FILES, "slice.json"):
        assert (tmp_path / relative).read_bytes() == (DEMO / "data" / relative).read_bytes(), relative
