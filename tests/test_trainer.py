"""UniMSETrainer: learning through the trainer, the contrastive terms, parameter groups, checks before training."""

import math

import datasets
import numpy as np
import pytest
import torch
from conftest import TOKENIZER_DIR
from transformers import AutoTokenizer, GenerationConfig, Seq2SeqTrainer, Seq2SeqTrainingArguments

from unimse_hf import (
    UniMSEConfig,
    UniMSEDataCollator,
    UniMSEFeatureExtractor,
    UniMSEForConditionalGeneration,
    UniMSEProcessor,
)
from unimse_hf.labels import format_universal_label
from unimse_hf.trainer import UniMSETrainer, compute_dev_score, parameter_group
from unimse_hf.training_args import UniMSETrainingArguments

ACOUSTIC_DIM, VISUAL_DIM = 6, 5


def synthetic_rows(n: int, seed: int, split: str, with_av: bool = True) -> datasets.Dataset:
    """MELD-like rows whose class (joy / sadness) is carried by the acoustic and visual frames only: every row has
    the same text, class 1 frames are drawn around +1, class 0 frames around -1."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 1
        emotion, polarity, sign = ("joy", "positive", 1.0) if positive else ("sadness", "negative", -1.0)
        row = {
            "id": f"{split}-{i}", "corpus": "meld", "split": split, "text": "so what do you think", "speaker": "",
            "context_before": [], "speakers_before": [], "context_after": [], "speakers_after": [],
            "score": None, "polarity": polarity, "meld_emotion": emotion, "iemocap_emotion": None,
            "score_origin": "missing", "polarity_origin": "gold", "meld_emotion_origin": "gold",
            "iemocap_emotion_origin": "missing",
            "universal_label": format_universal_label(polarity, 0.0, emotion, "neutral"),
        }  # fmt: skip
        if with_av:
            row["acoustic"] = (rng.normal(size=(4 + i % 3, ACOUSTIC_DIM)) * 0.5 + sign).astype(np.float32).tolist()
            row["visual"] = (rng.normal(size=(3, VISUAL_DIM)) * 0.5 + sign).astype(np.float32).tolist()
        rows.append(row)
    return datasets.Dataset.from_list(rows)


@pytest.fixture(scope="module")
def processor():
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    return UniMSEProcessor(tokenizer, UniMSEFeatureExtractor(acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM))


def tiny_model(processor, seed: int = 0) -> UniMSEForConditionalGeneration:
    torch.manual_seed(seed)
    config = UniMSEConfig(
        vocab_size=len(processor.tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
        num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0,
        eos_token_id=1, acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM, modality_hidden_size=16,
        fusion_bottleneck=16, contrastive_dim=8, modality_dropout=0.0, fusion_layers=[1],
    )  # fmt: skip
    model = UniMSEForConditionalGeneration(config)
    model.generation_config = GenerationConfig(decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    return model


def training_args(tmp_path, **overrides) -> UniMSETrainingArguments:
    values = dict(
        output_dir=str(tmp_path), per_device_train_batch_size=16, per_device_eval_batch_size=64, num_train_epochs=8,
        backbone_learning_rate=1e-2, fusion_learning_rate=1e-2, modality_learning_rate=1e-2,
        trainable_backbone_blocks=["all"], logging_steps=8, eval_strategy="no", save_strategy="no",
        report_to="none", use_cpu=True, disable_tqdm=True, seed=0, generation_max_length=16,
    )  # fmt: skip
    values.update(overrides)
    return UniMSETrainingArguments(**values)


def test_fused_model_learns_a_class_carried_by_audio_and_video_while_text_only_stays_at_chance(tmp_path, processor):
    accuracy = {}
    for with_av in (True, False):
        train = synthetic_rows(128, 0, "train", with_av)
        dev = synthetic_rows(64, 1, "validation", with_av)
        trainer = UniMSETrainer(
            model=tiny_model(processor), args=training_args(tmp_path / str(with_av)), train_dataset=train,
            eval_dataset=dev, processing_class=processor,
        )  # fmt: skip
        trainer.train()
        metrics = trainer.evaluate()
        assert metrics["eval_malformed"] == 0 and metrics["eval_meld_num_samples"] == 64
        assert metrics["eval_dev_score"] == pytest.approx(metrics["eval_meld_weighted_f1"])
        accuracy[with_av] = metrics["eval_meld_accuracy"]
    assert accuracy[True] >= 0.9, accuracy
    assert abs(accuracy[False] - 0.5) <= 0.1, accuracy  # the text is the same for both classes


def test_contrastive_terms_are_logged_fall_and_reach_the_modality_encoders(tmp_path, processor):
    trainer = UniMSETrainer(
        model=tiny_model(processor), args=training_args(tmp_path, num_train_epochs=4, logging_steps=4),
        train_dataset=synthetic_rows(64, 0, "train"), processing_class=processor,
    )  # fmt: skip
    trainer.train()
    logs = [log for log in trainer.state.log_history if "ce_loss" in log]
    assert len(logs) == 4
    for log in logs:  # the total is CE + 0.5 * each InfoNCE, each averaged over the same steps
        expected = log["ce_loss"] + 0.5 * (log["contrastive_acoustic_loss"] + log["contrastive_visual_loss"])
        assert log["loss"] == pytest.approx(expected, rel=1e-4)
    for key in ("contrastive_acoustic_loss", "contrastive_visual_loss"):
        assert logs[-1][key] < logs[0][key] - 0.1, [log[key] for log in logs]

    model = trainer.model
    model.zero_grad()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(8)])
    batch.pop("corpus_id"), batch.pop("gold_score"), batch.pop("gold_meld_emotion"), batch.pop("gold_iemocap_emotion")
    outputs = model(**batch)
    terms = list(trainer._contrastive_terms(outputs, {}))
    assert [name for name, _, _ in terms] == ["contrastive_acoustic_loss", "contrastive_visual_loss"]
    sum(weight * value for _, weight, value in terms).backward()
    for prefix in ("encoder.acoustic_encoder.", "encoder.visual_encoder.", "acoustic_projection", "visual_projection",
                   "text_projection"):  # fmt: skip
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(prefix)]
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads), prefix


def test_zero_contrastive_weights_equal_a_plain_seq2seq_trainer(tmp_path, processor):
    train = synthetic_rows(32, 0, "train")
    common = dict(
        per_device_train_batch_size=8,
        num_train_epochs=2,
        learning_rate=1e-3,
        weight_decay=0.01,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        save_strategy="no",
        logging_steps=100,
    )
    ours = UniMSETrainer(
        model=tiny_model(processor),
        args=UniMSETrainingArguments(
            output_dir=str(tmp_path / "ours"), contrastive_acoustic_weight=0.0, contrastive_visual_weight=0.0,
            trainable_backbone_blocks=["all"], backbone_learning_rate=1e-3, fusion_learning_rate=1e-3,
            modality_learning_rate=1e-3, **common,
        ),
        train_dataset=train, processing_class=processor,
    )  # fmt: skip
    ours.train()
    plain = Seq2SeqTrainer(
        model=tiny_model(processor),
        args=Seq2SeqTrainingArguments(output_dir=str(tmp_path / "plain"), remove_unused_columns=False, **common),
        train_dataset=train, data_collator=UniMSEDataCollator(processor),
    )  # fmt: skip
    plain.train()
    for (name, a), (_, b) in zip(ours.model.named_parameters(), plain.model.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(ours.model.lm_head.weight, tiny_model(processor).lm_head.weight)  # it did train


def test_paper_setting_trains_the_last_two_blocks_and_gives_each_group_its_learning_rate(tmp_path, processor):
    model = tiny_model(processor)
    model.config.num_layers = model.config.num_decoder_layers = 2
    trainer = UniMSETrainer(model=model, args=training_args(tmp_path, trainable_backbone_blocks=["-1"]),
                            train_dataset=synthetic_rows(8, 0, "train"), processing_class=processor)  # fmt: skip
    trainable = {name for name, p in trainer.model.named_parameters() if p.requires_grad}
    assert "encoder.block.1.layer.0.SelfAttention.q.weight" in trainable
    assert "decoder.block.1.layer.1.EncDecAttention.k.weight" in trainable
    assert not trainable & {"shared.weight", "encoder.block.0.layer.0.SelfAttention.q.weight", "lm_head.weight"}
    assert {n for n, p in trainer.model.named_parameters() if parameter_group(n) != "backbone"} <= trainable
    optimizer = trainer.create_optimizer()
    rates = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(trainer.model.named_parameters())
    assert rates[id(named["encoder.block.1.fusion.down_project.weight"])] == 1e-2
    args = training_args(tmp_path, backbone_learning_rate=3e-4, fusion_learning_rate=1e-4, modality_learning_rate=2e-4)
    trainer = UniMSETrainer(model=tiny_model(processor), args=args, train_dataset=synthetic_rows(8, 0, "train"),
                            processing_class=processor)  # fmt: skip
    rates = {id(p): group["lr"] for group in trainer.create_optimizer().param_groups for p in group["params"]}
    named = dict(trainer.model.named_parameters())
    assert rates[id(named["encoder.block.0.layer.0.SelfAttention.q.weight"])] == 3e-4
    assert rates[id(named["encoder.block.1.fusion.up_project.weight"])] == 1e-4
    assert rates[id(named["encoder.acoustic_encoder.projection.weight"])] == 2e-4
    assert rates[id(named["text_projection.weight"])] == 2e-4


def test_paper_blocks_are_the_last_two_of_each_stack(tmp_path, processor):
    model = tiny_model(processor)
    trainer = UniMSETrainer(model=model, args=training_args(tmp_path), train_dataset=synthetic_rows(8, 0, "train"),
                            processing_class=processor)  # fmt: skip
    trainer.args.trainable_backbone_blocks = ["paper"]
    counts = trainer.select_trainable_parameters()
    backbone = {n for n, p in trainer.model.named_parameters() if p.requires_grad and parameter_group(n) == "backbone"}
    assert {n.split(".")[0] + "." + n.split(".")[2] for n in backbone} == {"encoder.0", "encoder.1", "decoder.0",
                                                                          "decoder.1"}  # fmt: skip
    assert counts["backbone"] == sum(p.numel() for n, p in trainer.model.named_parameters() if n in backbone)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ds: ds.remove_columns("text"), r"train_dataset lacks the columns \['text'\]"),
        (lambda ds: ds.select([]), "train_dataset is empty"),
        (lambda ds: ds.map(lambda r: {"corpus": "cmumosi"}), r"unknown corpora \['cmumosi'\]"),
        (lambda ds: ds.map(lambda r: {"universal_label": None}), "has no universal_label in any row"),
        (lambda ds: ds.cast_column("acoustic", datasets.Array2D((None, 7), "float32")).map(
            lambda r: {"acoustic": np.zeros((2, 7), np.float32)}), "acoustic frames of 7 features.*acoustic_dim is 6"),
    ],
)  # fmt: skip
def test_bad_training_data_fails_before_the_first_step(tmp_path, processor, change, message):
    train = synthetic_rows(8, 0, "train")
    train = train.cast_column("acoustic", datasets.Array2D((None, ACOUSTIC_DIM), "float32"))
    with pytest.raises(ValueError, match=message):
        UniMSETrainer(model=tiny_model(processor), args=training_args(tmp_path), train_dataset=change(train),
                      processing_class=processor)  # fmt: skip


def test_a_training_batch_without_targets_fails_with_a_clear_error(tmp_path, processor):
    trainer = UniMSETrainer(
        model=tiny_model(processor), args=training_args(tmp_path), train_dataset=synthetic_rows(8, 0, "train"),
        data_collator=UniMSEDataCollator(processor, target_column=None), processing_class=processor,
    )  # fmt: skip
    with pytest.raises(ValueError, match="a training batch has no labels"):
        trainer.train()


def test_arguments_are_checked_at_construction(tmp_path):
    with pytest.raises(ValueError, match="contrastive_visual_weight must be a finite number >= 0"):
        UniMSETrainingArguments(output_dir=str(tmp_path), contrastive_visual_weight=-0.5)
    with pytest.raises(ValueError, match="sample_contrastive_field must be one of"):
        UniMSETrainingArguments(output_dir=str(tmp_path), sample_contrastive_field="score")
    with pytest.raises(ValueError, match="trainable_backbone_blocks"):
        UniMSETrainingArguments(output_dir=str(tmp_path), trainable_backbone_blocks=["last"])
    with pytest.raises(ValueError, match="remove_unused_columns must be False"):
        UniMSETrainingArguments(output_dir=str(tmp_path), remove_unused_columns=True)
    with pytest.raises(TypeError, match="args must be UniMSETrainingArguments"):
        UniMSETrainer(args=Seq2SeqTrainingArguments(output_dir=str(tmp_path)))


def test_sample_contrastive_loss_uses_the_target_field(tmp_path, processor):
    args = training_args(tmp_path, num_train_epochs=1, sample_contrastive_weight=0.3, logging_steps=1,
                         sample_contrastive_field="meld_emotion")  # fmt: skip
    trainer = UniMSETrainer(model=tiny_model(processor), args=args, train_dataset=synthetic_rows(32, 0, "train"),
                            processing_class=processor)  # fmt: skip
    trainer.train()
    values = [log["sample_contrastive_loss"] for log in trainer.state.log_history if "sample_contrastive_loss" in log]
    assert len(values) == 2 and all(v > 0 for v in values)


def test_dev_score_is_the_mean_of_one_headline_metric_per_corpus():
    metrics = {"mosi_num_samples": 3, "mosi_acc2_non0": 0.8, "meld_num_samples": 5, "meld_weighted_f1": 0.4}
    assert compute_dev_score(metrics) == pytest.approx(0.6)
    assert compute_dev_score({"meld_num_samples": 5, "meld_weighted_f1": math.nan, "iemocap_num_samples": 1,
                              "iemocap_weighted_f1": 0.5}) == pytest.approx(0.25)  # fmt: skip
    assert compute_dev_score({"num_samples": 0}) is None


def test_any_collator_of_model_inputs_works_and_references_come_from_the_eval_dataset(tmp_path, processor):
    dev = synthetic_rows(8, 1, "validation")
    trainer = UniMSETrainer(
        model=tiny_model(processor), args=training_args(tmp_path), eval_dataset=dev,
        data_collator=UniMSEDataCollator(processor), processing_class=processor,
    )  # fmt: skip
    metrics = trainer.evaluate()
    assert metrics["eval_meld_num_samples"] == 8 and "eval_meld_weighted_f1" in metrics and "eval_dev_score" in metrics
