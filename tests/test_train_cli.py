"""`unimse-hf train | evaluate` and the YAML configs of training_args/."""

import json
from pathlib import Path

import pytest
from test_build_dataset_cli import MELD_ROWS, source  # noqa: F401  (the synthetic MELD/MOSI/MOSEI source fixture)
from transformers import AutoModelForSeq2SeqLM, AutoProcessor

from unimse_hf.cli import main
from unimse_hf.train import DataArguments, ModelArguments, parse_config
from unimse_hf.training_args import UniMSETrainingArguments

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "training_args").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_every_config_parses_into_the_three_argument_classes(config, tmp_path):
    model_args, data_args, args, _ = parse_config(config, ["--output_dir", str(tmp_path)])  # _: LoraArguments
    assert isinstance(model_args, ModelArguments) and isinstance(data_args, DataArguments)
    assert isinstance(args, UniMSETrainingArguments) and args.output_dir == str(tmp_path)
    assert model_args.model_name_or_path or model_args.tokenizer_name
    if model_args.tokenizer_name:  # a repository path, resolved against the config's folder
        assert Path(model_args.tokenizer_name, "tokenizer.json").is_file()


def test_command_line_values_override_the_file_and_unknown_fields_fail(tmp_path):
    tiny = next(path for path in CONFIGS if path.stem == "tiny")
    _, data_args, args, _ = parse_config(tiny, ["--num_train_epochs", "3", "--text_only", "--seed", "7"])
    assert args.num_train_epochs == 3 and args.seed == 7 and data_args.text_only
    with pytest.raises(SystemExit, match=r"unknown arguments \['--num_epochs', '3'\]"):
        parse_config(tiny, ["--num_epochs", "3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("output_dir: x\nlearning_rat: 0.1\n")
    with pytest.raises(SystemExit, match=r"unknown fields \['learning_rat'\]"):
        parse_config(bad, [])
    with pytest.raises(SystemExit, match="contrastive_visual_weight must be a finite number >= 0"):
        parse_config(tiny, ["--contrastive_visual_weight", "-1"])


def test_train_tiny_config_end_to_end_then_evaluate(source, tmp_path, capsys):  # noqa: F811
    data = tmp_path / "unified"
    assert main(["build-dataset", "meld", "--source", str(source / "meld"), "--out", str(data), "--no-progress"]) == 0
    out = tmp_path / "out"
    tiny = next(path for path in CONFIGS if path.stem == "tiny")
    args = ["train", str(tiny), "--dataset_name", str(data), "--dataset_config_name", "meld", "--output_dir", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "eval meld" in printed and "test meld" in printed and "weighted_f1" in printed
    for name in ("model.safetensors", "config.json", "modeling_unimse.py", "processor_config.json",
                 "trainer_state.json", "train_results.json", "eval_results.json", "test_results.json",
                 "all_results.json"):  # fmt: skip
        assert (out / name).is_file(), name
    results = json.loads((out / "all_results.json").read_text())
    assert results["eval_meld_num_samples"] == len(MELD_ROWS["dev"])
    assert results["test_meld_num_samples"] == len(MELD_ROWS["test"])
    assert "train_loss" in results and "eval_dev_score" in results
    card = (out / "README.md").read_text()
    assert "split: validation_meld" in card and "split: test_meld" in card  # the card holds dev and test results
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    assert type(model).__name__ == "UniMSEForConditionalGeneration"
    assert type(AutoProcessor.from_pretrained(out)).__name__ == "UniMSEProcessor"

    evaluated = tmp_path / "evaluated"
    cmd = ["evaluate", "--model", str(out), "--dataset_name", str(data), "--dataset_config_name", "meld",
           "--split", "test", "--output_dir", str(evaluated)]  # fmt: skip
    assert main(cmd) == 0
    assert "test meld" in capsys.readouterr().out
    scored = json.loads((evaluated / "test_results.json").read_text())
    assert scored["test_meld_num_samples"] == len(MELD_ROWS["test"])
    assert scored["test_meld_accuracy"] == pytest.approx(results["test_meld_accuracy"])
    with pytest.raises(SystemExit, match=r"--split names \['validation_mosi'\]"):
        main([*cmd[:-4], "--split", "validation_mosi"])
