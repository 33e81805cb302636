"""Builds from the real MOSI / MOSEI / MELD files in ../shared/data (skipped when they are absent)."""

from pathlib import Path

import pytest
from datasets import load_dataset

from hub_datasets.build import build_dataset
from unimse_hf.data.report import BuildReport

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EXPECTED_ROWS = {
    "meld": {"train": 9_989, "validation": 1_109, "test": 2_610},
    "mosi": {"train": 1_284, "validation": 229, "test": 686},
    "mosei": {"train": 16_326, "validation": 1_871, "test": 4_659},
}

pytestmark = pytest.mark.skipif(
    not all((SHARED_DATA / c).is_dir() for c in EXPECTED_ROWS),
    reason=f"real MOSI/MOSEI/MELD files not found under {SHARED_DATA}",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")
    results = {c: build_dataset(c, {c: SHARED_DATA / c}, folder, show_progress=False) for c in EXPECTED_ROWS}
    return folder, results


@pytest.mark.parametrize("corpus", list(EXPECTED_ROWS))
def test_real_corpus_counts_ids_and_round_trip(built, corpus, tmp_path):
    folder, results = built
    dataset = results[corpus].dataset
    assert {split: len(ds) for split, ds in dataset.items()} == EXPECTED_ROWS[corpus]
    ids = [i for ds in dataset.values() for i in ds["id"]]
    assert len(ids) == len(set(ids))
    assert results[corpus].report.total("dropped") == 0
    loaded = load_dataset(str(folder), corpus, cache_dir=str(tmp_path / "cache"))
    for split, ds in dataset.items():
        assert loaded[split].features == ds.features
        assert loaded[split].data.table.equals(ds.data.table)
        assert loaded[split].to_dict() == ds.to_dict()


def test_real_official_moseld_drops_the_known_rows(tmp_path):
    result = build_dataset(
        "moseld",
        {c: SHARED_DATA / c for c in ("mosi", "mosei", "meld")},
        tmp_path,
        pseudo_labels="official",
        show_progress=False,
    )
    report: BuildReport = result.report
    # docs/datasets.md: 17 MOSI, 178 MOSEI and 257 MELD training rows carry a v4 IEMOCAP label outside the 6 classes
    assert {c: report.total("dropped", step="mixture", corpus=c) for c in ("mosi", "mosei", "meld")} == {
        "mosi": 17,
        "mosei": 178,
        "meld": 257,
    }
    assert report.total(reason="v4 padding row (Dialogue_ID = -1) skipped") == 3
    assert report.total(reason="no v4 row matches this row id") == 0
    assert len(result.dataset["train"]) == 1_284 + 16_326 + 9_989 - 452
    assert all(label is not None for label in result.dataset["train"]["universal_label"])
