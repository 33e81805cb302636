"""Readers on the real label files in ../shared/data (skipped when that folder is absent)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hub_datasets import read_mosei, read_mosi
from unimse_hf.labels import POLARITIES, polarity_from_score

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.parametrize(
    ("reader", "corpus", "counts"),
    [(read_mosi, "mosi", (1284, 229, 686)), (read_mosei, "mosei", (16326, 1871, 4659))],
)
def test_real_mmsa_labels(reader, corpus, counts):
    folder = DATA / corpus
    if not (folder / "label.csv").is_file():
        pytest.skip(f"real {corpus} label.csv not found at {folder}")
    rows, report = reader(folder)
    assert dict(report.rows) == dict(zip(("train", "validation", "test"), counts, strict=True))
    assert report.total("dropped") == 0
    assert len({r["id"] for r in rows}) == len(rows) == sum(counts)
    for row in rows:
        assert math.isfinite(row["score"]) and -3 <= row["score"] <= 3
        assert row["polarity"] == polarity_from_score(row["score"]) and row["polarity"] in POLARITIES
        assert row["text"] and row["text"] == row["text"].lower() and "  " not in row["text"]
        assert "$_$" in row["id"] and row["corpus"] == corpus
    if corpus == "mosi":  # the one MOSI row whose MMSA annotation disagrees with sign(score)
        assert report.total("note", "annotation disagrees with sign(score); polarity follows the score") == 1
        assert {r["id"]: r["text"] for r in rows}["03bSnISJMiM$_$11"] == "a lot of sad parts"


def test_real_mosi_segment_tables_cover_every_clip():
    folder = DATA / "mosi"
    if not (folder / "segments").is_dir():
        pytest.skip(f"real MOSI segment tables not found at {folder / 'segments'}")
    from hub_datasets.csd import read_segments

    segments = read_segments(folder / "segments")
    ids = {f"{s.video_id}$_${s.clip_id}" for video in segments.values() for s in video}
    rows, _ = read_mosi(folder)
    assert ids == {r["id"] for r in rows}
    assert all(s.start <= s.stop for video in segments.values() for s in video)
    # one zero-length clip in the real tables; the .csd overlap rule still gives it the frame covering that time
    assert [f"{s.video_id}$_${s.clip_id}" for v in segments.values() for s in v if s.start == s.stop] == [
        "2WGyTLYerpo$_$44"
    ]
