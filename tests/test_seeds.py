"""`unimse-hf train CONFIG --seeds ...`: one run per seed, summarised as mean ± sample std (unimse_hf.seeds)."""

import json
import math
import statistics

import pytest
from huggingface_hub import ModelCard
from test_build_dataset_cli import source  # noqa: F401  (the synthetic MELD/MOSI/MOSEI source fixture)
from test_train_cli import CONFIGS

from unimse_hf.cli import main
from unimse_hf.seeds import run_seeds, summarise, summary_table, write_summary

RESULTS = {
    1: {"eval_meld_weighted_f1": 0.4, "eval_meld_num_samples": 10, "eval_meld_malformed": 0, "eval_dev_score": 0.4,
        "test_meld_accuracy": 0.5, "eval_malformed": 0, "train_loss": 2.0, "note": "text", "flag": True},
    2: {"eval_meld_weighted_f1": 0.5, "eval_meld_num_samples": 10, "eval_meld_malformed": 2, "eval_dev_score": 0.5,
        "test_meld_accuracy": math.nan, "eval_malformed": 2, "train_loss": 1.0, "note": "text", "flag": False},
    3: {"eval_meld_weighted_f1": 0.9, "eval_meld_num_samples": 10, "eval_meld_malformed": 1, "eval_dev_score": 0.9,
        "test_meld_accuracy": 0.7, "eval_malformed": 1, "train_loss": 3.0, "note": "text"},
}  # fmt: skip


def test_summary_is_the_mean_and_sample_std_of_the_finite_values():
    summary = summarise(RESULTS)
    assert summary["seeds"] == [1, 2, 3] and "ddof=1" in summary["std"]
    metrics = summary["metrics"]
    f1 = metrics["eval_meld_weighted_f1"]
    assert f1["mean"] == pytest.approx(0.6) and f1["n"] == 3 and f1["values"] == {"1": 0.4, "2": 0.5, "3": 0.9}
    assert f1["std"] == pytest.approx(math.sqrt(((0.2**2) + (0.1**2) + (0.3**2)) / 2))  # ddof=1: divide by n - 1
    accuracy = metrics["test_meld_accuracy"]  # NaN left out of the mean, counted out of n
    assert accuracy["mean"] == pytest.approx(0.6) and accuracy["n"] == 2 and accuracy["values"]["2"] is None
    assert accuracy["std"] == pytest.approx(statistics.stdev([0.5, 0.7]))
    assert metrics["note"] == {"mean": None, "std": None, "n": 0, "values": {"1": None, "2": None, "3": None}}
    assert metrics["flag"]["n"] == 0 and metrics["flag"]["values"]["3"] is None  # booleans and absent keys
    assert summarise({4: {"eval_dev_score": 0.3}})["metrics"]["eval_dev_score"] == {
        "mean": 0.3, "std": None, "n": 1, "values": {"4": 0.3}}  # fmt: skip
    json.dumps(summary, allow_nan=False)  # plain JSON: no NaN

    lines = summary_table(summary).splitlines()
    assert lines[0] == "| metric | mean ± std | n | seed 1 | seed 2 | seed 3 |"
    assert [line.split(" | ")[0].strip("| ") for line in lines[2:]] == [
        "eval_meld_weighted_f1", "eval_meld_malformed", "eval_dev_score", "test_meld_accuracy"]  # fmt: skip
    assert lines[2] == "| eval_meld_weighted_f1 | 0.6000 ± 0.2646 | 3 | 0.4000 | 0.5000 | 0.9000 |"
    assert lines[5] == "| test_meld_accuracy | 0.6000 ± 0.1414 | 2 | 0.5000 | - | 0.7000 |"


def test_summary_files_and_card(tmp_path):
    summary = summarise(RESULTS)
    paths = write_summary(tmp_path, summary, dataset_id="me/unified")
    assert [path.name for path in paths] == ["seeds_summary.json", "seeds_summary.md", "README.md"]
    assert json.loads((tmp_path / "seeds_summary.json").read_text()) == summary
    assert summary_table(summary) in (tmp_path / "seeds_summary.md").read_text()
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.library_name == "unimse-hf" and "unimse" in card.data.tags and card.data.datasets == ["me/unified"]
    assert summary_table(summary) in card.text and "MELD" in card.text and "hu2022unimse" in card.text


def test_seeds_refuse_a_seed_override_a_resume_and_repeated_seeds(tmp_path):
    tiny = next(path for path in CONFIGS if path.stem == "tiny")
    with pytest.raises(SystemExit, match="--seeds 1 2 and --seed cannot be used together"):
        run_seeds(tiny, ["--seed", "3"], [1, 2])
    with pytest.raises(SystemExit, match="--seeds 1 2 and --seed cannot be used together"):
        main(["train", str(tiny), "--seeds", "1", "2", "--seed=3"])
    with pytest.raises(SystemExit, match="--seeds 1 and --resume_from_checkpoint cannot be used together"):
        main(["train", str(tiny), "--seeds", "1", "--resume_from_checkpoint", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"--seeds must be distinct, got \[1, 1\]"):
        main(["train", str(tiny), "--seeds", "1", "1"])
    with pytest.raises(SystemExit, match=r"--seeds given twice, got \[1\] and \[2\]"):
        main(["train", "--seeds", "1", "--", str(tiny), "--seeds", "2"])


def test_train_tiny_config_with_two_seeds_end_to_end(source, tmp_path, capsys):  # noqa: F811
    data = tmp_path / "unified"
    assert main(["build-dataset", "meld", "--source", str(source / "meld"), "--out", str(data), "--no-progress"]) == 0
    out = tmp_path / "out"
    tiny = next(path for path in CONFIGS if path.stem == "tiny")
    args = ["train", str(tiny), "--seeds", "1", "2", "--dataset_name", str(data), "--dataset_config_name", "meld",
            "--output_dir", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out

    runs = {}
    for seed in (1, 2):
        folder = out / f"seed-{seed}"
        for name in ("model.safetensors", "README.md", "all_results.json", "trainer_state.json"):
            assert (folder / name).is_file(), (seed, name)
        runs[seed] = json.loads((folder / "all_results.json").read_text())
        assert f"- seed: {seed}\n" in (folder / "README.md").read_text()  # the run's card names its seed
    assert runs[1]["train_loss"] != runs[2]["train_loss"]  # the seed reached the runs

    summary = json.loads((out / "seeds_summary.json").read_text())
    assert summary["seeds"] == [1, 2]
    for name, entry in summary["metrics"].items():
        values = [runs[seed][name] for seed in (1, 2)]
        assert entry["values"] == {"1": values[0], "2": values[1]}, name
        assert entry["n"] == 2 and entry["mean"] == pytest.approx(statistics.fmean(values)), name
        assert entry["std"] == pytest.approx(statistics.stdev(values)), name
    assert {"eval_meld_weighted_f1", "test_meld_weighted_f1", "eval_dev_score", "train_loss"} <= set(summary["metrics"])

    table = (out / "seeds_summary.md").read_text()
    assert "| metric | mean ± std | n | seed 1 | seed 2 |" in table
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| eval_")
            or line.startswith("| test_")}  # fmt: skip
    assert {"eval_meld_weighted_f1", "eval_dev_score", "test_meld_accuracy", "test_dev_score"} <= set(rows)
    assert "eval_meld_num_samples" not in rows and "train_loss" not in rows
    f1 = summary["metrics"]["test_meld_weighted_f1"]
    mean, std = (f"{value:.4f}" for value in (f1["mean"], f1["std"]))
    assert f"| test_meld_weighted_f1 | {mean} ± {std} | 2 |" in rows["test_meld_weighted_f1"]
    assert rows["test_meld_weighted_f1"] in printed and rows["test_meld_weighted_f1"] in (out / "README.md").read_text()
    assert ModelCard.load(out / "README.md").data.library_name == "unimse-hf"
