"""Cut the demo's data slice (``demo/data/``) out of the full MELD, CMU-MOSI and CMU-MOSEI label files.

Whole MELD dialogues and whole MOSI/MOSEI videos are kept, each in its official split (MELD's three files, the
MMSA ``mode`` column = the CMU standard folds), so dialogue context stays complete and no video straddles two
splits. Per split, the dialogues/videos are shuffled with a fixed seed and taken while the row count stays within
:data:`TARGET_ROWS`; rows keep their order and bytes of text. The output is deterministic: running the script again
on the same files gives identical files. ``slice.json`` records the source sha256s, the chosen groups and the
counts.

Usage: ``python demo/make_slice.py --source DATA_ROOT [--out demo/data]``, where DATA_ROOT holds
``meld/{train,dev,test}_sent_emo.csv``, ``mosi/label.csv`` and ``mosei/label.csv`` (the official MELD CSVs and the
MMSA label files, docs/datasets.md#label-files).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from pathlib import Path

#: corpus -> split -> most rows to keep (whole groups only)
TARGET_ROWS = {
    "meld": {"train": 600, "dev": 120, "test": 240},
    "mosi": {"train": 400, "valid": 80, "test": 160},
    "mosei": {"train": 300, "valid": 60, "test": 120},
}
#: corpus -> (file per split, column naming the split or None, column naming the group)
LAYOUT = {
    "meld": ("{split}_sent_emo.csv", None, "Dialogue_ID"),
    "mosi": ("label.csv", "mode", "video_id"),
    "mosei": ("label.csv", "mode", "video_id"),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> tuple[list[str], list[list[str]], str]:
    """Header, rows and line terminator of a CSV file."""
    if not path.is_file():
        raise SystemExit(f"make_slice: {path} is not a file (see --help for the expected layout)")
    raw = path.read_bytes()
    terminator = "\r\n" if b"\r\n" in raw[: raw.find(b"\n") + 1] else "\n"
    rows = list(csv.reader(raw.decode("utf-8").splitlines(keepends=True)))
    return rows[0], rows[1:], terminator


def _chosen_groups(rows: list[list[str]], group_column: int, target: int, seed: str) -> list[str]:
    """Groups taken from a seeded shuffle while the row total stays within ``target``, in file order."""
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row[group_column]] = sizes.get(row[group_column], 0) + 1
    order = list(sizes)
    random.Random(seed).shuffle(order)
    chosen, count = set(), 0
    for group in order:
        if count + sizes[group] <= target:
            chosen.add(group)
            count += sizes[group]
    return [group for group in sizes if group in chosen]


def make_slice(source: Path, out: Path) -> dict:
    """Write the slice of every corpus of :data:`TARGET_ROWS` from ``source`` into ``out``; returns the manifest."""
    manifest: dict = {"seed": "unimse-hf demo/<corpus>/<split>", "target_rows": TARGET_ROWS, "corpora": {}}
    for corpus, targets in TARGET_ROWS.items():
        pattern, split_column, group_name = LAYOUT[corpus]
        info: dict = {"sources": {}, "files": {}, "rows": {}, "groups": {}}
        files: dict[str, list[str]] = {}  # file name -> the splits it holds
        for split in targets:
            files.setdefault(pattern.format(split=split), []).append(split)
        for name, splits in files.items():
            header, rows, terminator = _read(source / corpus / name)
            info["sources"][name] = _sha256(source / corpus / name)
            group = header.index(group_name)
            row_splits = [row[header.index(split_column)] for row in rows] if split_column else splits * len(rows)
            kept: set[tuple[str, str]] = set()
            for split in splits:
                in_split = [row for row, row_split in zip(rows, row_splits, strict=True) if row_split == split]
                groups = _chosen_groups(in_split, group, targets[split], f"unimse-hf demo/{corpus}/{split}")
                info["groups"][split] = groups
                info["rows"][split] = sum(row[group] in set(groups) for row in in_split)
                kept.update((split, g) for g in groups)
            selected = [row for row, split in zip(rows, row_splits, strict=True) if (split, row[group]) in kept]
            path = out / corpus / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="") as handle:
                csv.writer(handle, lineterminator=terminator).writerows([header, *selected])
            info["files"][name] = _sha256(path)
        manifest["corpora"][corpus] = info
    (out / "slice.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="folder holding meld/, mosi/ and mosei/")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data", help="slice folder")
    args = parser.parse_args()
    manifest = make_slice(args.source, args.out)
    for corpus, info in manifest["corpora"].items():
        print(f"{corpus}: " + ", ".join(f"{split} {n}" for split, n in info["rows"].items()) + f" rows -> {args.out}")


if __name__ == "__main__":
    main()
