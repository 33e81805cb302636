"""What a reader did with every input row: kept, dropped (with the reason) or kept with a note.

A reader never drops a row silently. :class:`ReadReport` counts rows per (kind, split, reason) and keeps the
ids behind each count, so "id in labels but not in the features" is both counted and listed.
:meth:`ReadReport.to_records` gives the ``{kind, step, corpus, split, reason, count}`` records that
``unimse_hf.data.report.BuildReport.from_records`` accepts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from unimse_hf.data.report import REPORT_KINDS


@dataclass
class ReadReport:
    """Counts of one reader run: ``dropped`` input rows that are not in the output, and ``note`` rows (or feature
    entries) handled specially, e.g. a row kept with zero frames or features with no label row.

    Not merged with BuildReport: this one keeps the ids, sources and feature sets of one corpus; that one only counts.

    Attributes:
        corpus: the corpus read (``mosi``, ``mosei``, ``meld``, ``iemocap``).
        rows: rows returned, per split.
        counts: ``(kind, split, reason) -> count``; ``split`` is "" when a row has no split yet.
        ids: the ids behind each ``(kind, split, reason)`` count, in input order.
        values: counts of individual values rather than rows (e.g. non-finite feature values set to 0).
        sources: what was read, ``role -> path`` (``"labels"``, ``"acoustic"``, ...).
        feature_sets: ``modality -> feature-set name`` for the feature columns present in the rows.
    """

    corpus: str
    rows: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    ids: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    values: Counter = field(default_factory=Counter)
    sources: dict[str, str] = field(default_factory=dict)
    feature_sets: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, split: str, reason: str, row_id: str | None = None, count: int = 1) -> None:
        """Count ``count`` rows of ``split`` handled for ``reason`` (and remember ``row_id`` if given)."""
        if kind not in REPORT_KINDS:
            raise ValueError(f"kind must be one of {REPORT_KINDS}, got {kind!r}")
        key = (kind, split, reason)
        self.counts[key] += count
        if row_id is not None:
            self.ids.setdefault(key, []).append(row_id)

    def drop(self, split: str, reason: str, row_id: str | None = None) -> None:
        """Count one input row that is not returned."""
        self.add("dropped", split, reason, row_id)

    def note(self, split: str, reason: str, row_id: str | None = None) -> None:
        """Count one row (or feature entry) that is kept but handled specially."""
        self.add("note", split, reason, row_id)

    def total(self, kind: str | None = None, reason: str | None = None) -> int:
        """Sum of the counts of ``kind`` and ``reason`` (``None`` = any)."""
        return sum(
            n for (k, _, r), n in self.counts.items() if (kind is None or k == kind) and (reason is None or r == reason)
        )

    def ids_for(self, reason: str, kind: str | None = None) -> list[str]:
        """Every recorded id counted under ``reason`` (all splits)."""
        return [i for (k, _, r), ids in self.ids.items() if r == reason and kind in (None, k) for i in ids]

    def to_records(self, step: str = "read") -> list[dict[str, str | int]]:
        """``{kind, step, corpus, split, reason, count}`` dicts, sorted (the build report's record form)."""
        return [
            {"kind": k, "step": step, "corpus": self.corpus, "split": s, "reason": r, "count": n}
            for (k, s, r), n in sorted(self.counts.items())
        ]

    def summary(self) -> dict:
        """A JSON-ready summary: rows per split, counts, value counts, sources and feature sets."""
        return {
            "corpus": self.corpus,
            "rows": dict(sorted(self.rows.items())),
            "counts": self.to_records(),
            "values": dict(sorted(self.values.items())),
            "sources": dict(self.sources),
            "feature_sets": dict(self.feature_sets),
        }
