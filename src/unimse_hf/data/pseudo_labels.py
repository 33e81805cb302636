"""Pseudo-labels: fill the universal-label fields a corpus lacks from its nearest neighbours (paper §3.2).

For each row and each field missing for its corpus (``score`` for MELD/IEMOCAP, ``meld_emotion`` for
MOSI/MOSEI/IEMOCAP, ``iemocap_emotion`` for MOSI/MOSEI/MELD), the value is copied from the top-1 cosine
nearest neighbour **of the same polarity** among the donors of that field. This module departs from the
official procedure (docs/differences.md#pseudo-label-pools):

- donors come from **training splits only** (a validation/test row is never a donor);
- donor pools hold only the evaluated label sets: MELD's 7 emotions and IEMOCAP's 6 classes, so no
  training row ends up with an unusable label (the official build drops 452 such rows);
- neutral rows get the fixed defaults with no search: score ``0.0``, MELD ``neutral``, IEMOCAP ``neutral``;
- similarity is a chunked normalised matrix product with ``argmax`` (ties -> lowest pool index), not an
  O(N²) Python loop.

Donors of a field are the training rows whose value of that field is gold, i.e. the other corpora: MSA
(MOSI + MOSEI) for ``score``, MELD for ``meld_emotion`` and IEMOCAP for ``iemocap_emotion``. Pool order
is deterministic: corpora in :data:`~unimse_hf.data.schema.CORPORA` order, then row order.
Validation and test rows get pseudo fields too (from the training pools); they are auxiliary targets and
never scored.

Fallbacks (each counted in the build report, never silent):

- a row whose polarity is missing keeps the field missing (its universal label is then not written);
- when no corpus of the build has donors for a field (e.g. ``moseld`` has no IEMOCAP), every row gets the
  field's neutral default, so that the universal label keeps its four fields;
- when the field has donors but none of the row's polarity, the row gets the neutral default of the field.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from datasets import DatasetDict

from ..labels import FIELD_LABELS
from .columns import replace_columns
from .report import BuildReport
from .schema import CORPORA, SPLITS

PSEUDO_FIELDS: tuple[str, ...] = ("score", "meld_emotion", "iemocap_emotion")
NEUTRAL_DEFAULTS: dict[str, float | str] = {"score": 0.0, "meld_emotion": "neutral", "iemocap_emotion": "neutral"}
SEARCH_POLARITIES: tuple[str, ...] = ("positive", "negative")
STEP = "pseudo_labels"

#: ``texts -> (N, d)`` embeddings; rows need not be normalised (e.g. :class:`~.embeddings.TextEmbedder`).
EmbedFn = Callable[[Sequence[str]], np.ndarray]


def nearest_neighbours(
    queries: np.ndarray, pool: np.ndarray, *, max_chunk_elements: int = 1 << 24
) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 cosine neighbour in ``pool`` of every row of ``queries``.

    Args:
        queries: ``(n, d)`` array.
        pool: ``(m, d)`` array, ``m >= 1``.
        max_chunk_elements: upper bound on the ``(chunk, m)`` similarity block held in memory.

    Returns:
        ``(index, similarity)``: ``(n,)`` int64 pool indices and ``(n,)`` float32 cosine similarities.
        Ties go to the lowest pool index (``np.argmax``). Zero vectors have similarity 0 to everything.
    """
    if queries.ndim != 2 or pool.ndim != 2 or queries.shape[1] != pool.shape[1]:
        raise ValueError(f"queries and pool must be (n, d) and (m, d), got {queries.shape} and {pool.shape}")
    if pool.shape[0] == 0:
        raise ValueError("pool must hold at least one row, got 0")

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms == 0, 1.0, norms)

    q, p_t = unit(queries), np.ascontiguousarray(unit(pool).T)
    index = np.empty(len(q), dtype=np.int64)
    similarity = np.empty(len(q), dtype=np.float32)
    chunk = max(1, max_chunk_elements // pool.shape[0])
    for start in range(0, len(q), chunk):
        sims = q[start : start + chunk] @ p_t
        best = sims.argmax(axis=1)
        index[start : start + chunk] = best
        similarity[start : start + chunk] = sims[np.arange(len(best)), best]
    return index, similarity


@dataclass
class FieldStats:
    """What happened to one pseudo field across the build."""

    pool_sizes: dict[str, int] = field(default_factory=dict)  # polarity -> donors
    searched: int = 0  # rows filled from a nearest neighbour
    neutral_default: int = 0  # neutral rows given the fixed default
    no_polarity_donor: int = 0  # fallback: neutral default because no donor of that polarity
    no_donor_corpus: int = 0  # fallback: neutral default because no corpus of the build gives donors
    no_polarity: int = 0  # left missing: the row has no polarity
    mean_similarity: float | None = None  # mean cosine similarity of the searched rows


@dataclass
class PseudoLabelStats:
    """Counts and timings of :func:`assign_pseudo_labels` (embedding and search timed separately)."""

    fields: dict[str, FieldStats] = field(default_factory=dict)
    texts_embedded: int = 0
    embedding_seconds: float = 0.0
    similarity_seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class _FlatLabelColumns:
    """The label columns of every row of every corpus/split, flattened in a fixed order."""

    keys: list[tuple[str, str]]  # (corpus, split) per block
    block_sizes: list[int]
    corpus: list[str]
    split: list[str]
    text: list[str]
    polarity: list[str | None]
    values: dict[str, list]
    origins: dict[str, list[str]]

    @classmethod
    def collect(cls, corpora: Mapping[str, DatasetDict]) -> _FlatLabelColumns:
        columns = ["text", "polarity", *PSEUDO_FIELDS, *(f"{f}_origin" for f in PSEUDO_FIELDS)]
        rows = cls([], [], [], [], [], [], {f: [] for f in PSEUDO_FIELDS}, {f: [] for f in PSEUDO_FIELDS})
        for corpus, split in _blocks(corpora):
            data = corpora[corpus][split].select_columns(columns).to_dict()
            n = len(data["text"])
            rows.keys.append((corpus, split))
            rows.block_sizes.append(n)
            rows.corpus += [corpus] * n
            rows.split += [split] * n
            rows.text += data["text"]
            rows.polarity += data["polarity"]
            for f in PSEUDO_FIELDS:
                rows.values[f] += data[f]
                rows.origins[f] += data[f"{f}_origin"]
        return rows


def _blocks(corpora: Mapping[str, DatasetDict]) -> list[tuple[str, str]]:
    """(corpus, split) pairs in the fixed order: CORPORA order, then SPLITS order."""
    unknown = sorted(set(corpora) - set(CORPORA))
    if unknown:
        raise ValueError(f"corpora keys must be among {CORPORA}, got {unknown}")
    blocks = []
    for corpus in (c for c in CORPORA if c in corpora):
        extra = sorted(set(corpora[corpus]) - set(SPLITS))
        if extra:
            raise ValueError(f"corpora[{corpus!r}] splits must be among {SPLITS}, got {extra}")
        blocks += [(corpus, s) for s in SPLITS if s in corpora[corpus]]
    return blocks


def _is_valid_donor_value(name: str, value: object) -> bool:
    """A donor gives a label of the field's set (:data:`~unimse_hf.labels.FIELD_LABELS`), or any finite score."""
    if name == "score":
        return isinstance(value, (int, float)) and math.isfinite(value)
    return value in FIELD_LABELS[name]


def assign_pseudo_labels(
    corpora: Mapping[str, DatasetDict],
    embed: EmbedFn,
    *,
    fill: Collection[str] | None = None,
    report: BuildReport | None = None,
    max_chunk_elements: int = 1 << 24,
) -> tuple[dict[str, DatasetDict], PseudoLabelStats]:
    """Fill every missing ``score`` / ``meld_emotion`` / ``iemocap_emotion`` of ``corpora`` (module docstring).

    Args:
        corpora: corpus name -> ``DatasetDict`` of unified-schema rows (splits among train/validation/test).
        embed: texts -> ``(N, d)`` embeddings. Called once, on the unique texts of the donors and of the
            non-neutral rows to fill.
        fill: the corpora whose missing fields are filled (default: all); the others only give donors.
        report: build report that receives the fallback and pool-exclusion counts.
        max_chunk_elements: memory bound of the similarity blocks (see :func:`nearest_neighbours`).

    Returns:
        The updated corpora (filled fields get origin ``"pseudo"``) and the statistics with the wall time
        of the embedding and of the similarity/assignment step.
    """
    report = report if report is not None else BuildReport()
    fill = set(corpora) if fill is None else set(fill)
    if not fill <= set(corpora):
        raise ValueError(f"fill must name corpora of corpora ({sorted(corpora)}), got {sorted(fill)}")
    rows = _FlatLabelColumns.collect(corpora)
    stats = PseudoLabelStats()
    plans: dict[str, dict[str, tuple[list[int], list[int]]]] = {}  # field -> polarity -> (donors, targets)
    for name in PSEUDO_FIELDS:
        stats.fields[name], plans[name] = _plan_field(name, rows, fill, report)

    unique_texts: dict[str, int] = {}
    for by_polarity in plans.values():
        for donors, targets in by_polarity.values():
            for i in (*donors, *targets) if targets else ():  # donors nobody needs are not embedded
                unique_texts.setdefault(rows.text[i], len(unique_texts))
    stats.texts_embedded = len(unique_texts)
    start = time.perf_counter()
    embeddings = np.asarray(embed(list(unique_texts))) if unique_texts else np.zeros((0, 1), np.float32)
    stats.embedding_seconds = time.perf_counter() - start
    if embeddings.ndim != 2 or embeddings.shape[0] != len(unique_texts):
        raise ValueError(f"embed returned shape {embeddings.shape}, expected ({len(unique_texts)}, d)")

    start = time.perf_counter()
    for name, by_polarity in plans.items():
        sims: list[np.ndarray] = []
        for donors, targets in by_polarity.values():
            if not targets:
                continue
            q = embeddings[[unique_texts[rows.text[i]] for i in targets]]
            p = embeddings[[unique_texts[rows.text[i]] for i in donors]]
            index, sim = nearest_neighbours(q, p, max_chunk_elements=max_chunk_elements)
            for target, donor in zip(targets, index.tolist(), strict=True):
                rows.values[name][target] = rows.values[name][donors[donor]]
                rows.origins[name][target] = "pseudo"
            sims.append(sim)
        field_stats = stats.fields[name]
        field_stats.searched = int(sum(len(s) for s in sims))
        if field_stats.searched:
            field_stats.mean_similarity = float(np.concatenate(sims).mean())
    stats.similarity_seconds = time.perf_counter() - start
    return _write_back(corpora, rows, fill), stats


def _plan_field(name: str, rows: _FlatLabelColumns, fill: set[str], report: BuildReport) -> tuple[FieldStats, dict]:
    """Pick donors and targets of one field; apply neutral defaults and fallbacks in place."""
    stats = FieldStats()
    values, origins = rows.values[name], rows.origins[name]
    donors: dict[str, list[int]] = {p: [] for p in SEARCH_POLARITIES}
    for i, origin in enumerate(origins):
        if rows.split[i] != "train" or origin != "gold":
            continue
        if not _is_valid_donor_value(name, values[i]):
            report.add(
                "note",
                STEP,
                rows.corpus[i],
                "train",
                f"not a {name} donor: gold value {values[i]!r} is outside the evaluated label set",
            )
        elif rows.polarity[i] in donors:
            donors[rows.polarity[i]].append(i)
    stats.pool_sizes = {p: len(d) for p, d in donors.items()}
    has_pool = any(donors.values())
    targets: dict[str, list[int]] = {p: [] for p in SEARCH_POLARITIES}
    for i, origin in enumerate(origins):
        if origin != "missing" or rows.corpus[i] not in fill:
            continue
        polarity, where = rows.polarity[i], (rows.corpus[i], rows.split[i])
        if polarity is None:
            stats.no_polarity += 1
            report.add("note", STEP, *where, f"{name} left missing: the row has no polarity")
        elif polarity == "neutral":
            stats.neutral_default += 1
            values[i], origins[i] = NEUTRAL_DEFAULTS[name], "pseudo"
        elif not has_pool:
            stats.no_donor_corpus += 1
            values[i], origins[i] = NEUTRAL_DEFAULTS[name], "pseudo"
            report.add("note", STEP, *where, f"{name} set to the neutral default: no {name} donor corpus in this build")
        elif not donors[polarity]:
            stats.no_polarity_donor += 1
            values[i], origins[i] = NEUTRAL_DEFAULTS[name], "pseudo"
            report.add("note", STEP, *where, f"{name} set to the neutral default: no {polarity} {name} donor")
        else:
            targets[polarity].append(i)
    return stats, {p: (donors[p], targets[p]) for p in SEARCH_POLARITIES}


def _write_back(corpora: Mapping[str, DatasetDict], rows: _FlatLabelColumns, fill: set[str]) -> dict[str, DatasetDict]:
    out: dict[str, dict] = {corpus: dict(splits) for corpus, splits in corpora.items()}
    offset = 0
    for (corpus, split), n in zip(rows.keys, rows.block_sizes, strict=True):
        if corpus not in fill:
            offset += n
            continue
        columns: dict[str, list] = {}
        for name in PSEUDO_FIELDS:
            columns[name] = rows.values[name][offset : offset + n]
            columns[f"{name}_origin"] = rows.origins[name][offset : offset + n]
        out[corpus][split] = replace_columns(corpora[corpus][split], columns)
        offset += n
    return {corpus: DatasetDict(splits) for corpus, splits in out.items()}
