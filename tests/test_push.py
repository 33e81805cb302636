"""Hub publishing of models (unimse_hf.push, `unimse-hf push`, UniMSETrainer.push_to_hub) against a mocked HfApi:
repository visibility, what is uploaded and what stays local, and the checks made before any network call."""
# ruff: noqa: F811  (tests take the `processor` fixture imported from test_trainer)

import importlib.util
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
import transformers
from huggingface_hub import HfApi
from huggingface_hub.utils import filter_repo_objects
from test_trainer import processor, synthetic_rows, tiny_model, training_args  # noqa: F401

from unimse_hf import push as push_module
from unimse_hf.cli import main
from unimse_hf.push import HUB_IGNORE_PATTERNS, push_model_folder
from unimse_hf.trainer import UniMSETrainer
from unimse_hf.training_args import UniMSETrainingArguments

requires_peft = pytest.mark.skipif(importlib.util.find_spec("peft") is None, reason="peft is not installed")
COMMIT_URL = "https://huggingface.co/someone/unimse-meld/commit/0123abc"
#: what a UniMSE model repository needs: weights, configuration, remote code, processor, tokenizer and card
MODEL_FILES = {
    "model.safetensors", "config.json", "generation_config.json", "configuration_unimse.py", "modeling_unimse.py",
    "processing_unimse.py", "feature_extraction_unimse.py", "processor_config.json", "tokenizer.json",
    "tokenizer_config.json", "README.md",
}  # fmt: skip


def mock_api(existing_private: bool = True) -> MagicMock:
    """A ``MagicMock(spec=HfApi)`` whose repository is private (or not) and whose commits return :data:`COMMIT_URL`."""
    api = MagicMock(spec=HfApi)
    api.create_repo.return_value = SimpleNamespace(repo_id="someone/unimse-meld")
    api.repo_info.return_value = SimpleNamespace(private=existing_private)
    api.upload_folder.return_value = SimpleNamespace(commit_url=COMMIT_URL)
    return api


def uploaded_files(api: MagicMock) -> set[str]:
    """The files the single ``upload_folder`` call of ``api`` would send, its ignore patterns applied as the Hub
    client applies them (paths relative to the folder)."""
    kwargs = api.upload_folder.call_args.kwargs
    folder = Path(kwargs["folder_path"])
    paths = [path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()]
    return set(filter_repo_objects(paths, ignore_patterns=kwargs["ignore_patterns"]))


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("checkpoint-*"))
    return target


@pytest.fixture(scope="module")
def model_run(tmp_path_factory, processor) -> Path:
    """A folder as `unimse-hf train` leaves it: the saved model, a checkpoint, plots, training_args.bin, a runs/ log."""
    out = tmp_path_factory.mktemp("push") / "run"
    args = training_args(out, num_train_epochs=1, eval_strategy="epoch", save_strategy="epoch")
    trainer = UniMSETrainer(model=tiny_model(processor), args=args, train_dataset=synthetic_rows(8, 0, "train"),
                            eval_dataset=synthetic_rows(8, 1, "validation"), processing_class=processor)  # fmt: skip
    trainer.train()
    trainer.save_model()
    (out / "runs" / "Jan01_run").mkdir(parents=True)
    (out / "runs" / "Jan01_run" / "events.out.tfevents.1.host").write_bytes(b"tensorboard")
    (out / "all_results.json").write_text('{"eval_loss": 1.0}')
    assert (out / "checkpoint-1" / "optimizer.pt").is_file() and (out / "training_args.bin").is_file()
    return out


# --- push_model_folder ----------------------------------------------------------------------------------------------


def test_a_trained_folder_goes_to_a_private_repo_with_its_model_files_and_without_training_leftovers(model_run):
    api = mock_api()
    url = push_model_folder(model_run, "someone/unimse-meld", api=api)
    assert url == COMMIT_URL
    api.create_repo.assert_called_once_with("someone/unimse-meld", repo_type="model", private=True, exist_ok=True)
    api.repo_info.assert_called_once_with("someone/unimse-meld", repo_type="model")
    api.create_branch.assert_not_called()
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_id"] == "someone/unimse-meld" and Path(kwargs["folder_path"]) == model_run
    assert kwargs["repo_type"] == "model" and kwargs["revision"] is None
    assert kwargs["ignore_patterns"] == list(HUB_IGNORE_PATTERNS)
    assert kwargs["commit_message"] == "unimse-hf push: UniMSE model"
    files = uploaded_files(api)
    assert MODEL_FILES <= files, MODEL_FILES - files
    assert {"labels.py", "all_results.json", "learning_curves.png"} <= files  # remote-code helper, results, plots
    assert not [f for f in files if f.startswith(("checkpoint-", "runs/")) or f.endswith((".pt", ".pth", ".bin"))]
    assert (model_run / "checkpoint-1" / "model.safetensors").is_file()  # left out, not absent


def test_public_only_when_asked_and_the_commit_options_are_passed_on(model_run):
    api = mock_api(existing_private=False)
    push_model_folder(model_run, "someone/unimse-meld", private=False, commit_message="v1", revision="dev", api=api)
    api.create_repo.assert_called_once_with("someone/unimse-meld", repo_type="model", private=False, exist_ok=True)
    api.repo_info.assert_not_called()
    api.create_branch.assert_called_once_with("someone/unimse-meld", branch="dev", repo_type="model", exist_ok=True)
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["commit_message"] == "v1" and kwargs["revision"] == "dev"


def test_a_private_push_into_an_existing_public_repo_is_refused(model_run):
    api = mock_api(existing_private=False)
    with pytest.raises(ValueError, match=r"existing public repository and private=True; push with private=False"):
        push_model_folder(model_run, "someone/unimse-meld", api=api)
    api.upload_folder.assert_not_called()


@pytest.mark.parametrize("repo_id", ["unimse-meld", "someone/team/unimse-meld", "/unimse-meld", "someone/",
                                     "someone/unimse meld", "someone/unimse--meld", 42])  # fmt: skip
def test_a_bad_repo_id_is_named_before_any_call(model_run, repo_id):
    api = mock_api()
    with pytest.raises(ValueError, match=r'repo_id must be a Hub repository id "namespace/name".*got '):
        push_model_folder(model_run, repo_id, api=api)
    assert api.mock_calls == []


def _remove(*names):
    def change(folder: Path) -> None:
        for name in names:
            (folder / name).unlink()

    return change


def _set_model_type(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "t5"}))


def _shard(folder: Path) -> None:
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    weight_map = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))


def _seeds_folder(folder: Path) -> None:
    seed = folder / "seed-1"
    seed.mkdir()
    for path in list(folder.iterdir()):
        if path != seed:
            path.rename(seed / path.name)
    (folder / "seeds_summary.json").write_text("{}")
    (folder / "README.md").write_text("# Results over seeds\n")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda folder: shutil.rmtree(folder), r"got '.*', which does not exist"),
        (lambda folder: shutil.rmtree(folder) or folder.write_text("x"), r"got '.*', which is a file"),
        (_remove("config.json"), r"holds no config.json with model_type 'unimse' and no adapter_config.json"),
        (_seeds_folder, r"a `train --seeds` folder: push one of its seed-<n>/ folders"),
        (_set_model_type, r"its config.json has model_type 't5', expected 'unimse'"),
        (_remove("model.safetensors"), r"holds no weights: expected model.safetensors or model.safetensors.index"),
        (_shard, r"names \['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'\], missing "
                 r"\['model-00002-of-00002.safetensors'\]"),
        (_remove("modeling_unimse.py"), r"auto_map of config.json names the remote code \['modeling_unimse.py'\]"),
        (_remove("processing_unimse.py"), r"auto_map of processor_config.json names the remote code "
                                          r"\['processing_unimse.py'\]"),
        (_remove("processor_config.json"), r"UniMSE model folder '.*' lacks \['processor_config.json'\], the proc"),
        (_remove("tokenizer.json"), r"holds no tokenizer: expected tokenizer.json or spiece.model"),
        (_remove("README.md"), r"holds no README.md model card: UniMSETrainer.save_model writes one"),
    ],
    ids=["missing", "file", "no-config", "seeds-folder", "t5-config", "no-weights", "missing-shard", "no-modeling-code",
         "no-processing-code", "no-processor", "no-tokenizer", "no-card"],
)  # fmt: skip
def test_an_incomplete_folder_is_refused_before_any_call(model_run, tmp_path, change, message):
    folder = copy_run(model_run, tmp_path / "run")
    change(folder)
    api = mock_api()
    with pytest.raises(ValueError, match=message):
        push_model_folder(folder, "someone/unimse-meld", api=api)
    assert api.mock_calls == []


# --- unimse-hf push -------------------------------------------------------------------------------------------------


def test_the_command_prints_the_url_and_the_visibility(model_run, monkeypatch, capsys):
    api = mock_api()
    hf_api = MagicMock(return_value=api)
    monkeypatch.setattr(push_module, "HfApi", hf_api)
    assert main(["push", str(model_run), "someone/unimse-meld", "--token", "hf_secret"]) == 0
    hf_api.assert_called_once_with(token="hf_secret")
    assert api.create_repo.call_args.kwargs["private"] is True
    assert capsys.readouterr().out == f"pushed {model_run} to someone/unimse-meld, private: {COMMIT_URL}\n"

    api = mock_api(existing_private=False)
    hf_api.return_value = api
    assert main(["push", str(model_run), "someone/unimse-meld", "--public", "--commit-message", "first"]) == 0
    assert api.create_repo.call_args.kwargs["private"] is False
    assert api.upload_folder.call_args.kwargs["commit_message"] == "first"
    assert "someone/unimse-meld, public (an existing private repository stays private): " in capsys.readouterr().out


def test_the_command_turns_errors_into_a_message(model_run, tmp_path, monkeypatch):
    hf_api = MagicMock()
    monkeypatch.setattr(push_module, "HfApi", hf_api)
    with pytest.raises(SystemExit, match=r'^push: repo_id must be a Hub repository id "namespace/name"'):
        main(["push", str(model_run), "unimse-meld"])
    with pytest.raises(SystemExit, match=r"^push: folder must be a saved UniMSE model or LoRA run folder, got"):
        main(["push", str(tmp_path / "missing"), "someone/unimse-meld"])
    hf_api.assert_not_called()


# --- a LoRA run folder ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, processor) -> Path:
    from unimse_hf.lora import LoraArguments, apply_lora

    out = tmp_path_factory.mktemp("push_lora") / "run"
    model = apply_lora(tiny_model(processor), LoraArguments(use_lora=True, lora_r=4))
    trainer = UniMSETrainer(model=model, args=training_args(out), processing_class=processor)
    trainer.save_model()
    return out


@requires_peft
def test_a_lora_run_folder_goes_up_with_its_adapter_base_model_and_processor(lora_run):
    api = mock_api()
    push_model_folder(lora_run, "someone/unimse-meld-lora", api=api)
    api.create_repo.assert_called_once_with("someone/unimse-meld-lora", repo_type="model", private=True, exist_ok=True)
    assert api.upload_folder.call_args.kwargs["commit_message"] == "unimse-hf push: LoRA adapter"
    files = uploaded_files(api)
    expected = {"adapter_config.json", "adapter_model.safetensors", "base_model/config.json",
                "base_model/model.safetensors", "base_model/generation_config.json", "processor_config.json",
                "processing_unimse.py", "feature_extraction_unimse.py", "tokenizer.json", "README.md"}  # fmt: skip
    assert expected <= files, expected - files
    assert "training_args.bin" not in files and (lora_run / "training_args.bin").is_file()


def _warm_started(base: str):
    def change(folder: Path) -> None:
        (folder / "base_model" / "model.safetensors").unlink()
        adapter = json.loads((folder / "adapter_config.json").read_text())
        (folder / "adapter_config.json").write_text(json.dumps({**adapter, "base_model_name_or_path": base}))

    return change


@requires_peft
@pytest.mark.parametrize(
    "change, message",
    [
        (_remove("adapter_model.safetensors"), r"LoRA adapter folder '.*' lacks \['adapter_model.safetensors'\]"),
        (_remove("base_model/config.json"), r"lacks base_model/config.json, the UniMSE configuration of the base"),
        (_warm_started(""), r"names no base_model_name_or_path and base_model/ holds no weights"),
        (_warm_started(str(Path(__file__).parent)), r"the adapter's base model is the local path '.*', which others"),
        (_remove("README.md"), r"holds no README.md model card"),
    ],
    ids=["no-adapter-weights", "no-base-config", "no-base", "local-base", "no-card"],
)  # fmt: skip
def test_an_incomplete_lora_folder_is_refused_before_any_call(lora_run, tmp_path, change, message):
    folder = copy_run(lora_run, tmp_path / "run")
    change(folder)
    api = mock_api()
    with pytest.raises(ValueError, match=message):
        push_model_folder(folder, "someone/unimse-meld-lora", api=api)
    assert api.mock_calls == []


@requires_peft
def test_a_lora_adapter_of_a_hub_checkpoint_needs_no_base_weights(lora_run, tmp_path):
    folder = copy_run(lora_run, tmp_path / "run")
    _warm_started("google-t5/t5-small")(folder)
    api = mock_api()
    push_model_folder(folder, "someone/unimse-meld-lora", api=api)
    assert "base_model/config.json" in uploaded_files(api)


# --- UniMSETrainer.push_to_hub --------------------------------------------------------------------------------------


def test_training_arguments_make_hub_repositories_private_unless_told_otherwise(tmp_path):
    args = UniMSETrainingArguments(output_dir=str(tmp_path))
    assert args.hub_private_repo is True
    assert args.set_push_to_hub("someone/unimse-meld").hub_private_repo is True
    assert args.set_push_to_hub("someone/unimse-meld", private_repo=False).hub_private_repo is False
    assert UniMSETrainingArguments(output_dir=str(tmp_path), hub_private_repo=False).hub_private_repo is False


@pytest.mark.parametrize("overrides, private", [({}, True), ({"hub_private_repo": False}, False)])
def test_trainer_push_to_hub_creates_a_private_repo_and_uploads_model_processor_and_card(
    tmp_path, processor, monkeypatch, overrides, private
):
    api = mock_api()
    monkeypatch.setattr(transformers.trainer, "hf_api", lambda: api)  # where Trainer looks it up (5.17 to 5.24)
    out = tmp_path / "out"
    args = training_args(out, hub_model_id="unimse-meld", **overrides)
    trainer = UniMSETrainer(model=tiny_model(processor), args=args, train_dataset=synthetic_rows(8, 0, "train"),
                            processing_class=processor)  # fmt: skip
    trainer.push_to_hub()
    api.create_repo.assert_called_once()
    assert api.create_repo.call_args.args == ("unimse-meld",)
    assert api.create_repo.call_args.kwargs["private"] is private
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_id"] == "someone/unimse-meld" and Path(kwargs["folder_path"]) == out
    files = uploaded_files(api)
    assert MODEL_FILES <= files, MODEL_FILES - files
    assert '.from_pretrained("someone/unimse-meld")' in (out / "README.md").read_text(encoding="utf-8")
