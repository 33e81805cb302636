"""Hub folder (parquet + card), exact round trip through load_dataset, and publishing with a mocked HfApi."""

from types import SimpleNamespace
from unittest.mock import MagicMock

import numpy as np
import pytest
from data_helpers import make_row
from datasets import Dataset, DatasetDict, load_dataset
from huggingface_hub import DatasetCard

from hub_datasets.hub_folder import write_config
from hub_datasets.publish import push_hub_folder
from unimse_hf.data.report import BuildReport
from unimse_hf.data.schema import unified_features


def _dataset(corpus="meld", with_features=True):
    features = unified_features(acoustic_dim=3 if with_features else None)
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", 5), ("validation", 2), ("test", 3)):
        rows = []
        for i in range(n):
            row = make_row(corpus, split, f"text {split} {i}", "positive" if i % 2 else None, meld_emotion="joy")
            row["context_before"], row["speakers_before"] = (["hi", "there"], ["A", "B"]) if i else ([], [])
            if with_features:
                row["acoustic"] = None if i == 1 else rng.normal(size=(i + 1, 3)).astype(np.float32).tolist()
                row["acoustic_feature_set"] = None if i == 1 else "synthetic-3d"
            rows.append(row)
        splits[split] = Dataset.from_list(rows, features=features)
    return DatasetDict(splits)


def _info(corpora, report=None):
    return {
        "corpora": corpora,
        "pseudo_labels": {"method": "none"},
        "sources": {corpora[0]: {"train.csv": "ab" * 32}},
        "report": (report or BuildReport()).to_records(),
    }


def test_round_trip_is_exact_including_none_and_array2d(tmp_path):
    built = _dataset()
    write_config(tmp_path / "hub", "meld", built, _info(["meld"]), max_rows_per_shard=2)
    assert sorted(p.name for p in (tmp_path / "hub" / "meld").iterdir())[:3] == [
        "test-00000-of-00002.parquet",
        "test-00001-of-00002.parquet",
        "train-00000-of-00003.parquet",
    ]
    loaded = load_dataset(str(tmp_path / "hub"), "meld", cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["train", "validation", "test"]
    for split in built:
        assert loaded[split].features == built[split].features
        # Arrow level: every column, nulls included. (datasets 5.2 cannot turn a null Array2D cell into
        # Python: to_dict() raises and row access gives nan, so the Python-level check skips that column.)
        assert loaded[split].data.table.equals(built[split].data.table)
        others = [c for c in built[split].column_names if c != "acoustic"]
        assert loaded[split].select_columns(others).to_dict() == built[split].select_columns(others).to_dict()
        for i in range(len(built[split])):
            if i != 1:
                assert loaded[split][i] == built[split][i]
    assert loaded["train"].data.column("acoustic").null_count == 1 and loaded["train"][0]["polarity"] is None


def test_card_yaml_configs_licences_and_report(tmp_path):
    folder = tmp_path / "hub"
    report = BuildReport()
    report.add("dropped", "read", "mosi", "train", "score is not a finite number", 2)
    write_config(folder, "meld", _dataset(with_features=False), _info(["meld"]))
    write_config(folder, "mosi", _dataset("mosi", with_features=False), _info(["mosi"], report))
    card = DatasetCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["configs"] == [
        {
            "config_name": "meld",
            "default": True,
            "data_files": [{"split": s, "path": f"meld/{s}-*"} for s in ("train", "validation", "test")],
        },
        {
            "config_name": "mosi",
            "data_files": [{"split": s, "path": f"mosi/{s}-*"} for s in ("train", "validation", "test")],
        },
    ]
    assert data["license"] == ["gpl-3.0", "other"]
    assert "| dropped | read | mosi | train | score is not a finite number | 2 |" in card.text
    assert "GPL-3.0" in card.text and "@inproceedings{poria2019meld" in card.text
    assert "@article{zadeh2016mosi" in card.text and "ab" * 32 in card.text
    assert "| `mosi` | mosi | train 5, validation 2, test 3 |" in card.text
    assert len(load_dataset(str(folder), "mosi", cache_dir=str(tmp_path / "cache"))["test"]) == 3


def _mock_api(private=False, gated=False):
    api = MagicMock()
    api.repo_info.return_value = SimpleNamespace(private=private, gated=gated)
    api.upload_folder.return_value = SimpleNamespace(commit_url="https://hub/commit/1")
    return api


def test_push_is_private_by_default(tmp_path):
    write_config(tmp_path, "meld", _dataset(with_features=False), _info(["meld"]))
    api = _mock_api()
    assert push_hub_folder(tmp_path, "me/unified", api=api) == "https://hub/commit/1"
    api.create_repo.assert_called_once_with("me/unified", repo_type="dataset", private=True, exist_ok=True)
    kwargs = api.upload_folder.call_args.kwargs
    assert (kwargs["repo_id"], kwargs["folder_path"], kwargs["repo_type"]) == ("me/unified", tmp_path, "dataset")


def test_iemocap_is_never_pushed_to_a_public_repo(tmp_path):
    write_config(tmp_path, "iemocap", _dataset("iemocap", with_features=False), _info(["iemocap"]))
    api = _mock_api(private=False, gated=False)
    with pytest.raises(ValueError, match=r"refusing to push \['iemocap'\].*private=False"):
        push_hub_folder(tmp_path, "me/public", private=False, api=api)
    api.create_repo.assert_not_called()
    with pytest.raises(ValueError, match="existing repository is public and not gated"):
        push_hub_folder(tmp_path, "me/public", api=api)  # private=True, but the repo already exists public
    api.upload_folder.assert_not_called()
    for api in (_mock_api(private=True), _mock_api(private=False, gated="manual")):
        push_hub_folder(tmp_path, "me/ok", private=not api.repo_info.return_value.gated, api=api)
        api.upload_folder.assert_called_once()
