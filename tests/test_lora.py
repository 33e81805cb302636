"""LoRA through peft (unimse_hf.lora): the trainable set, training through UniMSETrainer, the run folder, adapter vs
merged outputs, load_lora_run, `unimse-hf merge-lora`, the tiny_lora.yaml run, and the error without peft."""
# ruff: noqa: F811  (tests take the `processor` and `source` fixtures imported from other test modules)

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import TINY_T5
from test_build_dataset_cli import MELD_ROWS, source  # noqa: F401  (source: the synthetic MELD source fixture)
from test_trainer import ACOUSTIC_DIM, VISUAL_DIM, processor, synthetic_rows, tiny_model, training_args  # noqa: F401
from transformers import AutoModelForSeq2SeqLM, AutoProcessor, T5Config, T5ForConditionalGeneration, pipeline

from unimse_hf import UniMSEForConditionalGeneration
from unimse_hf.cli import main
from unimse_hf.lora import (
    LORA_MODULES_TO_SAVE,
    LoraArguments,
    apply_lora,
    is_peft_model,
    load_lora_run,
    merge_lora,
    peft_free_name,
)
from unimse_hf.train import parse_config
from unimse_hf.trainer import UniMSETrainer, parameter_group

requires_peft = pytest.mark.skipif(importlib.util.find_spec("peft") is None, reason="peft is not installed")
TINY_LORA_CONFIG = Path(__file__).resolve().parents[1] / "training_args" / "tiny_lora.yaml"
#: adapter vs merged: the merged weight W + (alpha / r) B A is one float32 matmul where the adapter does two, so the
#: logits agree to rounding, not bit for bit
MERGED_ATOL = 1e-5
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def lora_model(processor, seed: int = 0, **lora):
    lora_args = LoraArguments(use_lora=True, **{"lora_r": 4, "lora_alpha": 8, **lora})
    return apply_lora(tiny_model(processor, seed), lora_args)


def perturb(model, seed: int = 1, scale: float = 0.2) -> None:
    """Move every trainable parameter away from its initial value (LoRA B starts at 0 and PMF starts as the
    identity, so an untrained adapter would change nothing and an adapter-vs-merged comparison would prove little)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)


def model_inputs(batch: int = 4, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Inputs without frames, with acoustic frames only, and with both (masks with padding and a sample that has
    no visual frames at all)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, 100, (batch, 9), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 6:] = 0
    input_ids[1, 6:] = 0
    acoustic = torch.randn(batch, 7, ACOUSTIC_DIM, generator=generator)
    acoustic_mask = torch.ones(batch, 7, dtype=torch.long)
    acoustic_mask[0, 4:] = 0
    visual = torch.randn(batch, 5, VISUAL_DIM, generator=generator)
    visual_mask = torch.ones(batch, 5, dtype=torch.long)
    visual_mask[2] = 0
    text = {"input_ids": input_ids, "attention_mask": attention_mask}
    return [
        text,
        {**text, "acoustic_features": acoustic, "acoustic_mask": acoustic_mask},
        {**text, "acoustic_features": acoustic, "acoustic_mask": acoustic_mask, "visual_features": visual,
         "visual_mask": visual_mask},
    ]  # fmt: skip


def logits(model, inputs, labels) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs, labels=labels).logits


def generate(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        return model.generate(**inputs, max_new_tokens=8, do_sample=False, num_beams=1)


def group_counts(model) -> dict[str, int]:
    counts = {"backbone": 0, "fusion": 0, "modality": 0}
    for name, parameter in model.named_parameters():
        counts[parameter_group(name)] += parameter.numel()
    return counts


# --- the trainable set ----------------------------------------------------------------------------------------------


@requires_peft
@pytest.mark.parametrize("fusion_in_decoder", [False, True])
def test_only_lora_matrices_and_the_unimse_modules_train_and_the_counts_say_so(tmp_path, processor, fusion_in_decoder):
    plain = tiny_model(processor)
    plain.config.fusion_in_decoder = fusion_in_decoder
    if fusion_in_decoder:  # rebuild with PMF after decoder block 1 too
        plain = UniMSEForConditionalGeneration(plain.config)
    plain_counts = group_counts(plain)
    model = apply_lora(plain, LoraArguments(use_lora=True, lora_r=4))
    args = training_args(tmp_path, trainable_backbone_blocks=["all"], backbone_learning_rate=5e-3,
                         fusion_learning_rate=2e-4, modality_learning_rate=3e-4)  # fmt: skip
    trainer = UniMSETrainer(model=model, args=args, train_dataset=synthetic_rows(8, 0, "train"),
                            processing_class=processor)  # fmt: skip
    assert is_peft_model(trainer.model)
    named = dict(trainer.model.named_parameters())
    trainable = {name for name, parameter in named.items() if parameter.requires_grad}
    lora = {name for name in named if ".lora_A." in name or ".lora_B." in name}
    copies = {name for name in named if ".modules_to_save.default." in name}
    assert trainable == lora | copies  # "all" did not unfreeze the base weights
    # q and v of the encoder's self-attention (2 blocks) and of the decoder's self- and cross-attention (2 blocks)
    modules = {name.split(".lora_")[0].removeprefix("base_model.model.") for name in lora}
    assert len(modules) == 2 * 2 + 2 * 4 and {module.rsplit(".", 1)[1] for module in modules} == {"q", "v"}
    wrapped = {name.split(".modules_to_save.")[0].removeprefix("base_model.model.") for name in copies}
    expected = {"encoder.block.1.fusion", "encoder.acoustic_encoder", "encoder.visual_encoder", "text_projection",
                "acoustic_projection", "visual_projection"}  # fmt: skip
    assert wrapped == expected | ({"decoder.block.1.fusion"} if fusion_in_decoder else set())

    counts = trainer.trainable_parameter_counts
    assert counts["backbone"] == sum(named[name].numel() for name in lora) == len(modules) * 2 * 4 * 32
    assert counts["fusion"] == plain_counts["fusion"] and counts["modality"] == plain_counts["modality"]
    assert sum(counts.values()) == sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)

    rates = {id(p): group["lr"] for group in trainer.create_optimizer().param_groups for p in group["params"]}
    assert {rates[id(named[name])] for name in lora} == {5e-3}
    assert rates[id(named["base_model.model.encoder.block.1.fusion.modules_to_save.default.up_project.weight"])] == 2e-4
    for name in ("base_model.model.encoder.acoustic_encoder.modules_to_save.default.lstm.weight_ih_l0",
                 "base_model.model.text_projection.modules_to_save.default.weight"):  # fmt: skip
        assert rates[id(named[name])] == 3e-4
    assert len(rates) == len(trainable)


def test_parameter_names_of_a_peft_model_map_to_their_base_names_and_groups():
    cases = {
        "base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.default.weight": (
            "encoder.block.0.layer.0.SelfAttention.q.weight", "backbone"),
        "base_model.model.decoder.block.1.layer.1.EncDecAttention.v.base_layer.weight": (
            "decoder.block.1.layer.1.EncDecAttention.v.weight", "backbone"),
        "base_model.model.encoder.block.1.fusion.modules_to_save.default.down_project.bias": (
            "encoder.block.1.fusion.down_project.bias", "fusion"),
        "base_model.model.encoder.block.1.fusion.original_module.out_project.weight": (
            "encoder.block.1.fusion.out_project.weight", "fusion"),
        "base_model.model.encoder.visual_encoder.modules_to_save.default.projection.weight": (
            "encoder.visual_encoder.projection.weight", "modality"),
        "base_model.model.acoustic_projection.modules_to_save.default.weight": (
            "acoustic_projection.weight", "modality"),
        "lm_head.weight": ("lm_head.weight", "backbone"),
    }  # fmt: skip
    for name, (base_name, group) in cases.items():
        assert (peft_free_name(name), parameter_group(name)) == (base_name, group), name


@requires_peft
def test_lora_arguments_are_checked_and_bad_targets_named(processor):
    for kwargs, message in [
        ({"lora_r": 0}, "lora_r must be an integer >= 1, got 0"),
        ({"lora_alpha": 2.5}, "lora_alpha must be an integer >= 1, got 2.5"),
        ({"lora_dropout": 1.0}, r"lora_dropout must be a number in \[0, 1\), got 1.0"),
        ({"lora_target_modules": []}, r"lora_target_modules must be a non-empty list of module names, got \[\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            LoraArguments(**kwargs)
    assert LoraArguments(lora_target_modules="o").lora_target_modules == ["o"]
    with pytest.raises(ValueError, match=r"lora_target_modules must name modules of the model .* got \['query'\]"):
        apply_lora(tiny_model(processor), LoraArguments(lora_target_modules=["q", "query"]))
    with pytest.raises(ValueError, match=r"outside the fully trained modules .* got \['down_project'\]"):
        apply_lora(tiny_model(processor), LoraArguments(lora_target_modules=["down_project"]))
    with pytest.raises(ValueError, match="already a PeftModel"):
        apply_lora(lora_model(processor), LoraArguments())


def test_lora_fields_parse_from_yaml_and_the_command_line(tmp_path):
    config = tmp_path / "lora.yaml"
    config.write_text("output_dir: out\ntokenizer_name: t5\nuse_lora: true\nlora_target_modules: [q, k, v]\n")
    *_, lora_args = parse_config(config, ["--lora_r", "4", "--lora_dropout", "0.1"])
    assert (lora_args.use_lora, lora_args.lora_r, lora_args.lora_alpha, lora_args.lora_dropout) == (True, 4, 16, 0.1)
    assert lora_args.lora_target_modules == ["q", "k", "v"]
    with pytest.raises(SystemExit, match="lora_r must be an integer >= 1, got -1"):
        parse_config(config, ["--lora_r", "-1"])


# --- training and the run folder ------------------------------------------------------------------------------------


@requires_peft
def test_a_tiny_lora_run_trains_evaluates_per_corpus_and_saves_an_adapter_folder(tmp_path, processor):
    out = tmp_path / "run"
    args = training_args(out, num_train_epochs=4, logging_steps=4, eval_strategy="epoch", save_strategy="epoch",
                         save_total_limit=1, load_best_model_at_end=True, metric_for_best_model="eval_loss",
                         greater_is_better=False)  # fmt: skip
    trainer = UniMSETrainer(model=lora_model(processor), args=args, train_dataset=synthetic_rows(64, 0, "train"),
                            eval_dataset=synthetic_rows(16, 1, "validation"), processing_class=processor)  # fmt: skip
    frozen = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if not p.requires_grad}
    trainer.train()
    logs = [log for log in trainer.state.log_history if "ce_loss" in log]
    assert len(logs) == 4
    for key in ("loss", "ce_loss", "contrastive_acoustic_loss", "contrastive_visual_loss"):
        assert logs[-1][key] < logs[0][key], [log[key] for log in logs]
    for name, before in frozen.items():  # the base weights did not move
        assert torch.equal(dict(trainer.model.named_parameters())[name], before), name
    metrics = trainer.evaluate()  # generates with the acoustic/visual frames, scores per corpus
    assert metrics["eval_meld_num_samples"] == 16 and "eval_meld_weighted_f1" in metrics and "eval_dev_score" in metrics
    best = min(log["eval_loss"] for log in trainer.state.log_history if "eval_loss" in log)
    assert metrics["eval_loss"] == pytest.approx(best)  # the best adapter was reloaded at the end
    trainer.save_model()

    for name in (*ADAPTER_FILES, "processor_config.json", "tokenizer.json", "README.md", "base_model/config.json",
                 "base_model/model.safetensors", "base_model/generation_config.json"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not (out / "model.safetensors").exists()
    base_config = json.loads((out / "base_model/config.json").read_text())
    base_config.pop("custom_pipelines")  # base_model/ is a full save_pretrained folder; the top one a config only
    assert json.loads((out / "config.json").read_text()) == base_config
    checkpoint = next(out.glob("checkpoint-*"))
    assert all((checkpoint / name).is_file() for name in (*ADAPTER_FILES, "base_model/config.json"))
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 4 and adapter["lora_alpha"] == 8
    assert sorted(adapter["target_modules"]) == ["q", "v"] and adapter["modules_to_save"] == list(LORA_MODULES_TO_SAVE)

    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert {"lora", "peft"} <= set(header["tags"])
    assert "- **Adapter:** this folder holds a LoRA adapter (peft) for the base model, not the full model: r 4, " \
           "alpha 8, dropout 0.05 on `q`, `v`;" in card  # fmt: skip
    assert "base model's weights (random, built from a configuration) are in `base_model/`" in card
    lora_count = trainer.trainable_parameter_counts["backbone"]
    assert f"rank-4 matrices on `q`, `v`\n({lora_count:,} parameters, the `backbone` row below" in card
    base_count = sum(p.numel() for p in tiny_model(processor).parameters())
    assert f"- **Parameters:** {base_count:,}\n" in card  # the base model's, without the adapter's copies

    loaded = load_lora_run(out)  # base_model/ weights + the adapter
    assert not loaded.training and is_peft_model(loaded)
    trainer.model.eval()
    for inputs in model_inputs():
        labels = torch.randint(3, 100, (4, 5))
        torch.testing.assert_close(logits(loaded, inputs, labels), logits(trainer.model, inputs, labels), rtol=0,
                                   atol=0)  # fmt: skip


@requires_peft
def test_the_card_snippet_of_a_lora_folder_runs(lora_run):
    card = (lora_run.run_dir / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", card, re.DOTALL).group(1)
    assert "load_lora_run(" in snippet
    snippet = snippet.replace("path/to/this-model", str(lora_run.run_dir))
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    polarity, score, meld_emotion, iemocap_emotion = result.stdout.split()
    float(score)


# --- adapter vs merged ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, processor):
    """A perturbed LoRA model saved by UniMSETrainer (the run folder) and merged by `unimse-hf merge-lora`."""
    root = tmp_path_factory.mktemp("lora")
    model = lora_model(processor, lora_dropout=0.0)
    perturb(model)
    model.eval()
    trainer = UniMSETrainer(model=model, args=training_args(root / "run"), train_dataset=synthetic_rows(8, 0, "train"),
                            processing_class=processor)  # fmt: skip
    trainer.save_model()
    assert main(["merge-lora", str(root / "run"), str(root / "merged")]) == 0
    return SimpleNamespace(model=model, run_dir=root / "run", merged_dir=root / "merged")


@requires_peft
def test_a_reloaded_lora_run_trains_on_and_saves_a_folder_that_loads_again(lora_run, tmp_path, processor):
    model = load_lora_run(lora_run.run_dir, is_trainable=True)
    args = training_args(tmp_path, num_train_epochs=1, per_device_train_batch_size=8)
    trainer = UniMSETrainer(model=model, args=args, train_dataset=synthetic_rows(16, 0, "train"),
                            processing_class=processor)  # fmt: skip
    original = UniMSETrainer(model=lora_model(processor), args=args, processing_class=processor)
    assert trainer.trainable_parameter_counts == original.trainable_parameter_counts
    trainer.train()
    trainer.save_model()
    assert (tmp_path / "base_model" / "model.safetensors").is_file()  # still a from-scratch base: weights kept
    reloaded = load_lora_run(tmp_path)
    trainer.model.eval()
    labels = torch.randint(3, 100, (4, 5))
    for inputs in model_inputs():
        torch.testing.assert_close(logits(reloaded, inputs, labels), logits(trainer.model, inputs, labels), rtol=0,
                                   atol=0)  # fmt: skip


@requires_peft
def test_adapter_and_merged_model_give_the_same_logits_and_generations(lora_run):
    merged = AutoModelForSeq2SeqLM.from_pretrained(lora_run.merged_dir)
    assert type(merged) is UniMSEForConditionalGeneration and not is_peft_model(merged)
    labels = torch.randint(3, 100, (4, 5), generator=torch.Generator().manual_seed(3))
    outputs = {}
    for index, inputs in enumerate(model_inputs()):
        adapter_logits = logits(lora_run.model, inputs, labels)
        torch.testing.assert_close(logits(merged, inputs, labels), adapter_logits, rtol=0, atol=MERGED_ATOL)
        generated = generate(lora_run.model, inputs)
        assert torch.equal(generate(merged, inputs), generated), index
        outputs[index] = (adapter_logits, generated)
    # the frames matter (so equal outputs with frames test the merged modality encoders and fusion too)
    assert not torch.allclose(outputs[0][0], outputs[1][0]) and not torch.allclose(outputs[1][0], outputs[2][0])
    # and the adapter matters: the base model alone gives other logits
    with lora_run.model.disable_adapter():
        assert not torch.allclose(logits(lora_run.model, model_inputs()[2], labels), outputs[2][0], atol=1e-3)


@requires_peft
def test_the_pipeline_loads_a_lora_run_folder_as_its_base_with_the_adapter_merged(lora_run):
    classifier = pipeline("multimodal-sentiment", model=str(lora_run.run_dir))
    assert type(classifier.model) is UniMSEForConditionalGeneration and not is_peft_model(classifier.model)
    processor = classifier.processor
    acoustic = torch.randn(4, ACOUSTIC_DIM, generator=torch.Generator().manual_seed(0)).numpy()
    for text, frames in (("I love it", None), ("so sad", acoustic)):
        with torch.no_grad():
            expected = generate(lora_run.model, processor(text, acoustic=frames))
        out = classifier({"text": text, "acoustic": frames}, max_new_tokens=8, do_sample=False, num_beams=1)
        assert out["generated"] == processor.decode(expected[0])


@requires_peft
def test_merge_lora_writes_a_plain_folder_that_auto_classes_load(lora_run):
    names = {path.name for path in lora_run.merged_dir.iterdir()}
    assert {"config.json", "model.safetensors", "modeling_unimse.py", "configuration_unimse.py",
            "generation_config.json", "processor_config.json", "tokenizer.json"} <= names  # fmt: skip
    assert not names & set(ADAPTER_FILES)
    config = json.loads((lora_run.merged_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_unimse.UniMSEForConditionalGeneration"
    merged = AutoModelForSeq2SeqLM.from_pretrained(lora_run.merged_dir, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(lora_run.merged_dir)
    assert type(processor).__name__ == "UniMSEProcessor"
    assert not any("lora" in name or "modules_to_save" in name for name, _ in merged.named_parameters())
    inputs = processor(["I love it", "so sad"], acoustic=[torch.randn(3, ACOUSTIC_DIM).numpy()] * 2)
    expected = logits(lora_run.model, inputs, inputs["input_ids"])
    torch.testing.assert_close(logits(merged, inputs, inputs["input_ids"]), expected, rtol=0, atol=MERGED_ATOL)


def test_merge_lora_errors_name_the_folder(tmp_path, capsys):
    with pytest.raises(SystemExit, match=r"merge-lora: RUN_DIR must be a LoRA run folder, got '.*nowhere'"):
        main(["merge-lora", str(tmp_path / "nowhere"), str(tmp_path / "out")])
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text("{}")
    with pytest.raises(SystemExit, match=r"run_dir must be a LoRA run folder holding adapter_config.json .* "
                                         r"\['config.json'\]"):  # fmt: skip
        main(["merge-lora", str(tmp_path / "plain"), str(tmp_path / "out")])


@requires_peft
def test_load_lora_run_rebuilds_a_warm_started_base_from_its_checkpoint(tmp_path, processor):
    """A base warm-started from a T5 checkpoint is not saved with the adapter: base_model/ holds its UniMSE config
    (modality sizes, fusion blocks) and the T5 weights are read again from the checkpoint."""
    t5_dir = tmp_path / "t5"
    torch.manual_seed(0)
    T5ForConditionalGeneration(T5Config(**{**TINY_T5, "vocab_size": len(processor.tokenizer)})).save_pretrained(t5_dir)
    base = UniMSEForConditionalGeneration.from_pretrained(
        t5_dir, acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM, modality_hidden_size=8, fusion_layers=[2],
        modality_dropout=0.0,
    )  # fmt: skip
    model = apply_lora(base, LoraArguments(lora_r=2, lora_alpha=4, lora_dropout=0.0, lora_target_modules=["q", "o"]))
    perturb(model)
    model.eval()
    trainer = UniMSETrainer(model=model, args=training_args(tmp_path / "run"), processing_class=processor)
    trainer.save_model()
    assert sorted(path.name for path in (tmp_path / "run" / "base_model").iterdir()) == [
        "config.json", "configuration_unimse.py", "generation_config.json"]  # fmt: skip
    assert json.loads((tmp_path / "run" / "adapter_config.json").read_text())["base_model_name_or_path"] == str(t5_dir)
    card = (tmp_path / "run" / "README.md").read_text()
    assert f"- **Base model:** `{t5_dir}`" in card and "are in `base_model/`" not in card

    loaded = load_lora_run(tmp_path / "run")
    assert loaded.config.acoustic_dim == ACOUSTIC_DIM and loaded.config.fusion_layers == [2]
    for inputs in model_inputs():
        labels = torch.randint(3, 100, (4, 5))
        torch.testing.assert_close(logits(loaded, inputs, labels), logits(model, inputs, labels), rtol=0, atol=0)
    merged = merge_lora(tmp_path / "run", tmp_path / "merged")
    torch.testing.assert_close(logits(merged, inputs, labels), logits(model, inputs, labels), rtol=0, atol=MERGED_ATOL)


# --- the config and the command line ------------------------------------------------------------------------------


@requires_peft
def test_tiny_lora_config_trains_evaluates_and_merges_through_the_command_line(source, tmp_path, capsys):
    data = tmp_path / "unified"
    assert main(["build-dataset", "meld", "--source", str(source / "meld"), "--out", str(data), "--no-progress"]) == 0
    out = tmp_path / "out"
    assert main(["train", str(TINY_LORA_CONFIG), "--dataset_name", str(data), "--dataset_config_name", "meld",
                 "--output_dir", str(out)]) == 0  # fmt: skip
    assert "eval meld" in capsys.readouterr().out
    for name in (*ADAPTER_FILES, "base_model/model.safetensors", "processor_config.json", "README.md",
                 "all_results.json"):  # fmt: skip
        assert (out / name).is_file(), name
    results = json.loads((out / "all_results.json").read_text())
    assert results["test_meld_num_samples"] == len(MELD_ROWS["test"])
    card = (out / "README.md").read_text()
    assert "split: test_meld" in card and "LoRA adapter" in card

    cmd = ["evaluate", "--model", str(out), "--dataset_name", str(data), "--dataset_config_name", "meld",
           "--split", "test", "--output_dir", str(tmp_path / "evaluated")]  # fmt: skip
    assert main(cmd) == 0  # a LoRA run folder evaluates as is (base + adapter)
    scored = json.loads((tmp_path / "evaluated" / "test_results.json").read_text())
    assert scored["test_meld_accuracy"] == pytest.approx(results["test_meld_accuracy"])

    assert main(["merge-lora", str(out), str(tmp_path / "merged")]) == 0
    assert "merged the LoRA adapter" in capsys.readouterr().out
    cmd = [*cmd[:2], str(tmp_path / "merged"), *cmd[3:-1], str(tmp_path / "evaluated_merged")]
    assert main(cmd) == 0  # the merged folder scores the same
    merged = json.loads((tmp_path / "evaluated_merged" / "test_results.json").read_text())
    assert merged["test_meld_accuracy"] == pytest.approx(results["test_meld_accuracy"])
    assert merged["test_meld_malformed"] == results["test_meld_malformed"]


# --- without peft -----------------------------------------------------------------------------------------------


def test_without_peft_the_module_imports_and_lora_fails_with_an_install_hint(tmp_path, processor, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now raises ImportError
    hint = re.escape('pip install "unimse-hf[peft]"')
    with pytest.raises(ImportError, match=f"LoRA needs the peft package.*{hint}"):
        apply_lora(tiny_model(processor), LoraArguments(use_lora=True))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "adapter_config.json").write_text("{}")
    with pytest.raises(ImportError, match=hint):
        load_lora_run(tmp_path / "run")
    with pytest.raises(SystemExit, match=f"merge-lora: LoRA needs the peft package.*{hint}"):
        main(["merge-lora", str(tmp_path / "run"), str(tmp_path / "out")])
    assert not is_peft_model(tiny_model(processor))
    # a plain model still trains without peft
    trainer = UniMSETrainer(model=tiny_model(processor), args=training_args(tmp_path / "plain"),
                            train_dataset=synthetic_rows(8, 0, "train"), processing_class=processor)  # fmt: skip
    assert trainer.trainable_parameter_counts["backbone"] > 0
    # and a fresh interpreter without peft imports the LoRA module, the training module and the command line
    code = ("import sys; sys.modules['peft'] = None; import unimse_hf.lora, unimse_hf.train, unimse_hf.cli; "
            "print(unimse_hf.lora.LoraArguments().lora_target_modules)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "['q', 'v']", result.stderr
