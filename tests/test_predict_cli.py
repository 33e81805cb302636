"""`unimse-hf predict` (unimse_hf.predict): one output line per input line in order, per-line errors that name the
line and the field, chunked streaming with constant memory, option pass-through and argument errors."""
# ruff: noqa: F811  (tests take the fixtures imported from test_pipeline)

import io
import json
import re
import shutil
import sys

import numpy as np
import pytest
from test_lora import lora_run, requires_peft  # noqa: F401
from test_pipeline import model_dir, pipe, processor  # noqa: F401
from test_trainer import ACOUSTIC_DIM, VISUAL_DIM
from transformers import pipeline
from transformers.utils.logging import enable_progress_bar, is_progress_bar_enabled

from unimse_hf import UniMSEProcessor
from unimse_hf.cli import main
from unimse_hf.predict import EXIT_LINE_ERRORS, MAX_LISTED_ERRORS, predict_jsonl, predict_lines


def frames(count: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)


def write_lines(path, lines: list) -> None:
    """Write ``lines`` (dicts/lists as JSON, str as is, bytes raw) one per line."""
    encoded = [line if isinstance(line, bytes) else (line if isinstance(line, str) else json.dumps(line)).encode()
               for line in lines]  # fmt: skip
    path.write_bytes(b"\n".join(encoded) + b"\n")


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_cli(*args) -> int:
    return main(["predict", *map(str, args)])


@pytest.fixture
def features(tmp_path):
    """feats/{acoustic,visual,wrong_dim}.npy under tmp_path, and the arrays."""
    (tmp_path / "feats").mkdir()
    arrays = {"acoustic": frames(5, ACOUSTIC_DIM), "visual": frames(3, VISUAL_DIM, 1), "wrong_dim": frames(3, 7, 2)}
    for name, array in arrays.items():
        np.save(tmp_path / "feats" / f"{name}.npy", array)
    return arrays


def test_a_mixed_file_gives_one_line_per_input_in_order(model_dir, pipe, features, tmp_path, capsys):
    inline = frames(2, ACOUSTIC_DIM, 3)
    dialogue = [
        {"text": "love love", "speaker": "A"},
        {"text": "hate hate", "speaker": "B", "visual": "feats/visual.npy"},
        {"text": "we love this so much", "speaker": "A"},
    ]
    lines = [
        {"id": "a", "text": "I love it"},  # 1
        {"text": "I hate it", "speaker": "Joey", "context_before": ["hi"], "acoustic": "feats/acoustic.npy",
         "visual": "feats/visual.npy"},  # 2
        {"id": 7, "dialogue": dialogue},  # 3
        '{"text": "broken"',  # 4
        {"id": "m", "text": "hi", "acoustic": "feats/missing.npy"},  # 5
        {"text": "hi", "acoustic": "feats/wrong_dim.npy"},  # 6
        {"id": "e", "text": "   "},  # 7
        [1, 2],  # 8
        "",  # 9: blank, skipped
        {"text": "inline frames", "acoustic": inline.tolist()},  # 10
        {"dialogue": [{"text": "a"}, {"text": "b", "acoustic": "feats/wrong_dim.npy"}]},  # 11
        b'{"text": "caf\xe9"}',  # 12: latin-1, not UTF-8
        {"id": [1], "text": "hi"},  # 13
        '{"text": "big", "acoustic": [[1' + "0" * 400 + ', 1, 1, 1, 1, 1]]}',  # 14: too large for float32
        "[" * 100_000,  # 15: too deep for the JSON parser
        {"text": "hi", "visual": "feats/notes.npy"},  # 16: a text file
    ]  # fmt: skip
    (tmp_path / "feats" / "notes.npy").write_text("not an array")
    write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"

    assert run_cli("--model", model_dir, "--input", tmp_path / "in.jsonl", "--output", out) == EXIT_LINE_ERRORS
    rows = read_jsonl(out)
    assert [row["line"] for row in rows] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16]
    assert [row["id"] for row in rows] == ["a", 2, 7, 4, "m", 6, "e", 8, 10, 11, 12, 13, 14, 15, 16]

    expected = pipe([
        {"text": "I love it"},
        {"text": "I hate it", "speaker": "Joey", "context_before": ["hi"], "acoustic": features["acoustic"],
         "visual": features["visual"]},
        {"dialogue": [{**turn, "visual": features["visual"]} if "visual" in turn else turn for turn in dialogue]},
        {"text": "inline frames", "acoustic": inline},
    ])  # fmt: skip
    good = {row["line"]: row["prediction"] for row in rows if "prediction" in row}
    assert list(good) == [1, 2, 3, 10]
    assert list(good.values()) == json.loads(json.dumps(expected))
    assert isinstance(good[3], list) and len(good[3]) == 3

    errors = {row["line"]: row["error"] for row in rows if "error" in row}
    wrong_dim = re.escape(repr(str(tmp_path / "feats" / "wrong_dim.npy")))
    patterns = {
        4: r"^line 4: not valid JSON \(.*\); expected one JSON object per line, got '\{\"text\": \"broken\"'$",
        5: r"^line 5\['acoustic'\]: feature file 'feats/missing.npy' not found \(looked for '.*feats/missing.npy'\)",
        6: rf"^line 6\['acoustic'\] must be a \(frames, {ACOUSTIC_DIM}\) array .*got shape \(3, 7\) \(read from "
        rf"{wrong_dim}\)$",
        7: r"^line 7\['text'\] is empty",
        8: r"^line 8: expected a JSON object .* got a JSON array: '\[1, 2\]'$",
        11: rf"^line 11\['dialogue'\]\[1\]\['acoustic'\] must be a \(frames, {ACOUSTIC_DIM}\) array .*got shape "
        r"\(3, 7\)",
        12: r"^line 12: not valid UTF-8",
        13: r"^line 13\['id'\] must be a str or an int, got a JSON array: \[1\]$",
        14: r"^line 14: OverflowError\('int too large to convert to float'\)$",
        15: r"^line 15: not valid JSON \(maximum recursion depth exceeded",
        16: r"^line 16\['visual'\]: could not read '.*notes.npy' as a .npy array of \(frames, dim\) features: it "
        "has no NumPy header$",
    }
    assert set(errors) == set(patterns)
    for line, pattern in patterns.items():
        assert re.search(pattern, errors[line]), (line, errors[line])

    err = capsys.readouterr().err
    assert "predict: 15 lines, 4 predicted, 11 errors (1 blank lines skipped); errors:\n  line 4: not valid JSON" in err
    assert "\n  line 13['id'] must be" in err and "\n  ... and 1 more (the output lines with an" in err


def test_all_good_lines_exit_zero_and_chunking_does_not_change_results(model_dir, tmp_path, capsys):
    texts = ["I love it", "I hate it", "hate hate", "we love this so much"]
    lines = [{"text": text, "speaker": "S"} for text in texts]
    lines.insert(2, {"dialogue": [{"text": "love love"}, {"text": "this is awful"}]})
    write_lines(tmp_path / "in.jsonl", lines)
    outputs = []
    for chunk_size in (2, 256):
        out = tmp_path / f"out-{chunk_size}.jsonl"
        assert run_cli("--model", model_dir, "--input", tmp_path / "in.jsonl", "--output", out,
                       "--chunk-size", chunk_size, "--batch-size", 3) == 0  # fmt: skip
        outputs.append(out.read_text())
        assert "predict: 5 lines, 5 predicted, 0 errors\n" in capsys.readouterr().err
    assert outputs[0] == outputs[1]
    assert [row["id"] for row in map(json.loads, outputs[0].splitlines())] == list(range(1, 6))


@pytest.fixture
def progress_bars_restored():
    yield
    enable_progress_bar()  # --quiet turned off the transformers bars of this process


def test_options_pass_through_to_the_pipeline(model_dir, pipe, tmp_path, progress_bars_restored):
    dialogue = {"dialogue": [{"text": "I love it"}, {"text": "hate hate"}, {"text": "love love"}]}
    write_lines(tmp_path / "in.jsonl", [dialogue, {"text": "I love you"}])
    out = tmp_path / "out.jsonl"
    assert run_cli("--model", model_dir, "--input", tmp_path / "in.jsonl", "--output", out, "--context-mode", "past",
                   "--return-probabilities", "--num-beams", 2, "--quiet") == 0  # fmt: skip
    assert not is_progress_bar_enabled()
    expected = pipe([dialogue, "I love you"], context_mode="past", return_probabilities=True, num_beams=2, batch_size=8)
    assert [row["prediction"] for row in read_jsonl(out)] == json.loads(json.dumps(expected))
    assert set(read_jsonl(out)[1]["prediction"]["probabilities"]) == {"polarity", "score", "emotion", "iemocap_emotion"}
    write_lines(tmp_path / "in.jsonl", [{"text": "I love you"}])
    assert run_cli("--model", model_dir, "--input", tmp_path / "in.jsonl", "--output", out, "--max-new-tokens", 2) == 0
    assert read_jsonl(out)[0]["prediction"]["generated"] == "positive,"


def test_bf16_weights_give_the_float32_predictions_where_bf16_is_native(model_dir, pipe, tmp_path, monkeypatch):
    import unimse_hf.hardware as hardware

    lines = [{"text": "I love you"}, {"dialogue": [{"text": "I love it"}, {"text": "hate hate"}]}]
    write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)  # the same decision on any CPU
    assert run_cli("--model", model_dir, "--input", tmp_path / "in.jsonl", "--output", out, "--dtype", "bfloat16") == 0
    expected = pipe(["I love you", lines[1]], batch_size=8)
    assert [row["prediction"] for row in read_jsonl(out)] == json.loads(json.dumps(expected))
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(SystemExit, match=r"^predict: --dtype bfloat16 needs a device that computes bf16 natively"):
        run_cli("--model", model_dir, "--input", tmp_path / "in.jsonl", "--output", out, "--dtype", "bfloat16")


def test_stdin_to_stdout_resolves_feature_paths_against_the_working_directory(
    model_dir, pipe, features, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    text = '{"id": "x", "text": "I hate it", "acoustic": "feats/acoustic.npy"}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert run_cli("--model", model_dir, "--input", "-", "--output", "-") == 0
    captured = capsys.readouterr()
    expected = pipe({"text": "I hate it", "acoustic": features["acoustic"]})
    assert [json.loads(line) for line in captured.out.splitlines()] == [{"id": "x", "line": 1, "prediction": expected}]
    assert "predict: 1 lines, 1 predicted, 0 errors" in captured.err


class RecordingPipe:
    """Stands in for the pipeline: the real input checks, a cheap fake prediction, and a log of every call."""

    def __init__(self, pipe, consumed: list[int], fail_on: str | None = None):
        self.normalize_input, self.consumed, self.fail_on = pipe.normalize_input, consumed, fail_on
        self.calls: list[tuple[int, int]] = []  # (inputs in the call, input lines read when it came)

    def __call__(self, inputs):
        items = inputs if isinstance(inputs, list) else [inputs]
        self.calls.append((len(items), self.consumed[0]))
        if any(item.get("text") == self.fail_on for item in items):
            raise RuntimeError(f"cannot predict {self.fail_on!r}")
        outputs = [{"generated": item["text"].upper()} for item in items]
        return outputs if isinstance(inputs, list) else outputs[0]


class RecordingWriter(io.StringIO):
    def __init__(self, consumed: list[int]):
        super().__init__()
        self.consumed, self.flushes = consumed, []  # (input lines read, output lines written) at each flush

    def flush(self):
        self.flushes.append((self.consumed[0], self.getvalue().count("\n")))
        super().flush()


def test_the_input_is_read_lazily_and_written_chunk_by_chunk(pipe):
    consumed = [0]

    def lines():
        for i in range(2000):
            consumed[0] += 1
            yield f'{{"id": "u{i}", "text": "utterance {i}"}}\n'.encode()

    fake, out = RecordingPipe(pipe, consumed), RecordingWriter(consumed)
    summary = predict_lines(fake, lines(), out, chunk_size=50)
    assert (summary.lines, summary.predicted, summary.errors) == (2000, 2000, 0)
    assert len(fake.calls) == 40 and max(size for size, _ in fake.calls) == 50
    # each chunk is predicted and flushed before the next one is read
    assert [read for _, read in fake.calls] == [50 * (k + 1) for k in range(40)]
    assert out.flushes == [(50 * (k + 1), 50 * (k + 1)) for k in range(40)]
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[1999] == {"id": "u1999", "line": 2000, "prediction": {"generated": "UTTERANCE 1999"}}


def test_a_batch_that_fails_in_the_model_is_retried_one_at_a_time(pipe):
    consumed = [0]
    fake = RecordingPipe(pipe, consumed, fail_on="boom")
    lines = [json.dumps({"text": text}) for text in ("fine", "boom", "also fine")]
    out = io.StringIO()
    summary = predict_lines(fake, lines, out, chunk_size=10)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows[0]["prediction"] == {"generated": "FINE"} and rows[2]["prediction"] == {"generated": "ALSO FINE"}
    assert rows[1] == {"id": 2, "line": 2, "error": "line 2: prediction failed: RuntimeError: cannot predict 'boom'"}
    assert [size for size, _ in fake.calls] == [3, 1, 1, 1]
    assert (summary.predicted, summary.errors) == (2, 1)


def test_the_summary_lists_the_first_errors_and_counts_the_rest():
    out = io.StringIO()
    summary = predict_lines(None, ["not json"] * (MAX_LISTED_ERRORS + 2), out)  # no line reaches the pipeline
    text = str(summary)
    assert text.startswith(f"{MAX_LISTED_ERRORS + 2} lines, 0 predicted, {MAX_LISTED_ERRORS + 2} errors; errors:")
    assert text.count("\n  line ") == MAX_LISTED_ERRORS
    assert text.endswith('\n  ... and 2 more (the output lines with an "error" field)')
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1, got 0"):
        predict_lines(None, [], out, chunk_size=0)


def test_progress_bar_counts_the_lines_of_the_file(pipe, tmp_path, capsys):
    write_lines(tmp_path / "in.jsonl", [{"text": "I love it"}, "", {"text": "I hate it"}])
    summary = predict_jsonl(pipe, tmp_path / "in.jsonl", tmp_path / "out.jsonl", show_progress=True)
    assert (summary.lines, summary.blank) == (2, 1)
    assert "3/3" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("no_model", r"^predict: --model must be a UniMSE model folder or a LoRA run folder, got '.*nowhere', which"),
        ("not_a_model", r"^predict: --model '.*empty' could not be loaded: "),
        ("no_input", r"^predict: --input must be a JSON-lines file or - \(stdin\), got '.*missing.jsonl', which is"),
        ("no_output_folder", r"^predict: --output '.*nowhere/out.jsonl': its folder '.*nowhere' does not exist$"),
        ("output_is_folder", r"^predict: --output must be a file path or - \(stdout\), got '.*', a folder$"),
        ("output_is_input", r"^predict: --output '.*in.jsonl' is the --input file; give another output path$"),
        ("chunk_size", r"^predict: --chunk-size must be an int >= 1, got 0$"),
        ("past_only", r"^predict: --context-mode bidirectional: context_mode='bidirectional' was asked, but"),
    ],
)
def test_bad_arguments_name_the_argument(case, match, model_dir, tmp_path):
    write_lines(tmp_path / "in.jsonl", [{"text": "hi"}])
    (tmp_path / "empty").mkdir()
    arguments = {"--model": model_dir, "--input": tmp_path / "in.jsonl", "--output": tmp_path / "out.jsonl"}
    extra = []
    if case == "no_model":
        arguments["--model"] = tmp_path / "nowhere"
    elif case == "not_a_model":
        arguments["--model"] = tmp_path / "empty"
    elif case == "no_input":
        arguments["--input"] = tmp_path / "missing.jsonl"
    elif case == "no_output_folder":
        arguments["--output"] = tmp_path / "nowhere" / "out.jsonl"
    elif case == "output_is_folder":
        arguments["--output"] = tmp_path / "empty"
    elif case == "output_is_input":
        arguments["--output"] = tmp_path / "." / "in.jsonl"
    elif case == "chunk_size":
        extra = ["--chunk-size", "0"]
    else:  # a model whose processor builds past-only contexts
        arguments["--model"] = shutil.copytree(model_dir, tmp_path / "past")
        loaded = UniMSEProcessor.from_pretrained(arguments["--model"])
        past = UniMSEProcessor(loaded.tokenizer, loaded.feature_extractor, context_mode="past")
        past.save_pretrained(arguments["--model"])
        extra = ["--context-mode", "bidirectional"]
    with pytest.raises(SystemExit, match=match):
        run_cli(*[part for pair in arguments.items() for part in pair], *extra)
    assert (tmp_path / "in.jsonl").read_text() == '{"text": "hi"}\n'


@requires_peft
def test_a_lora_run_folder_serves_as_model(lora_run, tmp_path):
    write_lines(tmp_path / "in.jsonl", [{"text": "I love it"}, {"dialogue": [{"text": "so sad"}, {"text": "hi"}]}])
    out = tmp_path / "out.jsonl"
    assert run_cli("--model", lora_run.run_dir, "--input", tmp_path / "in.jsonl", "--output", out) == 0
    expected = pipeline("multimodal-sentiment", model=str(lora_run.run_dir), batch_size=8)(
        ["I love it", {"dialogue": [{"text": "so sad"}, {"text": "hi"}]}]
    )
    assert [row["prediction"] for row in read_jsonl(out)] == json.loads(json.dumps(expected))
