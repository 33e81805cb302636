"""A Gradio web demo of ``pipeline("multimodal-sentiment")``: ``unimse-hf app`` / ``python -m unimse_hf.app``.

Two tabs, both calling the pipeline (never a second code path to the model):

- **Utterance**: a sentence (+ optional speaker, context lines, acoustic/visual ``.npy`` frame features, or the
  audio/video itself when the pipeline's feature extractor can read media, docs/media.md) -> polarity,
  the score on the -3..3 scale, the MELD and IEMOCAP emotions, the pipeline's confidence per generated field and the
  raw universal label;
- **Dialogue**: a table of speaker/utterance rows -> one prediction per utterance and a plot of score and emotion
  over the turns.

Two JSON API endpoints serve the same predictions to ``gradio_client``: ``/predict`` (one utterance) and
``/predict_dialogue``; each returns exactly what the pipeline returns for the same input.

The functions that turn inputs into pipeline inputs and pipeline outputs into UI values are plain functions
(``utterance_input``, ``dialogue_input``, ``format_prediction``, ``dialogue_table``, ...), testable without a
browser. gradio (the ``app`` extra: ``pip install 'unimse-hf[app]'``), torch and transformers are imported only when an
app is built, so importing this module is light. How to run it, the tabs and the API: docs/app.md.
"""

import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Where ``make demo`` saves its model (relative to the working directory), served when no model is named.
DEMO_MODEL_DIR = Path("demo-output") / "model"
#: Environment variable naming the model to serve when ``--model`` is not given (a folder or a Hub id).
MODEL_ENV = "UNIMSE_APP_MODEL"
#: Score range of the MOSI/MOSEI sentiment score.
SCORE_RANGE = (-3.0, 3.0)
#: Raw media inputs the app wires in when the pipeline accepts them (``UTTERANCE_KEYS`` of pipeline_unimse).
MEDIA_KEYS = ("audio", "video")
EMPTY_TEXT_MESSAGE = "Please type an utterance to analyse."
EMPTY_DIALOGUE_MESSAGE = (
    "Please fill in at least one row of the dialogue table (an utterance; the speaker is optional)."
)
SMOKE_MODEL_NOTE = (
    "**This is the small smoke model that `make demo` trains in minutes on about a thousand text-only utterances, not "
    "the paper's model**: its predictions show that the whole path works, not what UniMSE can do."
)
PROBABILITY_NOTE = (
    "Confidence of each generated field: the probability the model gave to the tokens it generated for that field "
    "(the pipeline's `return_probabilities`). It is not a distribution over the classes."
)
EXAMPLE_UTTERANCES = [
    ["I love this, it's the best day of my life!", "", "", ""],
    ["That was awful. I can't believe you did that.", "Monica", "Ross: I ate your sandwich.", ""],
    ["Well, I guess it's fine.", "", "", ""],
    ["Oh my God, not again!", "Rachel", "Joey: How you doin'?", "Joey: I'll take that as a yes."],
]
EXAMPLE_DIALOGUES = [
    [["Joey", "How you doin'?"], ["Rachel", "Oh my God, not again."], ["Joey", "I'll take that as a yes."]],
    [
        ["Ross", "I got the job!"],
        ["Monica", "That's wonderful, I'm so happy for you!"],
        ["Chandler", "Great. Now you can pay for dinner."],
        ["Ross", "Wait, what?"],
    ],
]
CONTEXT_PLACEHOLDER = "one utterance per line, optionally 'Speaker: text'\nRoss: I ate your sandwich."
DIALOGUE_HEADERS = ["speaker", "utterance"]
RESULT_HEADERS = ["turn", "speaker", "utterance", "polarity", "score", "MELD emotion", "IEMOCAP emotion"]
RESULT_WIDTHS = ["8%", "13%", "34%", "12%", "9%", "12%", "12%"]
CSS = """
#smoke-banner {border-left: 4px solid #f59e0b; padding: 4px 12px; background: rgba(245, 158, 11, 0.08);}
.unimse-scale {margin: 4px 0 8px 0;}
.unimse-scale .bar {position: relative; height: 14px; border-radius: 7px;
  background: linear-gradient(90deg, #d73027 0%, #f7f7f7 50%, #1a9850 100%); border: 1px solid #bbb;}
.unimse-scale .marker {position: absolute; top: -5px; width: 4px; height: 22px; background: #111; border-radius: 2px;
  transform: translateX(-2px);}
.unimse-scale .ticks {display: flex; justify-content: space-between; font-size: 12px; color: #666;}
"""


class AppInputError(ValueError):
    """An input the app cannot predict on; its message is shown to the visitor as is."""


#: What the pipeline raises on an input it cannot predict on (an unreadable upload, media without the media extra,
#: a wrong type or shape): shown as :func:`friendly_error`'s message instead of failing the request.
INPUT_ERRORS = (AppInputError, ImportError, OSError, TypeError, ValueError)


# --------------------------------------------------------------------------------------------------- inputs
_SPEAKER_LINE = re.compile(r"^\s*([^:\s][^:]{0,39}?)\s*:\s+(\S.*)$")


def parse_context_lines(text: str | None) -> list[dict[str, str]]:
    """Context utterances typed one per line, optionally ``Speaker: text`` -> the pipeline's context dicts.

    A line is split at its first colon when the part before it is a short name (at most 40 characters, no colon) and
    text follows; blank lines are skipped.
    """
    utterances = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        match = _SPEAKER_LINE.match(line)
        if match and len(match[1].split()) <= 3:
            utterances.append({"speaker": match[1], "text": match[2].strip()})
        else:
            utterances.append({"text": line.strip()})
    return utterances


def load_features(path: str | os.PathLike | None, modality: str) -> Any:
    """A ``(frames, dim)`` array from a ``.npy`` upload (``None`` when nothing was uploaded); the pipeline checks the
    shape. Loaded with ``allow_pickle=False``: an upload never runs code."""
    if path is None or (isinstance(path, str) and not path):
        return None
    import numpy as np

    name = Path(path).name
    if Path(path).suffix.lower() != ".npy":
        raise AppInputError(f"The {modality} features must be a .npy file of a (frames, dim) array, got {name!r}.")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise AppInputError(
            f"The {modality} features file {name!r} could not be read as a .npy array: {error}"
        ) from None


def utterance_input(
    text: str | None,
    speaker: str | None = None,
    context_before: str | None = None,
    context_after: str | None = None,
    acoustic: Any = None,
    visual: Any = None,
    **media: Any,
) -> dict[str, Any]:
    """The pipeline input for the utterance tab: ``{"text", "speaker"?, "context_before"?, "context_after"?,
    "acoustic"?, "visual"?}`` (plus ``audio``/``video`` when given). ``acoustic``/``visual`` are arrays (or lists of
    frames) or ``None``; context is text as :func:`parse_context_lines` reads it. Raises :class:`AppInputError` on an
    empty text."""
    if not isinstance(text, str) or not text.strip():
        raise AppInputError(EMPTY_TEXT_MESSAGE)
    item: dict[str, Any] = {"text": text.strip()}
    if speaker and speaker.strip():
        item["speaker"] = speaker.strip()
    for key, lines in (("context_before", context_before), ("context_after", context_after)):
        context = parse_context_lines(lines)
        if context:
            item[key] = context
    for key, value in (("acoustic", acoustic), ("visual", visual), *media.items()):
        if value is not None:
            item[key] = value
    return item


def dialogue_input(rows: Any) -> dict[str, list[dict[str, str]]]:
    """Table rows ``[speaker, utterance]`` (a list of lists or a pandas DataFrame) -> ``{"dialogue": [...]}``.

    Rows with neither speaker nor utterance are skipped; a row with a speaker but no utterance is an error that names
    the row. Raises :class:`AppInputError` when no utterance is left.
    """
    if rows is None:
        rows = []
    elif hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    turns = []
    for number, row in enumerate(rows, start=1):
        cells = ["" if cell is None else str(cell).strip() for cell in list(row)[:2]]
        cells += [""] * (2 - len(cells))
        if cells[0].lower() == "nan":
            cells[0] = ""
        if cells[1].lower() == "nan":
            cells[1] = ""
        speaker, text = cells
        if not speaker and not text:
            continue
        if not text:
            raise AppInputError(f"Row {number} ({speaker}) has no utterance: type its text or clear the row.")
        turns.append({"speaker": speaker, "text": text} if speaker else {"text": text})
    if not turns:
        raise AppInputError(EMPTY_DIALOGUE_MESSAGE)
    return {"dialogue": turns}


def friendly_error(error: BaseException) -> str:
    """A one-paragraph message for the visitor (never a traceback): what was wrong with the input."""
    if isinstance(error, AppInputError):
        return str(error)
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    # the pipeline names inputs as Python expressions: say it in words
    message = re.sub(r"inputs\['dialogue'\]\[(\d+)\]", lambda m: f"row {int(m[1]) + 1}", message)
    message = re.sub(r"inputs(?:\[\d+\])?\['(acoustic|visual)'\]", r"the \1 features", message)
    message = re.sub(r"inputs(?:\[\d+\])?\['(\w+)'\]", r"the \1", message)
    message = re.sub(r"(row \d+)\['(\w+)'\]", r"\1's \2", message)
    return f"Could not analyse this input: {message}"


# --------------------------------------------------------------------------------------------------- outputs
def score_scale_html(score: float | None) -> str:
    """The score as a marker on a red-to-green bar from -3 to 3, clipped to the bar (HTML; no marker for ``None``)."""
    low, high = SCORE_RANGE
    ticks = "".join(f"<span>{tick:+d}</span>" if tick else "<span>0</span>" for tick in range(int(low), int(high) + 1))
    if score is None:
        title, marker = f"score on the {low:g}..{high:g} scale", ""
    else:
        position = 100.0 * (min(max(float(score), low), high) - low) / (high - low)
        title = f"score {float(score):+.2f} on the {low:g}..{high:g} scale"
        marker = f"<div class='marker' style='left: {position:.1f}%'></div>"
    return (
        f"<div class='unimse-scale' title='{title}'><div class='bar'>{marker}</div>"
        f"<div class='ticks'>{ticks}</div></div>"
    )


def field_confidences(prediction: Mapping[str, Any]) -> dict[str, float]:
    """The pipeline's per-field probabilities as ``{"polarity: positive": p, ...}`` for a ``gr.Label`` (fields the
    generation did not write, or a prediction without probabilities, are left out)."""
    probabilities = prediction.get("probabilities") or {}
    names = {"polarity": "polarity", "score": "score", "emotion": "MELD", "iemocap_emotion": "IEMOCAP"}
    confidences = {}
    for field, name in names.items():
        probability = probabilities.get(field)
        if probability is not None:
            value = prediction.get(field)
            shown = f"{value:+.2f}" if field == "score" else value
            confidences[f"{name}: {shown}"] = float(probability)
    return confidences


def format_prediction(prediction: Mapping[str, Any]) -> dict[str, Any]:
    """One pipeline prediction -> the values the utterance tab shows: ``polarity``, ``score`` (rounded to 2
    decimals), ``scale`` (HTML), ``emotion``, ``iemocap_emotion``, ``confidences`` (for ``gr.Label``),
    ``generated`` and ``note`` (a warning when the generation was not a well-formed universal label)."""
    score = float(prediction["score"])
    note = ""
    if not prediction.get("valid", True):
        note = (
            "The model's output was not a well-formed universal label; the fields it lacked were guessed "
            f"(raw output: `{prediction.get('generated', '')}`)."
        )
    return {
        "polarity": prediction["polarity"],
        "score": round(score, 2),
        "scale": score_scale_html(score),
        "emotion": prediction["emotion"],
        "iemocap_emotion": prediction["iemocap_emotion"],
        "confidences": field_confidences(prediction),
        "generated": prediction.get("generated", ""),
        "note": note,
    }


def dialogue_table(dialogue: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """One row per turn: turn number, speaker, utterance, polarity, score (2 decimals), MELD and IEMOCAP emotions."""
    turns = dialogue["dialogue"]
    if len(turns) != len(predictions):
        raise ValueError(f"{len(turns)} turns but {len(predictions)} predictions")
    return [
        [
            turn_number,
            turn.get("speaker", ""),
            turn["text"],
            p["polarity"],
            round(float(p["score"]), 2),
            p["emotion"],
            p["iemocap_emotion"],
        ]
        for turn_number, (turn, p) in enumerate(zip(turns, predictions, strict=True), start=1)
    ]


def dialogue_plot_frame(dialogue: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]]):
    """A pandas DataFrame for the turn plot: ``turn``, ``score``, ``emotion`` (MELD), ``speaker``, ``utterance``.

    ``turn`` is the turn number as a string: the plot then has one tick per turn (a number axis would tick 1.1, 1.2,
    ...); :func:`dialogue_plot` keeps them in turn order."""
    import pandas as pd

    rows = dialogue_table(dialogue, predictions)
    return pd.DataFrame(
        {
            "turn": [str(row[0]) for row in rows],
            "score": [row[4] for row in rows],
            "emotion": [row[5] for row in rows],
            "speaker": [row[1] or "-" for row in rows],
            "utterance": [row[2] for row in rows],
        }
    )


def header_markdown(model_name: str) -> str:
    """The app's title and what it does, naming the model served."""
    return (
        "# UniMSE: multimodal sentiment and emotion\n"
        "Type an utterance (optionally with its speaker, the conversation around it and acoustic/visual frame "
        "features) or a whole dialogue, and see the sentiment polarity, the score on MOSI's -3..3 scale and the "
        "emotion in MELD's 7 and IEMOCAP's 6 classes, as one generated *universal label* "
        "(`polarity,score,meld_emotion,iemocap_emotion`, [UniMSE](https://arxiv.org/abs/2211.11256), EMNLP 2022). "
        f"Model: `{model_name}`."
    )


# --------------------------------------------------------------------------------------------------- model
def resolve_model(model: str | os.PathLike | None) -> tuple[str, bool]:
    """The model to serve and whether it is ``make demo``'s smoke model.

    ``model`` if given; else ``$UNIMSE_APP_MODEL``; else ``demo-output/model`` of the working directory if it exists.
    Raises ``FileNotFoundError`` with what to do when there is none, or when the one named is a path (not a Hub id
    ``ORG/NAME``) but no folder.
    """
    if model is not None and str(model):
        chosen, source = str(model), "--model"
    elif os.environ.get(MODEL_ENV):
        chosen, source = os.environ[MODEL_ENV], f"${MODEL_ENV}"
    elif DEMO_MODEL_DIR.is_dir():
        return str(DEMO_MODEL_DIR), True
    else:
        raise FileNotFoundError(
            f"no model to serve: pass --model DIR_OR_HUB_ID (a UniMSE folder or Hub id), set ${MODEL_ENV}, or run "
            f"`make demo` first (it saves a small smoke model in {DEMO_MODEL_DIR}/, which is served by default from "
            "the repository root)"
        )
    if not Path(chosen).is_dir() and _looks_like_a_path(chosen):
        problem = "a file" if Path(chosen).exists() else "no such folder"
        raise FileNotFoundError(
            f"{source} must be a UniMSE model folder or a Hub id (ORG/NAME), got {chosen!r}: {problem}"
        )
    return chosen, _is_demo_model(chosen)


def _looks_like_a_path(model: str) -> bool:
    """Whether ``model`` can only be a local path: a Hub id is ``NAME`` or ``ORG/NAME``, never absolute, ``./``,
    ``~`` or deeper."""
    return Path(model).exists() or model.startswith((".", "~", os.sep)) or model.count("/") > 1 or "\\" in model


def _is_demo_model(model: str) -> bool:
    """Whether ``model`` is a folder ``make demo`` saved: ``demo-output/model``, or a ``model/`` beside the
    ``demo_summary.json`` of a ``run_demo.py --out`` folder."""
    path = Path(model)
    try:
        return path.is_dir() and (
            path.resolve() == DEMO_MODEL_DIR.resolve() or (path.parent / "demo_summary.json").is_file()
        )
    except OSError:
        return False


def load_pipeline(model: str):
    """``pipeline("multimodal-sentiment", model=model)`` (``import unimse_hf`` registers the task)."""
    from transformers import pipeline

    import unimse_hf  # noqa: F401  (registers the task)

    from .pipeline_unimse import TASK

    return pipeline(TASK, model=model)


def supported_media(pipe) -> tuple[str, ...]:
    """The raw media keys (``audio``, ``video``) the pipeline accepts (its module's ``UTTERANCE_KEYS``) and its
    feature extractor can turn into frames (``extract_media``, docs/media.md); empty for a frames-only model."""
    import sys

    if not hasattr(pipe.processor.feature_extractor, "extract_media"):
        return ()
    keys = getattr(sys.modules.get(type(pipe).__module__), "UTTERANCE_KEYS", ())
    return tuple(key for key in MEDIA_KEYS if key in keys)


def check_address(host: str, port: int | None) -> None:
    """Raise ``ValueError`` naming ``--host`` / ``--port`` when the app could not listen there (a port out of range
    or taken, a host that is not an address of this machine); checked before the model loads."""
    import socket

    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"--port must be a port number from 1 to 65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(
            f"--host must be an address or name of this machine (127.0.0.1, 0.0.0.0, ...), got {host!r}: {error}"
        ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as error:
            where = f"--host {host} --port {port}" if port else f"--host {host}"
            raise ValueError(f"cannot listen on {where}: {error.strerror or error}") from None


# --------------------------------------------------------------------------------------------------- the app
class Predictor:
    """The app's only way to the model: the pipeline, one call at a time (Gradio runs handlers in threads)."""

    def __init__(self, pipe):
        self.pipe = pipe
        self._lock = threading.Lock()

    def __call__(self, inputs, **kwargs):
        with self._lock:
            return self.pipe(inputs, **kwargs)

    def predict(
        self,
        text: str,
        speaker: str = "",
        context_before: list[str] | None = None,
        context_after: list[str] | None = None,
        acoustic: list[list[float]] | None = None,
        visual: list[list[float]] | None = None,
        return_probabilities: bool = False,
    ) -> dict:
        """The pipeline's prediction for one utterance (``context_*``: one utterance per item, optionally
        ``Speaker: text``; ``acoustic``/``visual``: ``(frames, dim)`` lists of frames)."""

        def item():
            return utterance_input(
                text, speaker, "\n".join(context_before or []), "\n".join(context_after or []), acoustic, visual
            )

        return self._api_call(item, return_probabilities=return_probabilities)

    def predict_dialogue(self, dialogue: list[dict], context_mode: str | None = None) -> list[dict]:
        """The pipeline's predictions for a dialogue: ``dialogue`` is a list of ``{"speaker"?, "text"}``;
        ``context_mode`` ``"bidirectional"`` or ``"past"`` (default: the model's)."""

        def item():
            if not isinstance(dialogue, list) or not all(isinstance(turn, Mapping) for turn in dialogue):
                raise AppInputError(f"dialogue must be a list of {{'speaker', 'text'}} dicts, got {dialogue!r:.80}")
            return dialogue_input([[turn.get("speaker", ""), turn.get("text", "")] for turn in dialogue])

        return self._api_call(item, context_mode=context_mode)

    def _api_call(self, make_input, **kwargs):
        """The pipeline on ``make_input()``; an invalid input raises ``gr.Error`` with the friendly message (what
        ``gradio_client`` shows), never a traceback."""
        import gradio as gr

        try:
            return self(make_input(), **kwargs)
        except INPUT_ERRORS as error:
            raise gr.Error(friendly_error(error), print_exception=False) from None


def build_app(model: Any = None, *, smoke_model: bool | None = None, title: str = "UniMSE demo"):
    """The Gradio Blocks of the demo on ``model``: a ``MultimodalSentimentPipeline``, a model folder or Hub id, or
    ``None`` (see :func:`resolve_model`). ``smoke_model`` shows the banner saying it is ``make demo``'s smoke model
    (default: when the model is one ``make demo`` saved). Raises ``ImportError`` naming the ``app`` extra without
    gradio."""
    gr = _import_gradio()
    if model is None or isinstance(model, (str, os.PathLike)):
        name, is_demo = resolve_model(model)
        pipe = load_pipeline(name)
    else:
        pipe, is_demo = model, False
        name = getattr(pipe.model.config, "_name_or_path", "") or type(pipe.model).__name__
    smoke_model = is_demo if smoke_model is None else smoke_model
    predictor = Predictor(pipe)
    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(header_markdown(name), elem_id="header")
        if smoke_model:
            gr.Markdown(SMOKE_MODEL_NOTE, elem_id="smoke-banner")
        with gr.Tabs():
            with gr.Tab("Utterance", id="utterance", elem_id="tab-utterance"):
                _utterance_tab(gr, predictor, supported_media(pipe))
            with gr.Tab("Dialogue", id="dialogue", elem_id="tab-dialogue"):
                _dialogue_tab(gr, predictor)
        gr.api(predictor.predict, api_name="predict")
        gr.api(predictor.predict_dialogue, api_name="predict_dialogue")
    app.unimse_pipeline = pipe  # the pipeline behind the app, for tests and callers
    app.unimse_smoke_model = smoke_model
    return app


def _utterance_tab(gr, predictor: Predictor, media: tuple[str, ...]) -> None:
    """The Utterance tab's components and its event (inside the Blocks being built)."""
    config = predictor.pipe.model.config

    def analyse(text, speaker, context_before, context_after, acoustic_file, visual_file, *media_values):
        try:
            item = utterance_input(
                text,
                speaker,
                context_before,
                context_after,
                load_features(acoustic_file, "acoustic"),
                load_features(visual_file, "visual"),
                **dict(zip(media, media_values, strict=True)),
            )
            prediction = predictor(item, return_probabilities=True)
        except INPUT_ERRORS as error:
            return _utterance_outputs(None, friendly_error(error))
        return _utterance_outputs(format_prediction(prediction), "")

    with gr.Row():
        with gr.Column(scale=1):
            text = gr.Textbox(
                label="Utterance", lines=2, placeholder="I can't believe you did that!", elem_id="utterance-text"
            )
            speaker = gr.Textbox(label="Speaker (optional)", placeholder="Monica", elem_id="utterance-speaker")
            with gr.Accordion("Conversation context (optional)", open=False):
                context_before = gr.Textbox(
                    label="Before the utterance, oldest first",
                    lines=3,
                    elem_id="context-before",
                    placeholder=CONTEXT_PLACEHOLDER,
                )
                context_after = gr.Textbox(
                    label="After the utterance", lines=2, elem_id="context-after", placeholder="one utterance per line"
                )
            with gr.Accordion("Acoustic / visual features (optional)", open=False, elem_id="utterance-features"):
                gr.Markdown(
                    f"Precomputed features as `.npy` files of a `(frames, dim)` float array: acoustic dim "
                    f"**{config.acoustic_dim}**, visual dim **{config.visual_dim}** for this model (the features it "
                    "was trained with, e.g. COVAREP and FACET for MOSI)."
                    + (
                        " Or the audio / video itself: the frames are computed from it (docs/media.md)."
                        if media
                        else ""
                    )
                )
                with gr.Row():
                    acoustic = gr.File(label="acoustic .npy", file_types=[".npy"], elem_id="acoustic-file")
                    visual = gr.File(label="visual .npy", file_types=[".npy"], elem_id="visual-file")
                media_inputs = []
                if "audio" in media:
                    media_inputs.append(gr.Audio(label="audio", type="filepath", elem_id="audio-file"))
                if "video" in media:
                    media_inputs.append(gr.Video(label="video", elem_id="video-file"))
            inputs = [text, speaker, context_before, context_after, acoustic, visual, *media_inputs]
            with gr.Row():
                clear = gr.ClearButton(inputs, elem_id="utterance-clear")
                submit = gr.Button("Analyse", variant="primary", elem_id="utterance-submit")
        with gr.Column(scale=1):
            message = gr.Markdown(visible=False, elem_id="utterance-message")
            scale = gr.HTML(score_scale_html(None), elem_id="utterance-scale")
            with gr.Row():
                polarity = gr.Textbox(label="Polarity", interactive=False, elem_id="out-polarity")
                score = gr.Number(
                    None,
                    label=f"Score ({SCORE_RANGE[0]:g} .. {SCORE_RANGE[1]:g})",
                    interactive=False,
                    elem_id="out-score",
                )
            with gr.Row():
                emotion = gr.Textbox(label="Emotion (MELD)", interactive=False, elem_id="out-emotion")
                iemocap = gr.Textbox(label="Emotion (IEMOCAP)", interactive=False, elem_id="out-iemocap")
            confidences = gr.Label(
                label="Confidence of each generated field",
                num_top_classes=4,
                show_heading=False,
                elem_id="out-confidences",
            )
            gr.Markdown(PROBABILITY_NOTE, elem_classes=["unimse-note"])
            generated = gr.Textbox(label="Generated universal label", interactive=False, elem_id="out-generated")
    outputs = [message, scale, polarity, score, emotion, iemocap, confidences, generated]
    for trigger in (submit.click, text.submit):
        trigger(analyse, inputs, outputs, api_visibility="private")
    # cleared in the browser, as ClearButton clears (no round trip to race with a following Analyse); the score bar
    # goes back to its empty scale rather than to nothing
    clear.add([message, polarity, score, emotion, iemocap, confidences, generated])
    clear.click(None, None, scale, js=f"() => {json.dumps(score_scale_html(None))}", api_visibility="private")
    gr.Examples(
        EXAMPLE_UTTERANCES,
        [text, speaker, context_before, context_after],
        label="Examples (click one, then Analyse)",
        elem_id="utterance-examples",
    )


def _dialogue_tab(gr, predictor: Predictor) -> None:
    """The Dialogue tab's components and its event (inside the Blocks being built)."""
    default_mode = getattr(predictor.pipe.processor, "context_mode", None) or "bidirectional"

    def analyse(rows, context_mode):
        try:
            dialogue = dialogue_input(rows)
            predictions = predictor(dialogue, context_mode=context_mode)
        except INPUT_ERRORS as error:
            return _message(friendly_error(error)), [], None
        return _message(""), dialogue_table(dialogue, predictions), dialogue_plot(dialogue, predictions)

    rows = gr.Dataframe(
        value=EXAMPLE_DIALOGUES[0],
        headers=DIALOGUE_HEADERS,
        datatype=["str", "str"],
        type="array",
        column_count=2,
        interactive=True,
        label="Dialogue: one row per turn (speaker, utterance); click a cell to edit it",
        elem_id="dialogue-rows",
    )
    with gr.Row():
        context_mode = gr.Radio(
            ["bidirectional", "past"],
            value=default_mode,
            label="Context of each turn (past: earlier turns only, for streaming)",
        )
        submit = gr.Button("Analyse dialogue", variant="primary", elem_id="dialogue-submit")
    message = gr.Markdown(visible=False, elem_id="dialogue-message")
    table = gr.Dataframe(
        headers=RESULT_HEADERS,
        interactive=False,
        label="Prediction per turn",
        elem_id="dialogue-results",
        wrap=True,
        column_widths=RESULT_WIDTHS,
    )
    plot = gr.ScatterPlot(
        x="turn",
        y="score",
        color="emotion",
        y_lim=[SCORE_RANGE[0], SCORE_RANGE[1]],
        tooltip=["turn", "speaker", "utterance", "score", "emotion"],
        x_title="turn",
        y_title=f"score ({SCORE_RANGE[0]:g} .. {SCORE_RANGE[1]:g})",
        color_title="MELD emotion",
        label="Score and emotion over the turns",
        elem_id="dialogue-plot",
    )
    submit.click(analyse, [rows, context_mode], [message, table, plot], api_visibility="private")
    gr.Examples(
        [[example] for example in EXAMPLE_DIALOGUES], [rows], label="Example dialogues", elem_id="dialogue-examples"
    )


def dialogue_plot(dialogue: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]]):
    """The turn plot's new value: :func:`dialogue_plot_frame`, its turns sorted in order (not as text)."""
    import gradio as gr

    frame = dialogue_plot_frame(dialogue, predictions)
    return gr.ScatterPlot(value=frame, sort=frame["turn"].tolist())


def _message(text: str):
    """A warning Markdown update, hidden when ``text`` is empty."""
    import gradio as gr

    return gr.Markdown(value=f"⚠️ {text}" if text else "", visible=bool(text))


def _utterance_outputs(values: Mapping[str, Any] | None, error: str) -> tuple:
    """The utterance tab's outputs for :func:`format_prediction`'s values, or cleared with ``error`` shown."""
    if values is None:
        return _message(error), score_scale_html(None), "", None, "", "", None, ""
    return (
        _message(values["note"]),
        values["scale"],
        values["polarity"],
        values["score"],
        values["emotion"],
        values["iemocap_emotion"],
        values["confidences"] or None,
        values["generated"],
    )


def _import_gradio():
    try:
        import gradio as gr
    except ImportError as error:
        raise ImportError(
            "the unimse-hf web demo needs gradio: pip install 'unimse-hf[app]' (or pip install 'gradio>=6.1')"
        ) from error
    return gr


def theme():
    """The app's theme: Gradio's default with local fonts (no font download: the app also runs offline)."""
    gr = _import_gradio()
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def launch(app, host: str = "127.0.0.1", port: int | None = None, **kwargs):
    """``app.launch`` with the app's theme and CSS (Gradio 6 takes them at launch); ``port=None``: the first free
    port from 7860."""
    return app.launch(server_name=host, server_port=port, theme=theme(), css=CSS, **kwargs)


def main(argv: list[str] | None = None) -> int:
    """``python -m unimse_hf.app [--model DIR_OR_HUB_ID] [--host H] [--port N]``: the same as ``unimse-hf app``."""
    import sys

    from .cli import main as cli_main

    return cli_main(["app", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
