"""MELD/IEMOCAP feature pickles (docs/datasets.md): the UniMSE dict layout and DialogueRNN's MELD tuple.

- UniMSE ``meld_data_0610.pkl`` / ``iemocap_data_0610.pkl``: ``{"audio": [train, dev, test], "video": [train,
  dev, test]}``, each a dict ``key -> (T, d)``; MELD keys are ``"{Dialogue_ID}_{Utterance_ID}"`` inside the
  split, IEMOCAP keys are turn ids. Sequences are used as stored (ERC length = number of frames, as UniMSE).
- DialogueRNN ``MELD_features_raw.pkl``: ``(videoIDs, videoSpeakers, videoLabels7, videoText, videoAudio,
  videoSentence, trainVid, testVid, videoLabels3)``, keyed by dialogue. ``videoAudio[dia]`` holds one vector per
  utterance; each becomes a **1-frame sequence** ``(1, d)`` (acoustic only; ``videoText`` is not a frame
  feature). The file numbers dialogues across splits; the reader maps a key ``k`` to (split, Dialogue_ID)
  with offsets taken from the CSVs: train ``k``, dev ``k - n_train``, test ``k - n_train - n_dev`` where
  ``n_split = max(Dialogue_ID of split) + 1`` (1039 and 114 for the official CSVs). This numbering is an
  assumption (no DialogueRNN file could be checked here); utterances are taken from ``videoIDs[dia]`` when
  those are integers, else by position, and every key that maps to no CSV row is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from unimse_hf.data.schema import SPLITS

from .features import MODALITY_NAMES, FeatureTable, clean_frames
from .report import ReadReport
from .segment_ids import to_text
from .splits import SPLIT_ALIASES


def _split_parts(value: object, source: str, key: str) -> list[tuple[str, Mapping]]:
    """``[(split, dict)]`` from a ``[train, dev, test]`` list or a dict keyed by split names (or their aliases)."""
    if isinstance(value, Mapping) and set(value) <= set(SPLIT_ALIASES):
        return [(SPLIT_ALIASES[name], part) for name, part in value.items()]
    if isinstance(value, Sequence) and len(value) == 3 and all(isinstance(p, Mapping) for p in value):
        return list(zip(SPLITS, value, strict=True))
    raise ValueError(
        f"{source}: {key!r} must be a list [train, dev, test] of dicts (UniMSE layout), got {type(value).__name__}"
    )


def read_unimse_erc_pickle(
    data: object,
    key_to_id: Callable[[str, str], str | None],
    source: str,
    feature_set: str,
    report: ReadReport,
) -> list[FeatureTable]:
    """Feature tables from a loaded UniMSE ERC pickle; ``key_to_id(split, key)`` gives the row id."""
    if not isinstance(data, Mapping) or not any(k in data for k in ("audio", "video", "vision")):
        found = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(f"{source}: a UniMSE feature pickle must be a dict with 'audio'/'video' keys, got {found}")
    tables = []
    for file_key in ("audio", "video", "vision"):
        if file_key not in data:
            continue
        modality = MODALITY_NAMES[file_key]
        table = FeatureTable(modality, feature_set)
        for split, part in _split_parts(data[file_key], source, file_key):
            for key, frames in part.items():
                text_key = to_text(key)
                row_id = key_to_id(split, text_key)
                if row_id is None:
                    report.note(split, f"{modality}: feature key {text_key!r} is not an utterance key", text_key)
                    continue
                if row_id in table.arrays:
                    report.note(split, f"{modality}: duplicate feature id (first kept)", row_id)
                    continue
                table.arrays[row_id] = clean_frames(frames, modality, report, split, row_id, source)
                table.splits[row_id] = split
        tables.append(table)
    return tables


def read_dialoguernn_meld(
    data: object,
    dialogue_offsets: Mapping[str, int],
    id_of: Callable[[str, int, int], str],
    source: str,
    feature_set: str,
    report: ReadReport,
) -> FeatureTable:
    """The acoustic table of a loaded DialogueRNN MELD tuple (see the module docstring).

    Args:
        dialogue_offsets: ``split -> first dialogue key of that split`` (``{"train": 0, "validation": 1039,
            "test": 1153}`` for the official CSVs).
        id_of: ``(split, dialogue_id, utterance_id) -> row id``.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 9:
        raise ValueError(
            f"{source}: a DialogueRNN MELD pickle must be a 9-tuple (videoIDs, videoSpeakers, videoLabels, "
            f"videoText, videoAudio, videoSentence, trainVid, testVid, videoLabels3), got {type(data).__name__}"
        )
    video_ids, video_audio, test_vid = data[0], data[4], {int(k) for k in data[7]}
    starts = sorted(dialogue_offsets.items(), key=lambda item: item[1])
    table = FeatureTable("acoustic", feature_set)
    for key, vectors in video_audio.items():
        number = int(key)
        split, start = next(((s, o) for s, o in reversed(starts) if number >= o), (None, 0))
        if split is None:
            report.note("", "acoustic: DialogueRNN dialogue key below every split offset", str(key))
            continue
        if (split == "test") != (number in test_vid):
            report.note(split, "acoustic: DialogueRNN testVid disagrees with the CSV-derived split", str(key))
        utterances = list(video_ids.get(key, [])) if isinstance(video_ids, Mapping) else []
        vectors = np.asarray(vectors)
        if len(utterances) != len(vectors) or not all(isinstance(u, (int, np.integer)) for u in utterances):
            report.note(split, "acoustic: DialogueRNN videoIDs unusable, utterance ids taken by position", str(key))
            utterances = list(range(len(vectors)))
        for utterance, vector in zip(utterances, vectors, strict=True):
            row_id = id_of(split, number - start, int(utterance))
            table.arrays[row_id] = clean_frames(vector, "acoustic", report, split, row_id, source)
            table.splits[row_id] = split
    return table
