"""Batch prediction over a JSON-lines file with the ``"multimodal-sentiment"`` pipeline (``unimse-hf predict``).

Input: one JSON object per line, either an utterance ``{"text", "speaker"?, "context_before"?, "context_after"?,
"acoustic"?, "visual"?}`` or a dialogue ``{"dialogue": [{"text", "speaker"?, "acoustic"?, "visual"?}, ...]}``, plus
an optional ``"id"`` (a str or an int). A feature (``acoustic``/``visual``) is a path to a ``.npy`` file holding a
``(frames, dim)`` array (relative paths resolve against the input file's folder, or the working directory for
stdin; loaded with ``allow_pickle=False``), an inline list of frames (lists of numbers), or ``null`` (no frames).

Output: one JSON object per non-blank input line, in input order (blank lines are skipped):

- ``{"id": ..., "line": N, "prediction": {...}}``: the pipeline's output, a list of them for a dialogue;
- ``{"id": ..., "line": N, "error": "line N...: ..."}``: the line could not be predicted; the message names the line
  and the field, what was expected and what came.

``line`` is the 1-based line number in the input; ``id`` is the row's ``"id"``, else its line number (ids are copied,
not checked for uniqueness). The input is read lazily and predicted in chunks of ``chunk_size`` lines; each chunk's
results are written and flushed before the next chunk is read, so memory does not grow with the input. A chunk whose
batched prediction fails is retried one row at a time, so a row that breaks the model fails alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np
from tqdm.auto import tqdm

from .data.schema import MODALITIES

#: exit status of ``unimse-hf predict`` when the output is complete but some lines hold an ``"error"``
EXIT_LINE_ERRORS = 3
#: errors listed in the summary (the others are counted); each message is cut to :data:`MAX_ERROR_CHARS`
MAX_LISTED_ERRORS = 10
MAX_ERROR_CHARS = 300


@dataclass
class PredictSummary:
    """Counts of a run and the first :data:`MAX_LISTED_ERRORS` error messages."""

    lines: int = 0  # non-blank input lines, one output line each
    predicted: int = 0
    errors: int = 0
    blank: int = 0
    first_errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        blank = f" ({self.blank} blank lines skipped)" if self.blank else ""
        text = f"{self.lines} lines, {self.predicted} predicted, {self.errors} errors{blank}"
        if self.errors:
            listed = [m if len(m) <= MAX_ERROR_CHARS else m[: MAX_ERROR_CHARS - 3] + "..." for m in self.first_errors]
            text += "; errors:\n" + "\n".join(f"  {message}" for message in listed)
            if self.errors > len(listed):
                text += f'\n  ... and {self.errors - len(listed)} more (the output lines with an "error" field)'
        return text


@dataclass
class _Row:
    line: int
    id: str | int
    item: dict | None = None
    prediction: Any = None
    error: str | None = None

    def output(self) -> dict[str, Any]:
        result = {"id": self.id, "line": self.line}
        if self.error is None:
            result["prediction"] = self.prediction
        else:
            result["error"] = self.error
        return result


def predict_lines(
    pipe,
    lines: Iterable[bytes | str],
    out: IO[str],
    *,
    base_dir: str | Path = ".",
    chunk_size: int = 256,
    progress: Callable[[int], object] | None = None,
) -> PredictSummary:
    """Predict every line of ``lines`` (JSON objects, bytes or str) with ``pipe`` and write one JSON line per
    non-blank input line to ``out`` (see the module docstring).

    ``lines`` is consumed ``chunk_size`` lines at a time; each chunk is predicted (``pipe(items)``, batched by the
    pipeline's ``batch_size``), written and flushed before the next is read. ``base_dir`` resolves relative feature
    paths; ``progress`` is called with the number of input lines done after each chunk.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    summary = PredictSummary()
    numbered = enumerate(lines, start=1)
    while chunk := list(islice(numbered, chunk_size)):
        rows = [_parse_row(pipe, number, line, Path(base_dir)) for number, line in chunk]
        _predict_rows(pipe, [row for row in rows if row is not None and row.error is None])
        for row in rows:
            if row is None:
                summary.blank += 1
                continue
            out.write(json.dumps(row.output()) + "\n")
            summary.lines += 1
            if row.error is None:
                summary.predicted += 1
            else:
                summary.errors += 1
                if len(summary.first_errors) < MAX_LISTED_ERRORS:
                    summary.first_errors.append(row.error)
        out.flush()
        if progress is not None:
            progress(len(chunk))
    return summary


def predict_jsonl(
    pipe, input_path: str | Path, output_path: str | Path, *, chunk_size: int = 256, show_progress: bool = False
) -> PredictSummary:
    """:func:`predict_lines` from the file ``input_path`` to the file ``output_path`` (``"-"``: stdin / stdout). With
    ``show_progress``, a tqdm bar over the input lines goes to stderr (its total counted first for a file)."""
    from_stdin = str(input_path) == "-"
    with ExitStack() as stack:
        lines = sys.stdin.buffer if from_stdin else stack.enter_context(open(input_path, "rb"))
        out = sys.stdout if str(output_path) == "-" else stack.enter_context(open(output_path, "w", encoding="utf-8"))
        total = _count_lines(input_path) if show_progress and not from_stdin else None
        bar = stack.enter_context(
            tqdm(total=total, unit="line", desc="predict", disable=not show_progress, file=sys.stderr)
        )
        base_dir = Path.cwd() if from_stdin else Path(input_path).resolve().parent
        return predict_lines(pipe, lines, out, base_dir=base_dir, chunk_size=chunk_size, progress=bar.update)


def _count_lines(path: str | Path) -> int:
    """Lines of a file, read in 1 MiB blocks (a last line without a newline counts)."""
    count, last = 0, b"\n"
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _parse_row(pipe, number: int, line: bytes | str, base_dir: Path) -> _Row | None:
    """One input line -> a row holding the pipeline input (features loaded) or the error; ``None``: a blank line."""
    name = f"line {number}"
    row = _Row(line=number, id=number)
    try:
        text = line.decode("utf-8-sig") if isinstance(line, bytes) else line
    except UnicodeDecodeError as error:
        row.error = f"{name}: not valid UTF-8 ({error}); expected one UTF-8 JSON object per line"
        return row
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # also numbers of over 4300 digits, nesting too deep to parse
        detail = f"{error.msg} at column {error.colno}" if isinstance(error, json.JSONDecodeError) else str(error)
        row.error = f"{name}: not valid JSON ({detail}); expected one JSON object per line, got {text.strip()!r:.80}"
        return row
    if not isinstance(value, dict):
        row.error = (
            f'{name}: expected a JSON object ({{"text": ...}} or {{"dialogue": [...]}}), got a JSON '
            f"{_json_type(value)}: {text.strip()!r:.80}"
        )
        return row
    row_id = value.pop("id", number)
    if isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
        row.error = f"{name}['id'] must be a str or an int, got a JSON {_json_type(row_id)}: {row_id!r:.80}"
        return row
    row.id = row_id
    sources: dict[str, Path] = {}  # field name -> the .npy file its frames came from
    try:
        row.item = _with_frames(value, name, base_dir, sources)
        pipe.normalize_input(row.item, name=name)
    except Exception as error:  # OSError, TypeError, ValueError name the field; others (an int too large for
        # float32: OverflowError) are still this line's error only
        message = str(error) if isinstance(error, (OSError, TypeError, ValueError)) else f"{name}: {error!r}"
        origin = next((path for field_name, path in sources.items() if message.startswith(field_name)), None)
        row.error = message if origin is None else f"{message} (read from {str(origin)!r})"
    return row


def _with_frames(item: dict, name: str, base_dir: Path, sources: dict[str, Path]) -> dict:
    """``item`` with every feature path (of the utterance, or of each dialogue turn) replaced by its array."""
    turns = item.get("dialogue")
    if isinstance(turns, list):
        return {
            **item,
            "dialogue": [
                _turn_frames(turn, f"{name}['dialogue'][{i}]", base_dir, sources) if isinstance(turn, dict) else turn
                for i, turn in enumerate(turns)
            ],
        }
    return _turn_frames(item, name, base_dir, sources)


def _turn_frames(turn: dict, name: str, base_dir: Path, sources: dict[str, Path]) -> dict:
    turn = dict(turn)
    for modality in MODALITIES:
        if isinstance(turn.get(modality), str):
            field_name = f"{name}[{modality!r}]"
            path = base_dir / turn[modality]
            turn[modality] = _load_npy(path, turn[modality], field_name)
            sources[field_name] = path
    return turn


def _load_npy(path: Path, given: str, name: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(
            f"{name}: feature file {given!r} not found (looked for {str(path)!r}); expected a .npy file of "
            "(frames, dim) features, relative to the input file's folder"
        )
    magic = np.lib.format.MAGIC_PREFIX
    try:
        with open(path, "rb") as file:
            if file.read(len(magic)) != magic:
                raise ValueError("it has no NumPy header")  # e.g. a .npz archive, a text or pickle file
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(
            f"{name}: could not read {str(path)!r} as a .npy array of (frames, dim) features: {error}"
        ) from error


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _predict_rows(pipe, rows: list[_Row]) -> None:
    """Set each row's prediction: one batched call, or one call per row if the batched one fails."""
    if not rows:
        return
    try:
        predictions = pipe([row.item for row in rows])
    except Exception:  # a row that breaks the model must not take its neighbours down: retry them one at a time
        for row in rows:
            try:
                row.prediction = pipe(row.item)
            except Exception as error:
                row.error = f"line {row.line}: prediction failed: {type(error).__name__}: {error}"
        return
    for row, prediction in zip(rows, predictions, strict=True):
        row.prediction = prediction


__all__ = ["EXIT_LINE_ERRORS", "PredictSummary", "predict_jsonl", "predict_lines"]
