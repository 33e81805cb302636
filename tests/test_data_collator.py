"""UniMSEDataCollator, and a real Seq2SeqTrainer(predict_with_generate=True).evaluate() through it."""

import math

import datasets
import numpy as np
import pytest
import torch
from conftest import TOKENIZER_DIR, tiny_unimse_config
from transformers import AutoTokenizer, GenerationConfig, Seq2SeqTrainer, Seq2SeqTrainingArguments

from unimse_hf import UniMSEDataCollator, UniMSEForConditionalGeneration, UniMSEProcessor
from unimse_hf.data_collator import pop_metadata
from unimse_hf.feature_extraction_unimse import UniMSEFeatureExtractor
from unimse_hf.labels import CORPORA, IEMOCAP_EMOTIONS, MELD_EMOTIONS, REFERENCE_KEYS, format_universal_label
from unimse_hf.metrics import UniMSEComputeMetrics

ACOUSTIC_DIM, VISUAL_DIM = 6, 5


def make_row(i: int, corpus: str, with_av: bool = True) -> dict:
    """A unified-schema row: gold on the corpus's own fields, pseudo elsewhere (docs/method.md#universal-labels)."""
    rng = np.random.default_rng(i)
    score = float(np.round(rng.uniform(-3, 3), 1)) if i % 5 else 0.0
    polarity = "positive" if score > 0 else "negative" if score < 0 else "neutral"
    meld, iemocap = MELD_EMOTIONS[i % 7], IEMOCAP_EMOTIONS[i % 6]
    msa, erc_context = corpus in ("mosi", "mosei"), ["before one", "before two"] if corpus != "mosi" else []
    return {
        "id": f"{corpus}-{i}",
        "corpus": corpus,
        "split": "test",
        "text": f"utterance number {i}",
        "speaker": "Joey" if corpus == "meld" else "",
        "context_before": erc_context,
        "speakers_before": ["Ross", "Joey"] if corpus == "meld" else ["", ""][: len(erc_context)],
        "context_after": ["after"] if corpus in ("meld", "iemocap") else [],
        "speakers_after": ["Ross"] if corpus == "meld" else [""] if corpus == "iemocap" else [],
        "score": score,
        "polarity": polarity,
        "meld_emotion": meld,
        "iemocap_emotion": iemocap,
        "score_origin": "gold" if msa else "pseudo",
        "polarity_origin": "gold",
        "meld_emotion_origin": "gold" if corpus == "meld" else "pseudo",
        "iemocap_emotion_origin": "gold" if corpus == "iemocap" else "pseudo",
        "universal_label": format_universal_label(polarity, score, meld, iemocap),
        "acoustic": rng.normal(size=(2 + i % 4, ACOUSTIC_DIM)).astype(np.float32).tolist() if with_av else None,
        "visual": rng.normal(size=(1 + i % 3, VISUAL_DIM)).astype(np.float32).tolist() if with_av and i % 2 else None,
        "acoustic_feature_set": "synthetic",
        "visual_feature_set": "synthetic",
    }


@pytest.fixture(scope="module")
def processor():
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    return UniMSEProcessor(tokenizer, UniMSEFeatureExtractor(acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM))


def test_collator_pads_text_labels_and_frames(processor):
    rows = [make_row(1, "mosi"), make_row(2, "meld"), make_row(3, "iemocap", with_av=False)]
    batch = UniMSEDataCollator(processor)(rows)
    assert set(batch) == {"input_ids", "attention_mask", "labels", "acoustic_features", "acoustic_mask",
                          "visual_features", "visual_mask"}  # fmt: skip
    assert batch["input_ids"].shape[0] == 3 and batch["input_ids"].dtype == torch.long
    assert batch["labels"][batch["labels"] != -100].min() >= 0
    assert processor.batch_decode(batch["labels"]) == [row["universal_label"] for row in rows]
    assert batch["acoustic_features"].shape == (3, 4, ACOUSTIC_DIM)  # 3 and 4 frames, the third row has none
    assert batch["acoustic_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]]
    assert torch.allclose(batch["acoustic_features"][0, :3], torch.tensor(rows[0]["acoustic"]))
    assert batch["visual_mask"].tolist() == [[1, 1], [0, 0], [0, 0]]  # rows 2 and 3 have no video
    # the processor's text rules apply: MELD row gets its speaker-named ±2 window
    meld_text = processor.tokenizer.decode(batch["input_ids"][1], skip_special_tokens=True)
    assert meld_text.startswith("sst2 sentence: Ross before one Joey before two") and "Joey utterance" in meld_text


def test_text_only_batch_has_no_modality_keys(processor):
    rows = [make_row(1, "mosi", with_av=False), make_row(2, "mosei", with_av=False)]
    assert set(UniMSEDataCollator(processor)(rows)) == {"input_ids", "attention_mask", "labels"}


def test_metadata_carries_corpus_and_gold_fields(processor):
    rows = [make_row(5, "mosi"), make_row(2, "meld"), make_row(3, "iemocap"), make_row(4, "mosei")]
    batch = UniMSEDataCollator(processor, return_metadata=True)(rows)
    assert batch["corpus_id"].tolist() == [CORPORA.index(c) for c in ("mosi", "meld", "iemocap", "mosei")]
    assert batch["gold_score"].dtype == torch.float32
    assert batch["gold_score"][0] == 0.0 and math.isnan(batch["gold_score"][1]) and math.isnan(batch["gold_score"][2])
    assert batch["gold_score"][3].item() == pytest.approx(rows[3]["score"])
    assert batch["gold_meld_emotion"].tolist() == [-1, MELD_EMOTIONS.index(rows[1]["meld_emotion"]), -1, -1]
    assert batch["gold_iemocap_emotion"].tolist() == [-1, -1, IEMOCAP_EMOTIONS.index(rows[2]["iemocap_emotion"]), -1]
    metadata = pop_metadata(batch)
    assert list(metadata) == list(REFERENCE_KEYS) and not set(REFERENCE_KEYS) & set(batch)


def test_rows_without_target_get_ignored_labels(processor):
    rows = [make_row(1, "mosi"), make_row(2, "meld")]
    for row in rows:
        row["universal_label"] = None
    assert "labels" not in UniMSEDataCollator(processor)(rows)
    assert "labels" not in UniMSEDataCollator(processor, target_column=None)([make_row(1, "mosi")])
    rows[0]["universal_label"] = "positive,1.0,joy,joy"
    labels = UniMSEDataCollator(processor)(rows)["labels"]
    assert (labels[1] == -100).all()
    assert labels[0].tolist()[: (labels[0] != -100).sum()] == processor.tokenizer("positive,1.0,joy,joy").input_ids
    with pytest.raises(ValueError, match="empty batch"):
        UniMSEDataCollator(processor)([])


def test_bad_rows_raise_naming_the_argument(processor):
    row = make_row(1, "mosi")
    row["acoustic"] = np.ones((3, ACOUSTIC_DIM + 1)).tolist()
    with pytest.raises(ValueError, match=r"acoustic\[1\] has 7 features per frame, acoustic_dim is 6"):
        UniMSEDataCollator(processor)([make_row(2, "mosi"), row])
    row = make_row(1, "mosi")
    row["text"] = None
    with pytest.raises(TypeError, match=r"text\[0\] must be a str, got NoneType"):
        UniMSEDataCollator(processor)([row])


def test_speaker_names_only_for_meld_rows_by_default(processor):
    """IEMOCAP rows carry actor ids as ``speaker``; the paper writes speaker names for MELD only (docs/method.md)."""
    row = {"text": "now", "speaker": "Ses01_F", "context_before": ["before"], "speakers_before": [""],
           "context_after": ["after"], "speakers_after": ["Ses01_M"]}  # fmt: skip
    rows = [row | {"corpus": "iemocap"}, row | {"corpus": "meld"}]
    decode = processor.tokenizer.batch_decode
    texts = decode(UniMSEDataCollator(processor)(rows)["input_ids"], skip_special_tokens=True)
    assert texts[0] == "sst2 sentence: before now after"  # the </s> fences are special tokens
    assert texts[1] == "sst2 sentence: before Ses01_F now Ses01_M after"
    everyone = UniMSEDataCollator(processor, speaker_corpora=None)(rows)["input_ids"]
    assert decode(everyone, skip_special_tokens=True) == [texts[1], texts[1]]
    with pytest.raises(ValueError, match=r"speaker_corpora must name corpora of .* got \['friends'\]"):
        UniMSEDataCollator(processor, speaker_corpora=["meld", "friends"])
    with pytest.raises(TypeError, match="speaker_corpora must be a list of corpus names or None, got str"):
        UniMSEDataCollator(processor, speaker_corpora="meld")


def test_unified_schema_rows_without_frames(processor):
    """The dataset schema stores "no features" as zero frames, which a python-format row reads back as []."""
    from unimse_hf.data.schema import empty_row, no_frames, unified_features

    rows = []
    for frames in (0, 2, 0):
        row = empty_row("mosi", "test", f"id{frames}", "hi")
        row |= {"acoustic": np.ones((frames, ACOUSTIC_DIM), np.float32), "acoustic_feature_set": "x" * bool(frames),
                "visual": no_frames(VISUAL_DIM), "visual_feature_set": ""}  # fmt: skip
        rows.append(row)
    dataset = datasets.Dataset.from_list(rows, features=unified_features(acoustic_dim=ACOUSTIC_DIM,
                                                                         visual_dim=VISUAL_DIM))  # fmt: skip
    assert dataset[0]["acoustic"] == []
    for source in (dataset.to_list(), list(dataset.with_format("numpy"))):
        out = UniMSEDataCollator(processor)(source)
        assert out["acoustic_mask"].tolist() == [[0, 0], [1, 1], [0, 0]]
        assert "visual_features" not in out and "labels" not in out


# ------------------------------------------------------------------------------------------------ Trainer, end to end
class MetadataSeq2SeqTrainer(Seq2SeqTrainer):
    """What a UniMSE trainer does with ``return_metadata=True``: pop the reference tensors before the model sees
    the batch and return them with the labels, so ``compute_metrics`` gets ``(labels, *metadata)``."""

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        metadata = pop_metadata(inputs)
        loss, generated, labels = super().prediction_step(
            model, inputs, prediction_loss_only, ignore_keys, **gen_kwargs
        )
        return loss, generated, (labels, *metadata.values())


def test_seq2seq_trainer_evaluate_end_to_end(tmp_path, processor):
    torch.manual_seed(0)
    config = tiny_unimse_config(vocab_size=len(processor.tokenizer), acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM)
    model = UniMSEForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(decoder_start_token_id=0, eos_token_id=1, pad_token_id=0,
                                               max_new_tokens=6, do_sample=False)  # fmt: skip
    corpora = ["mosi", "mosi", "mosei", "meld", "meld", "meld", "iemocap", "iemocap", "mosi", "meld", "iemocap"]
    dataset = datasets.Dataset.from_list([make_row(i, c, with_av=i != 4) for i, c in enumerate(corpora)])
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=4, predict_with_generate=True,
        remove_unused_columns=False, report_to="none", use_cpu=True, disable_tqdm=True,
    )  # fmt: skip

    # 1. stock Seq2SeqTrainer: model inputs only; references come from the evaluation dataset
    stock = Seq2SeqTrainer(
        model=model, args=args, eval_dataset=dataset, data_collator=UniMSEDataCollator(processor),
        compute_metrics=UniMSEComputeMetrics(processing_class=processor, eval_dataset=dataset),
    )  # fmt: skip
    stock_metrics = stock.evaluate()

    # 2. metadata tensors through the batch, popped by the trainer, handed back with the labels
    carried = MetadataSeq2SeqTrainer(
        model=model, args=args, eval_dataset=dataset,
        data_collator=UniMSEDataCollator(processor, return_metadata=True),
        compute_metrics=UniMSEComputeMetrics(processor.tokenizer),
    )  # fmt: skip
    carried_metrics = carried.evaluate()

    # 3. metadata tensors reaching a stock trainer are refused by generate(), loudly (why the trainer pops them)
    refused = Seq2SeqTrainer(
        model=model, args=args, eval_dataset=dataset.select(range(2)),
        data_collator=UniMSEDataCollator(processor, return_metadata=True),
        compute_metrics=UniMSEComputeMetrics(processor),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"model_kwargs` are not used by the model: \['corpus_id'"):
        refused.evaluate()

    assert stock_metrics["eval_num_samples"] == len(corpora)
    for corpus in ("mosi", "mosei", "meld", "iemocap"):
        assert stock_metrics[f"eval_{corpus}_num_samples"] == corpora.count(corpus)
    for key in ("mosi_mae", "mosi_acc7", "mosi_acc2_non0", "mosei_mae", "meld_accuracy", "meld_weighted_f1",
                "iemocap_accuracy", "iemocap_macro_f1", "malformed"):  # fmt: skip
        assert f"eval_{key}" in stock_metrics, key
    # an untrained model (seed 0) generates junk: every generation counts as malformed, yet everything is scored
    assert stock_metrics["eval_malformed"] == len(corpora)
    metric_keys = [k for k in stock_metrics if not k.endswith(("_runtime", "_per_second", "_time"))]
    assert {k: stock_metrics[k] for k in metric_keys} == pytest.approx(
        {k: carried_metrics[k] for k in metric_keys}, nan_ok=True
    )


def _train_one_step(processor, rows, batch_size, accumulation, tmp_path):
    torch.manual_seed(0)
    model = UniMSEForConditionalGeneration(
        tiny_unimse_config(
            vocab_size=len(processor.tokenizer), acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM, fusion_init="random"
        )
    )
    args = Seq2SeqTrainingArguments(
        str(tmp_path / f"bs{batch_size}"),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        learning_rate=1e-2,
        lr_scheduler_type="constant",
        optim="sgd",
        max_grad_norm=0.0,
        remove_unused_columns=False,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        seed=0,
        data_seed=0,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        data_collator=UniMSEDataCollator(processor),
        train_dataset=datasets.Dataset.from_list(rows),
    )
    trainer.get_train_dataloader = lambda: torch.utils.data.DataLoader(  # keep the row order: compare exactly
        trainer.train_dataset, batch_size=batch_size, collate_fn=trainer.data_collator
    )
    trainer.train()
    return model


def test_trainer_gradient_accumulation_matches_one_large_batch(processor, tmp_path):
    """Rows with different target lengths: only a loss normalised by the step's token count (the Trainer's
    num_items_in_batch) makes 2 x 2 accumulated rows update the weights like one batch of 4."""
    rows = [make_row(i, corpus) for i, corpus in enumerate(("mosi", "meld", "iemocap", "mosei"), start=1)]
    rows[0]["universal_label"] = "positive,0.6666666865348816,joy,excited"  # 17 target tokens
    rows[2]["universal_label"] = "neutral,0.0,neutral,neutral"  # 10 target tokens
    torch.manual_seed(0)
    initial = UniMSEForConditionalGeneration(
        tiny_unimse_config(
            vocab_size=len(processor.tokenizer), acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM, fusion_init="random"
        )
    )
    one_batch = _train_one_step(processor, rows, 4, 1, tmp_path)
    accumulated = _train_one_step(processor, rows, 2, 2, tmp_path)
    updates = [
        (name, a - p0, b - p0)
        for (name, p0), a, b in zip(
            initial.named_parameters(), one_batch.parameters(), accumulated.parameters(), strict=True
        )
    ]
    assert sum(float(u.abs().sum()) for _, u, _ in updates) > 0
    for name, update_one_batch, update_accumulated in updates:
        torch.testing.assert_close(update_accumulated, update_one_batch, rtol=1e-3, atol=1e-7, msg=name)


def test_target_fields_are_returned_as_label_ids_when_asked(processor):
    rows = [make_row(i, c) for i, c in enumerate(["meld", "mosi", "iemocap"])]
    rows[2]["universal_label"] = None
    batch = UniMSEDataCollator(processor, return_metadata=True, return_target_fields=True)(rows)
    for i in range(2):
        polarity, _, meld, iemocap = rows[i]["universal_label"].split(",")
        assert batch["target_polarity"][i] == ["positive", "negative", "neutral"].index(polarity)
        assert batch["target_meld_emotion"][i] == MELD_EMOTIONS.index(meld)
        assert batch["target_iemocap_emotion"][i] == IEMOCAP_EMOTIONS.index(iemocap)
    assert [batch[f"target_{f}"][2].item() for f in ("polarity", "meld_emotion", "iemocap_emotion")] == [-1, -1, -1]
    popped = pop_metadata(batch)
    assert set(popped) == {*REFERENCE_KEYS, "target_polarity", "target_meld_emotion", "target_iemocap_emotion"}
    assert set(batch) == {"input_ids", "attention_mask", "labels", "acoustic_features", "acoustic_mask",
                          "visual_features", "visual_mask"}  # fmt: skip
