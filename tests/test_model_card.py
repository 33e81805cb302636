"""The model card UniMSETrainer writes on save and push: the whole card, its YAML and model-index, the snippet."""
# ruff: noqa: F811  (tests take the `processor` fixture imported from test_trainer)

import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import transformers.trainer
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results
from test_trainer import processor, synthetic_rows, tiny_model, training_args  # noqa: F401  (processor: a fixture)

from unimse_hf.citations import CITATIONS
from unimse_hf.model_card import UniMSEModelCardData, split_name
from unimse_hf.trainer import UniMSETrainer

ANY = "<ANY>"  # in CARD_PATTERN: a value that varies between runs (any characters within one line)
CARD_PATTERN = f"""---
language: en
license: apache-2.0
library_name: unimse-hf
pipeline_tag: text2text-generation
tags:
- unimse
- multimodal-sentiment-analysis
- emotion-recognition-in-conversation
- generated_from_unimse_trainer
model-index:
- name: UniMSE trained on MELD
  results:
  - task:
      type: emotion-recognition-in-conversation
      name: Emotion Recognition in Conversation
    dataset:
      name: MELD
      type: meld
      split: validation_meld
    metrics:
    - type: accuracy
      value: {ANY}
      name: Accuracy
    - type: weighted_f1
      value: {ANY}
      name: Weighted F1
    - type: macro_f1
      value: {ANY}
      name: Macro F1
  - task:
      type: emotion-recognition-in-conversation
      name: Emotion Recognition in Conversation
    dataset:
      name: MELD
      type: meld
      split: test_meld
    metrics:
    - type: accuracy
      value: {ANY}
      name: Accuracy
    - type: weighted_f1
      value: {ANY}
      name: Weighted F1
    - type: macro_f1
      value: {ANY}
      name: Macro F1
---

# UniMSE trained on MELD

This is a [UniMSE](https://arxiv.org/abs/2211.11256) model (Hu et al., EMNLP 2022) trained with the `unimse-hf`
library. It casts multimodal sentiment analysis (MOSI, MOSEI: a score in [-3, 3]) and emotion recognition in
conversation (MELD: 7 emotions, IEMOCAP: 6) as one text-to-text task on T5: it generates a universal label
`"polarity,score,meld_emotion,iemocap_emotion"` from the utterance (with its dialogue context) and its acoustic and
visual features, which are fused into the last T5 encoder blocks.

## Model details

- **Model type:** UniMSE (T5 with acoustic/visual encoders and PMF fusion)
- **Base model:** not recorded (the model was built from a configuration)
- **Training corpora:** MELD
- **num_layers:** 2
- **num_decoder_layers:** 2
- **d_model:** 32
- **acoustic_dim:** 6
- **visual_dim:** 5
- **fusion_layers:** [1]
- **fusion_bottleneck:** 16
- **contrastive_dim:** 8
- **Parameters:** {ANY}
- **Licence of the code:** apache-2.0 (see [Licences](#licences) for the corpora)

## Uses

```python
import numpy as np
from transformers import AutoModelForSeq2SeqLM, AutoProcessor

import unimse_hf  # registers UniMSE with the Auto classes; without it, pass trust_remote_code=True

model = AutoModelForSeq2SeqLM.from_pretrained("path/to/this-model")
processor = AutoProcessor.from_pretrained("path/to/this-model")
inputs = processor(
    "I love it",
    acoustic=np.zeros((20, 6), dtype=np.float32),  # (frames, acoustic_dim): your acoustic features
    visual=np.zeros((8, 5), dtype=np.float32),  # (frames, visual_dim): your visual features
)
generated = model.generate(**inputs, max_new_tokens=32)
label = processor.post_process_generation(generated)[0]
print(label.polarity, label.score, label.meld_emotion, label.iemocap_emotion)
```

The acoustic and visual features must be of the kind the model was trained on (same extractor, same dimensions);
leave `acoustic`/`visual` out for text-only inference.

## Training details

### Trainable parameters

Trainable T5 blocks (`trainable_backbone_blocks`): all
("paper": the last two encoder and decoder blocks; "all"; "none"; or block indices of both stacks).
The fusion modules, the modality encoders and the contrastive projections always train.

| group | trainable parameters |
|:---|:---|
| backbone | {ANY} |
| fusion | {ANY} |
| modality | {ANY} |

### Training hyper-parameters

- backbone_learning_rate: 0.01
- fusion_learning_rate: 0.01
- modality_learning_rate: 0.01
- per_device_train_batch_size: 16
- gradient_accumulation_steps: 1
- total_train_batch_size: 16
- num_train_epochs: 2
- seed: 0
- optim: {ANY}
- weight_decay: 0.0
- lr_scheduler_type: linear
- warmup_steps: 0
- max_grad_norm: 1.0
- contrastive_acoustic_weight: 0.5
- contrastive_visual_weight: 0.5
- contrastive_acoustic_visual_weight: 0.0
- contrastive_temperature: 0.1
- contrastive_symmetric: True
- sample_contrastive_weight: 0.0
- sample_contrastive_field: polarity
- generation_max_length: 16

Trained for 4 steps (2.0 epochs); final training loss {ANY}.

### Training results

| Epoch | Step | Training loss | Validation loss | dev_score |
|:---|:---|:---|:---|:---|
| 1 | 2 | {ANY} | {ANY} | {ANY} |
| 2 | 4 | {ANY} | {ANY} | {ANY} |

## Evaluation

Each corpus is scored on its own field of the generated universal label: MOSI/MOSEI on the score (MAE, Pearson
correlation, 7-/5-class accuracy, binary accuracy and weighted F1 with and without the zero scores), MELD/IEMOCAP on
their emotion (accuracy, weighted and macro F1). Rates are fractions; `malformed` counts generations whose field
could not be read. `dev_score` is the mean of one headline metric per corpus (Acc-2 non-0 for MSA, weighted F1 for
ERC).

### validation (`eval_*` metrics)

dev_score: {ANY}

| corpus | samples | Accuracy | Weighted F1 | Macro F1 | malformed |
|:---|:---|:---|:---|:---|:---|
| MELD | 16 | {ANY} | {ANY} | {ANY} | {ANY} |

### test (`test_*` metrics)

dev_score: {ANY}

| corpus | samples | Accuracy | Weighted F1 | Macro F1 | malformed |
|:---|:---|:---|:---|:---|:---|
| MELD | 16 | {ANY} | {ANY} | {ANY} | {ANY} |

## Licences

The unimse-hf code is licensed apache-2.0. The weights were trained on the corpora below, whose terms may also
apply to them (see the unimse-hf documentation, datasets.md, "Licences").

- **MELD:** MELD is released under GPL-3.0 (declare-lab/MELD); derived from Friends transcripts via {ANY}

## Framework versions

- unimse-hf: {ANY}
- transformers: {ANY}
- torch: {ANY}
- datasets: {ANY}
- tokenizers: {ANY}
- huggingface-hub: {ANY}

## Citation

```bibtex
{CITATIONS["unimse"]}
{CITATIONS["meld"]}
```"""  # jinja drops the template's final newline


def card_regex(pattern: str) -> re.Pattern:
    """``pattern`` taken literally, each :data:`ANY` matching any characters of one line."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split(ANY)))


def with_neutral_rows(rows, every: int):
    """Make every ``every``-th row neutral: a barely trained model's unreadable emotions fall back to neutral
    (``parse_universal_label``), so accuracy and the F1 scores differ from 0 and from each other."""
    neutral = {"meld_emotion": "neutral", "polarity": "neutral"}
    return rows.map(lambda row, index: neutral if index % every == 0 else {}, with_indices=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory, processor):
    """A tiny MELD run: 2 epochs with an evaluation and a checkpoint each, then dev and test evaluation + save."""
    output_dir = tmp_path_factory.mktemp("card")
    args = training_args(output_dir, num_train_epochs=2, eval_strategy="epoch", save_strategy="epoch", logging_steps=2)
    trainer = UniMSETrainer(
        model=tiny_model(processor), args=args, train_dataset=synthetic_rows(32, 0, "train"),
        eval_dataset=with_neutral_rows(synthetic_rows(16, 1, "validation"), 4), processing_class=processor,
    )  # fmt: skip
    trainer.train()
    dev = trainer.evaluate()
    test = trainer.evaluate(with_neutral_rows(synthetic_rows(16, 2, "test"), 2), metric_key_prefix="test")
    trainer.save_model()
    return SimpleNamespace(trainer=trainer, dev=dev, test=test, output_dir=output_dir)


def test_the_saved_card_matches_the_whole_pattern(run):
    card = (run.output_dir / "README.md").read_text(encoding="utf-8")
    assert card_regex(CARD_PATTERN).fullmatch(card), card


def test_yaml_parses_and_model_index_holds_the_returned_dev_and_test_metrics(run):
    card = ModelCard.load(run.output_dir / "README.md")  # validates the model-index
    header = yaml.safe_load(card.content.split("---")[1])
    assert header["library_name"] == "unimse-hf" and header["license"] == "apache-2.0"
    assert header["pipeline_tag"] == "text2text-generation" and "base_model" not in header
    name, results = model_index_to_eval_results(header["model-index"])
    assert name == "UniMSE trained on MELD"
    found = {(r.dataset_split, r.metric_type): r.metric_value for r in results}
    expected = {
        (f"{split}_meld", key): metrics[f"{prefix}_meld_{key}"]
        for prefix, split, metrics in (("eval", "validation", run.dev), ("test", "test", run.test))
        for key in ("accuracy", "weighted_f1", "macro_f1")
    }
    assert found == expected
    assert len(set(expected.values())) > 1, expected  # the values are told apart, not all 0
    assert {r.task_type for r in results} == {"emotion-recognition-in-conversation"}
    assert {r.dataset_name for r in results} == {"MELD"}


def test_every_checkpoint_gets_a_card_with_the_evaluation_of_its_epoch(run):
    for step in (2, 4):
        card = ModelCard.load(run.output_dir / f"checkpoint-{step}" / "README.md")
        _, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
        assert {r.dataset_split for r in results} == {"validation_meld"}
    history = [entry for entry in run.trainer.state.log_history if "eval_meld_accuracy" in entry]
    card = ModelCard.load(run.output_dir / "checkpoint-2" / "README.md")
    _, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert {r.metric_type: r.metric_value for r in results}["accuracy"] == history[0]["eval_meld_accuracy"]


def test_the_usage_snippet_runs_on_the_saved_folder(run):
    card = (run.output_dir / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", card, re.DOTALL).group(1)
    snippet = snippet.replace("path/to/this-model", str(run.output_dir))
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    polarity, score, meld_emotion, iemocap_emotion = result.stdout.split()
    float(score)


def test_push_to_hub_uploads_the_card_with_the_given_metadata(tmp_path, processor, monkeypatch):
    uploads = []

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            return SimpleNamespace(repo_id=f"someone/{repo_id}")

        def upload_folder(self, repo_id, folder_path, **kwargs):
            uploads.append((repo_id, (tmp_path / "out" / "README.md").read_text(encoding="utf-8")))

    monkeypatch.setattr(transformers.trainer, "hf_api", FakeApi)
    trainer = UniMSETrainer(
        model=tiny_model(processor), args=training_args(tmp_path / "out", hub_model_id="unimse-meld"),
        train_dataset=synthetic_rows(8, 0, "train"), processing_class=processor,
        model_card_data=UniMSEModelCardData(language=["en"]),
    )  # fmt: skip
    trainer.push_to_hub(dataset="someone/unified-meld", finetuned_from="google-t5/t5-small", tags="my-tag")
    [(repo_id, card)] = uploads
    assert repo_id == "someone/unimse-meld"
    header = yaml.safe_load(card.split("---")[1])
    assert header["datasets"] == ["someone/unified-meld"] and header["base_model"] == "google-t5/t5-small"
    assert header["tags"][-1] == "my-tag" and "model-index" not in header  # nothing was evaluated
    assert '.from_pretrained("someone/unimse-meld")' in card
    assert "- **Base model:** [google-t5/t5-small](https://huggingface.co/google-t5/t5-small)" in card
    assert "# UniMSE on google-t5/t5-small trained on MELD\n" in card


def test_a_dataset_id_becomes_the_model_index_dataset_type():
    data = UniMSEModelCardData(dataset_id="someone/unified")
    metrics = {"test_iemocap_num_samples": 3, "test_iemocap_accuracy": 0.5, "test_runtime": 1.0,
               "test_mosi_num_samples": 2, "test_mosi_mae": 0.7, "test_mosi_corr": float("nan")}  # fmt: skip
    data.record_evaluation(metrics)
    results = data.eval_results()
    assert {(r.dataset_type, r.dataset_split, r.metric_type, r.task_type) for r in results} == {
        ("someone/unified", "test_mosi", "mae", "multimodal-sentiment-analysis"),  # NaN corr left out
        ("someone/unified", "test_iemocap", "accuracy", "emotion-recognition-in-conversation"),
    }
    assert {(r.dataset_split, r.metric_type): r.metric_value for r in results} == {
        ("test_mosi", "mae"): 0.7, ("test_iemocap", "accuracy"): 0.5
    }  # fmt: skip
    assert [split_name(p) for p in ("eval", "eval_validation_meld", "test", "predict")] == [
        "validation", "validation", "test", "predict"
    ]  # fmt: skip
