"""The web demo (unimse_hf.app, ``unimse-hf app``, the Space): its plain functions, the command line, the API through
gradio_client and the UI driven in headless Chromium, each checked against ``pipeline("multimodal-sentiment")``."""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_pipeline import frames, save_love_hate_model
from test_trainer import ACOUSTIC_DIM, TOKENIZER_DIR, VISUAL_DIM
from transformers import AutoTokenizer, pipeline

import unimse_hf.app as web
from unimse_hf import UniMSEFeatureExtractor, UniMSEProcessor
from unimse_hf.cli import main as cli_main

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "unimse-demo"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


browse = load_module("unimse_space_screenshots", SPACE / "screenshots.py")  # the browser helpers


# --------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread: on 2 shared cores the 80 steps below took 8 s with one and 68 s with two (demo/README.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny UniMSE of test_pipeline.py, taught "love" -> LOVE, else HATE."""
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    processor = UniMSEProcessor(tokenizer, UniMSEFeatureExtractor(acoustic_dim=ACOUSTIC_DIM, visual_dim=VISUAL_DIM))
    return save_love_hate_model(processor, tmp_path_factory.mktemp("unimse"))


@pytest.fixture(scope="module")
def pipe(model_dir):
    return pipeline("multimodal-sentiment", model=str(model_dir))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    """``python -m unimse_hf.app --model DIR --port N`` in a subprocess; yields its URL once it answers."""
    pytest.importorskip("gradio")
    port = browse.free_port()
    log = tmp_path_factory.mktemp("server") / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "unimse_hf.app", "--model", str(model_dir), "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    try:
        deadline = time.monotonic() + 180
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{' '.join(command)} did not start serving:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False, analytics_enabled=False)


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    missing = browse.missing_browser()
    if missing:
        pytest.skip(f"the UI tests drive the app in headless Chromium: {missing}")
    driver = browse.chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


# --------------------------------------------------------------------------------------------------- inputs
def test_context_lines_split_a_short_speaker_name_before_the_first_colon():
    text = "Ross: I ate your sandwich.\n\n  so what  \nNote: this: has colons\nA very long speaker name here: hi"
    assert web.parse_context_lines(text) == [
        {"speaker": "Ross", "text": "I ate your sandwich."},
        {"text": "so what"},
        {"speaker": "Note", "text": "this: has colons"},
        {"text": "A very long speaker name here: hi"},  # more than 3 words: not a name
    ]
    assert web.parse_context_lines(None) == [] == web.parse_context_lines(" \n")


def test_utterance_input_keeps_only_what_was_given_and_refuses_an_empty_text():
    acoustic = frames(3, ACOUSTIC_DIM)
    item = web.utterance_input("  I love it ", " Joey ", "Ross: hi", "", acoustic, None)
    assert item == {"text": "I love it", "speaker": "Joey", "context_before": [{"speaker": "Ross", "text": "hi"}],
                    "acoustic": acoustic}  # fmt: skip
    assert web.utterance_input("hi", "", None, None) == {"text": "hi"}
    for empty in ("", "   ", None):
        with pytest.raises(web.AppInputError, match=web.EMPTY_TEXT_MESSAGE):
            web.utterance_input(empty)


def test_dialogue_input_skips_blank_rows_and_names_a_row_without_utterance():
    frame = pd.DataFrame([["Joey", "hi"], [np.nan, np.nan], ["", "bye"], [None, " "]], columns=["speaker", "utterance"])
    assert web.dialogue_input(frame) == {"dialogue": [{"speaker": "Joey", "text": "hi"}, {"text": "bye"}]}
    assert web.dialogue_input([["A", "x", "a third cell is ignored"]]) == {"dialogue": [{"speaker": "A", "text": "x"}]}
    with pytest.raises(web.AppInputError, match=r"Row 2 \(Rachel\) has no utterance"):
        web.dialogue_input([["Joey", "hi"], ["Rachel", ""]])
    for empty in (None, [], [["", ""]], pd.DataFrame(columns=["speaker", "utterance"])):
        with pytest.raises(web.AppInputError, match="at least one row"):
            web.dialogue_input(empty)


def test_features_load_from_npy_only_and_never_unpickle(tmp_path):
    array = frames(4, ACOUSTIC_DIM)
    np.save(tmp_path / "a.npy", array)
    np.testing.assert_array_equal(web.load_features(str(tmp_path / "a.npy"), "acoustic"), array)
    assert web.load_features(None, "acoustic") is None and web.load_features("", "visual") is None
    (tmp_path / "a.csv").write_text("1,2")
    with pytest.raises(web.AppInputError, match=r"visual features must be a \.npy file .* got 'a\.csv'"):
        web.load_features(str(tmp_path / "a.csv"), "visual")
    np.save(tmp_path / "objects.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    for name in ("objects.npy", "broken.npy"):
        with pytest.raises(web.AppInputError, match=f"acoustic features file '{name}' could not be read"):
            web.load_features(str(tmp_path / name), "acoustic")


def test_pipeline_errors_become_a_sentence_about_the_input(pipe):
    def message(item):
        with pytest.raises((TypeError, ValueError)) as caught:
            pipe(item)
        return web.friendly_error(caught.value)

    shape = message({"text": "hi", "acoustic": frames(3, ACOUSTIC_DIM + 1)})
    assert shape.startswith(f"Could not analyse this input: the acoustic features must be a (frames, {ACOUSTIC_DIM})")
    assert "inputs[" not in shape
    assert message({"dialogue": [{"text": "hi"}, {"text": " "}]}).startswith(
        "Could not analyse this input: row 2's text is empty"
    )
    assert web.friendly_error(web.AppInputError("as is")) == "as is"
    assert web.friendly_error(ValueError()) == "Could not analyse this input: ValueError"


# --------------------------------------------------------------------------------------------------- outputs
def test_score_scale_places_and_clips_the_marker():
    assert "left: 75.0%" in web.score_scale_html(1.5)
    assert "left: 0.0%" in web.score_scale_html(-7) and "left: 100.0%" in web.score_scale_html(3.5)
    assert "score -7.00" in web.score_scale_html(-7)  # the title keeps the unclipped score
    assert "marker" not in web.score_scale_html(None) and "+3" in web.score_scale_html(None)


def test_format_prediction_shows_fields_confidences_and_a_note_for_a_malformed_label():
    probabilities = {"polarity": 0.9, "score": 0.5, "emotion": None, "iemocap_emotion": 0.25}
    prediction = {"polarity": "positive", "score": 1.456, "emotion": "joy", "iemocap_emotion": "excited",
                  "generated": "positive,1.456,joy,excited", "valid": True, "probabilities": probabilities}  # fmt: skip
    shown = web.format_prediction(prediction)
    assert (shown["polarity"], shown["score"], shown["emotion"], shown["iemocap_emotion"]) == (
        "positive",
        1.46,
        "joy",
        "excited",
    )
    assert shown["confidences"] == {"polarity: positive": 0.9, "score: +1.46": 0.5, "IEMOCAP: excited": 0.25}
    assert shown["note"] == "" and "left: 74.3%" in shown["scale"]
    malformed = web.format_prediction({**prediction, "valid": False, "generated": "positive,,", "probabilities": None})
    assert "not a well-formed universal label" in malformed["note"] and "`positive,,`" in malformed["note"]
    assert malformed["confidences"] == {}


def test_dialogue_table_and_plot_have_one_row_per_turn_in_order():
    dialogue = {"dialogue": [{"speaker": "A", "text": "x"}, {"text": "y"}]}
    predictions = [{"polarity": "negative", "score": -2.0, "emotion": "sadness", "iemocap_emotion": "sad"},
                   {"polarity": "positive", "score": 0.333, "emotion": "joy", "iemocap_emotion": "happy"}]  # fmt: skip
    assert web.dialogue_table(dialogue, predictions) == [
        [1, "A", "x", "negative", -2.0, "sadness", "sad"],
        [2, "", "y", "positive", 0.33, "joy", "happy"],
    ]
    frame = web.dialogue_plot_frame(dialogue, predictions)
    assert frame.to_dict("list") == {"turn": ["1", "2"], "score": [-2.0, 0.33], "emotion": ["sadness", "joy"],
                                     "speaker": ["A", "-"], "utterance": ["x", "y"]}  # fmt: skip
    with pytest.raises(ValueError, match="2 turns but 1 predictions"):
        web.dialogue_table(dialogue, predictions[:1])


# --------------------------------------------------------------------------------------------------- model, CLI
def test_the_model_is_the_argument_else_the_env_var_else_make_demos(tmp_path, monkeypatch, model_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(web.MODEL_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=r"pass --model DIR_OR_HUB_ID .* run `make demo` first"):
        web.resolve_model(None)
    monkeypatch.setenv(web.MODEL_ENV, "org/from-env")
    assert web.resolve_model(None) == ("org/from-env", False)
    assert web.resolve_model("org/named") == ("org/named", False)
    shutil.copytree(model_dir, tmp_path / "demo-output" / "model")
    monkeypatch.delenv(web.MODEL_ENV)
    assert web.resolve_model(None) == (str(Path("demo-output") / "model"), True)
    (tmp_path / "elsewhere" / "model").mkdir(parents=True)
    assert web.resolve_model(str(tmp_path / "elsewhere" / "model"))[1] is False
    (tmp_path / "elsewhere" / "demo_summary.json").write_text("{}")  # a `run_demo.py --out elsewhere` folder
    assert web.resolve_model(str(tmp_path / "elsewhere" / "model"))[1] is True
    with pytest.raises(FileNotFoundError, match=r"--model must be .* got '.*demo_summary.json': a file"):
        web.resolve_model(str(tmp_path / "elsewhere" / "demo_summary.json"))
    monkeypatch.setenv(web.MODEL_ENV, "./gone")
    with pytest.raises(FileNotFoundError, match=rf"\${web.MODEL_ENV} must be .* got './gone': no such folder"):
        web.resolve_model(None)


def test_with_no_model_the_app_serves_the_demo_model_and_says_it_is_a_smoke_model(tmp_path, monkeypatch, model_dir):
    pytest.importorskip("gradio")
    shutil.copytree(model_dir, tmp_path / "demo-output" / "model")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(web.MODEL_ENV, raising=False)
    demo = web.build_app()
    markdown = [c["props"].get("value") for c in demo.config["components"] if c["type"] == "markdown"]
    assert demo.unimse_smoke_model and web.SMOKE_MODEL_NOTE in markdown
    assert demo.unimse_pipeline.model.name_or_path == str(Path("demo-output") / "model")


def test_app_command_names_the_bad_argument_before_loading_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(web.MODEL_ENV, raising=False)
    with pytest.raises(SystemExit, match=r"app: no model to serve: pass --model .* `make demo`"):
        cli_main(["app"])
    for port in ("0", "70000"):
        with pytest.raises(SystemExit, match=f"app: --port must be a port number from 1 to 65535, got {port}"):
            cli_main(["app", "--port", port])
    with pytest.raises(SystemExit, match=r"app: --host must be an address or name of this machine .* 'nowhere\."):
        cli_main(["app", "--host", "nowhere.invalid"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"app: cannot listen on --host 127.0.0.1 --port {port}: "):
            cli_main(["app", "--port", str(port)])
    with pytest.raises(SystemExit) as usage:
        cli_main(["app", "--port", "http"])
    assert usage.value.code == 2 and "argument --port: invalid int value: 'http'" in capsys.readouterr().err


def test_app_command_says_which_model_did_not_load(tmp_path):
    pytest.importorskip("gradio")
    port = str(browse.free_port())
    with pytest.raises(SystemExit, match=r"app: --model must be a UniMSE model folder or a Hub id \(ORG/NAME\), got "
                       r"'.*no-such-folder': no such folder"):  # fmt: skip
        cli_main(["app", "--model", str(tmp_path / "no-such-folder"), "--port", port])
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(SystemExit, match=r"app: --model '.*not-a-model' could not be loaded: "):
        cli_main(["app", "--model", str(tmp_path / "not-a-model"), "--port", port])


def test_python_m_unimse_hf_app_is_the_app_command():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "unimse_hf.app", "--port", "99999"], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert done.returncode == 1 and "app: --port must be a port number from 1 to 65535, got 99999" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_gradio_the_app_names_the_extra_to_install(monkeypatch, model_dir):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    with pytest.raises(ImportError, match=r"needs gradio: pip install 'unimse-hf\[app\]'"):
        web.build_app(str(model_dir))
    with pytest.raises(SystemExit, match=r"app: the unimse-hf web demo needs gradio: pip install 'unimse-hf\[app\]'"):
        cli_main(["app", "--model", str(model_dir), "--port", str(browse.free_port())])


# --------------------------------------------------------------------------------------------------- the Space
def test_space_card_declares_a_gradio_space_of_the_installed_major():
    gradio = pytest.importorskip("gradio")
    _, front_matter, _ = (SPACE / "README.md").read_text().split("---\n", 2)
    card = yaml.safe_load(front_matter)
    assert card["sdk"] == "gradio" and (SPACE / card["app_file"]).is_file() and card["app_file"] == "app.py"
    assert str(card["sdk_version"]).split(".")[0] == gradio.__version__.split(".")[0]
    assert {"title", "emoji", "colorFrom", "colorTo", "license"} <= set(card)
    assert len(card["short_description"]) <= 60  # the Hub's limit
    requirements = [line for line in (SPACE / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert "unimse-hf" in requirements and "torch>=2.5" in requirements


def layout(demo) -> tuple:
    """What an app is made of: its components' types and ids, and its API endpoints."""
    components = [(c["type"], c["props"].get("elem_id")) for c in demo.config["components"]]
    return components, sorted(d["api_name"] for d in demo.config["dependencies"] if d.get("api_name"))


def test_space_app_builds_the_same_app_on_the_model_of_its_env_var(monkeypatch, model_dir):
    pytest.importorskip("gradio")
    monkeypatch.setenv(web.MODEL_ENV, str(model_dir))
    space = load_module("unimse_space_app", SPACE / "app.py")
    assert space.demo.unimse_pipeline.model.name_or_path == str(model_dir)
    assert not space.demo.unimse_smoke_model
    assert layout(space.demo) == layout(web.build_app(str(model_dir)))
    assert {"predict", "predict_dialogue"} <= set(layout(space.demo)[1])


# --------------------------------------------------------------------------------------------------- API
def test_api_predict_returns_exactly_the_pipelines_output(client, pipe):
    acoustic = frames(5, ACOUSTIC_DIM)
    got = client.predict("I hate it", "Joey", ["Ross: I ate your sandwich.", "so what"], ["I love you"],
                         acoustic.tolist(), None, True, api_name="/predict")  # fmt: skip
    expected = pipe(
        {"text": "I hate it", "speaker": "Joey", "acoustic": acoustic, "context_after": ["I love you"],
         "context_before": [{"speaker": "Ross", "text": "I ate your sandwich."}, "so what"]},
        return_probabilities=True,
    )  # fmt: skip
    assert got == expected and set(got["probabilities"]) == {"polarity", "score", "emotion", "iemocap_emotion"}
    assert client.predict("I love it", api_name="/predict") == pipe("I love it")


def test_api_predict_dialogue_returns_exactly_the_pipelines_output(client, pipe):
    turns = [{"speaker": "Joey", "text": "I love it"}, {"text": "I hate it"}, {"speaker": "Ross", "text": "love love"}]
    assert client.predict(turns, api_name="/predict_dialogue") == pipe({"dialogue": turns})
    assert client.predict(turns, "past", api_name="/predict_dialogue") == pipe({"dialogue": turns}, context_mode="past")


def test_api_errors_are_the_friendly_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=web.EMPTY_TEXT_MESSAGE):
        client.predict("  ", api_name="/predict")
    with pytest.raises(AppError, match=rf"the visual features must be a \(frames, {VISUAL_DIM}\) array"):
        client.predict("hi", "", None, None, None, [[0.0] * (VISUAL_DIM + 2)], api_name="/predict")
    with pytest.raises(AppError, match=r"Row 2 \(B\) has no utterance: type its text or clear the row"):
        client.predict([{"text": "hi"}, {"speaker": "B", "text": ""}], api_name="/predict_dialogue")
    with pytest.raises(AppError, match=r"dialogue must be a list of \{'speaker', 'text'\} dicts, got \['hi'\]"):
        client.predict(["hi"], api_name="/predict_dialogue")


# --------------------------------------------------------------------------------------------------- UI
def test_utterance_tab_shows_the_pipelines_prediction(browser, server, pipe, tmp_path):
    browse.open_app(browser, server)
    shown = browse.analyse_utterance(browser, "we love this a lot")
    browse.save_png(browser, tmp_path / "utterance.png")
    expected = pipe("we love this a lot", return_probabilities=True)
    assert [shown[key] for key in ("polarity", "emotion", "iemocap_emotion", "generated")] == [
        expected[key] for key in ("polarity", "emotion", "iemocap_emotion", "generated")
    ]
    assert float(shown["score"]) == round(expected["score"], 2)
    assert f"polarity: {expected['polarity']}" in shown["confidences"] and shown["message"] == ""


def test_utterance_tab_predicts_on_an_uploaded_video(browser, server, pipe, tmp_path):
    from media_helpers import face_then_blank_mp4

    assert web.supported_media(pipe) == ("audio", "video")
    clip = face_then_blank_mp4(tmp_path / "clip.mp4")
    browse.open_app(browser, server)
    shown = browse.analyse_utterance(browser, "I hate it", video=clip)
    browse.save_png(browser, tmp_path / "utterance_video.png")
    expected = pipe({"text": "I hate it", "video": str(clip)}, return_probabilities=True)
    assert shown["message"] == "" and shown["generated"] == expected["generated"]
    assert [shown[key] for key in ("polarity", "emotion", "iemocap_emotion")] == [
        expected[key] for key in ("polarity", "emotion", "iemocap_emotion")
    ]


def test_dialogue_tab_predicts_each_typed_turn(browser, server, pipe, tmp_path):
    browse.open_app(browser, server)
    edits = {(0, 1): "I love you so much", (2, 0): "Monica", (2, 1): "I hate it"}
    shown = browse.analyse_dialogue(browser, edits=edits)
    browse.save_png(browser, tmp_path / "dialogue.png")
    rows = [list(row) for row in web.EXAMPLE_DIALOGUES[0]]
    for (row, column), text in edits.items():
        rows[row][column] = text
    turns = [{"speaker": speaker, "text": text} for speaker, text in rows]
    expected = pipe({"dialogue": turns})
    assert len(shown) == 3
    for number, (row, turn, prediction) in enumerate(zip(shown, turns, expected, strict=True), start=1):
        assert row[:4] == [str(number), turn["speaker"], turn["text"], prediction["polarity"]]
        assert float(row[4]) == round(prediction["score"], 2)
        assert row[5:] == [prediction["emotion"], prediction["iemocap_emotion"]]


def test_empty_input_shows_a_friendly_message_not_a_traceback(browser, server, tmp_path):
    browse.open_app(browser, server)
    shown = browse.analyse_utterance(browser, "")
    browse.save_png(browser, tmp_path / "empty.png")
    assert shown["message"] == f"⚠️ {web.EMPTY_TEXT_MESSAGE}"
    assert shown["polarity"] == shown["generated"] == "" and "Traceback" not in browser.page_source
