"""Build report: every row a build step dropped, filled or could not match, counted with its reason.

A build never drops a row silently. Each step adds counts to one :class:`BuildReport`, which ends up in
``build_info/<config>.json`` and in the dataset card of the Hub folder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: ``dropped``: rows removed from the build. ``note``: rows kept but handled specially (a fallback,
#: an unmatched official label, an excluded pool donor).
REPORT_KINDS: tuple[str, ...] = ("dropped", "note")


@dataclass(frozen=True, order=True)
class ReportKey:
    """Where a count comes from: the kind, the build step, the corpus, the split and the reason."""

    kind: str
    step: str
    corpus: str
    split: str
    reason: str


@dataclass
class BuildReport:
    """Counts keyed by :class:`ReportKey`; merged across steps and serialised to JSON and Markdown."""

    counts: Counter = field(default_factory=Counter)

    def add(self, kind: str, step: str, corpus: str, split: str, reason: str, count: int = 1) -> None:
        """Add ``count`` rows of ``corpus``/``split`` that step ``step`` handled for ``reason``."""
        if kind not in REPORT_KINDS:
            raise ValueError(f"kind must be one of {REPORT_KINDS}, got {kind!r}")
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if count:
            self.counts[ReportKey(kind, step, corpus, split, reason)] += count

    def update(self, other: BuildReport) -> None:
        """Add every count of ``other`` to this report."""
        self.counts.update(other.counts)

    def total(self, kind: str | None = None, **where: str) -> int:
        """Sum of the counts whose key matches ``kind`` and every ``field=value`` in ``where``."""
        return sum(
            n
            for key, n in self.counts.items()
            if (kind is None or key.kind == kind) and all(getattr(key, k) == v for k, v in where.items())
        )

    def to_records(self) -> list[dict[str, str | int]]:
        """Sorted list of ``{kind, step, corpus, split, reason, count}`` dicts (JSON-ready)."""
        return [{**key.__dict__, "count": n} for key, n in sorted(self.counts.items())]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, str | int]]) -> BuildReport:
        """Inverse of :meth:`to_records`."""
        report = cls()
        for rec in records:
            report.add(
                str(rec["kind"]),
                str(rec["step"]),
                str(rec["corpus"]),
                str(rec["split"]),
                str(rec["reason"]),
                int(rec["count"]),
            )
        return report

    def to_markdown(self) -> str:
        """A Markdown table of the counts (``"No rows were dropped or specially handled."`` if empty)."""
        if not self.counts:
            return "No rows were dropped or specially handled."
        lines = ["| kind | step | corpus | split | reason | rows |", "|---|---|---|---|---|---:|"]
        for rec in self.to_records():
            reason = str(rec["reason"]).replace("|", "\\|")
            lines.append(
                f"| {rec['kind']} | {rec['step']} | {rec['corpus']} | {rec['split']} | {reason} | {rec['count']:,} |"
            )
        return "\n".join(lines)
