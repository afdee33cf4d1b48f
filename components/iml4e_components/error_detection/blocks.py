"""Detection one block of rows at a time: the functions every engine runs (`engines`).

Both engines run the same functions; the local engine runs them in this process on one block (the
whole table), the Ray engine runs them as Ray tasks on blocks of rows. A block's answer never depends
on how the table was split, so both engines give the same mask:

1. `block_vocabulary`: each block's distinct values per column; `merge_vocabularies` joins them in
   block order, so every value gets the code it gets in the whole table (order of first appearance).
2. `block_codes`: the block's cells as those table-wide codes; `take_rows` returns the sampled rows
   the dependency search and the embeddings are fitted on, `block_pair_counts` the (determinant
   value, value) pairs whose merged counts give the functional-dependency features.
3. `block_evidence`: feature rows of the block's distinct pairs, the base models' probabilities, the
   cell signals, the zero-label scores and the cells' shapes.
4. `labeled_evidence` feeds `meta_training_sets`; `fit_forest` fits each meta-classifier once (as tasks:
   they are independent) and the driver broadcasts them; `block_scores` scores
   the block with the trained meta-classifiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from iml4e_components.error_detection.features import (
    METADATA_NAMES,
    N_CHAR_FEATURES,
    SIGNAL_NAMES,
    ColumnValues,
    FeatureConfig,
    PairTable,
    ValueFeatureRows,
    encode_columns,
    factorize_column,
    feature_rows,
    pair_counts,
    per_value_features,
)
from iml4e_components.error_detection.knowledge_base import ZERO_LABEL_FALLBACK_THRESHOLD, TreeEnsemble
from iml4e_components.error_detection.tables import smallest_code_dtype
from iml4e_components.errors import ComponentError

#: Without held-out scores in the knowledge base, zero-label mode flags a cell when the base models'
#: weighted mean probability reaches this; it also decides when the labeled tuples hold no wrong cell.
#: A knowledge base with held-out scores sets zero-label mode's own, precision-first threshold
#: (`knowledge_base.zero_label_threshold`).
ZERO_LABEL_THRESHOLD = ZERO_LABEL_FALLBACK_THRESHOLD
#: With labels, a cell is flagged when the meta-classifiers' probability reaches this.
#: 0.35 rather than 0.5: forests trained on ~20 tuples with few wrong cells under-predict errors
#: (compared at 0.5 and 0.35 over 5 seeds on the benchmark pairs; 0.35 was better on all three).
META_THRESHOLD = 0.35
#: A column gets its own meta-classifier (averaged with the pooled one) once its labeled tuples hold
#: at least this many wrong cells and two right ones.
LOCAL_MIN_ERRORS = 1
#: Cell signals the meta-classifiers see next to the base models' probabilities.
META_SIGNALS = (
    "value_frequency",
    "log_value_frequency",
    "is_numeric",
    "log_length",
    "numeric_robust_z",
    "is_placeholder",
    "pattern_frequency",
    "short_pattern_frequency",
    "type_mismatch",
    "length_robust_z",
    "variant_share",
    "minority_variant",
    "fd_support",
    "fd_minority",
)
_SIGNAL_OFFSETS = [N_CHAR_FEATURES + list(METADATA_NAMES + SIGNAL_NAMES).index(n) for n in META_SIGNALS]
#: Column of `ColumnEvidence.signals` holding the share of the column's cells with the cell's value.
_VALUE_FREQUENCY = META_SIGNALS.index("value_frequency")
#: Zero-label mode calls a value wrong only when at most this many cells of its column hold it.
RARE_VALUE_CELLS = 2
#: Feature rows the base models score at a time, converted once for all of a column's models to
#: column-major float64 (what the models predict on): a tree reads one feature of many rows at each
#: node, so column-major blocks that stay in cache made prediction about three times faster than
#: row-major ones (same probabilities).
PREDICT_BLOCK_ROWS = 8_192
#: Distinct feature rows of a column built and scored at a time (about 30 MB of features), so a column
#: with a million distinct values never holds all its feature rows at once.
EVIDENCE_CHUNK_ROWS = 8 * PREDICT_BLOCK_ROWS
#: A column with at least this many distinct values gets its per-value features only for the values
#: a chunk of feature rows needs (`ValueFeatureRows`; 100,000 values hold 46 MB of features).
LAZY_FEATURE_VALUES = 100_000


@dataclass
class BlockVocabulary:
    """A block's header, row count and, per column, its distinct values with their cell counts."""

    columns: list[str]
    n_rows: int
    values: list[ColumnValues]


@dataclass
class TableVocabulary:
    """The whole table's distinct values per column (codes in order of first appearance) and, per
    block and column, the table-wide code of each of the block's own value codes."""

    columns: list[str]
    n_rows: int
    values: list[ColumnValues]
    block_codes: list[list[np.ndarray]]
    block_starts: list[int]


@dataclass
class BlockStatistics:
    """What every block task needs from the whole table, computed once and broadcast."""

    determinants: list[int | None]
    pairs: list[PairTable]
    embeddings: list[np.ndarray]
    extended: list[np.ndarray]
    shapes: list[np.ndarray]
    models: list[list[TreeEnsemble]]
    similarities: list[np.ndarray]


@dataclass
class ColumnEvidence:
    """The base models' view of one column, kept per distinct feature row (cells with the same value and
    the same determinant value share every feature, so every score): `inverse` maps each cell to its
    row of `probabilities` (n_distinct, k) and `signals` (n_distinct, len(META_SIGNALS) + 1)."""

    inverse: np.ndarray
    probabilities: np.ndarray
    similarities: np.ndarray
    signals: np.ndarray

    def zero_label(self) -> np.ndarray:
        """Similarity-weighted mean base-model probability per distinct row."""
        return zero_label_scores(self.probabilities, self.similarities)


@dataclass
class MetaModels:
    """The meta-classifiers trained on the labeled tuples, broadcast to every block. `outcome` is
    `forests`, or `all-wrong` / `none-wrong` when the labels hold a single class."""

    outcome: str
    priors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pooled: Any = None
    local: dict[int, Any] = field(default_factory=dict)


def block_vocabulary(block: pd.DataFrame) -> BlockVocabulary:
    """Pass 1: the block's distinct values per column, in order of first appearance."""
    encoded = encode_columns(block)
    return BlockVocabulary(
        [str(c) for c in block.columns], len(block), [ColumnValues(c.uniques, c.counts) for c in encoded]
    )


def merge_vocabularies(parts: Sequence[BlockVocabulary], what: str = "table") -> TableVocabulary:
    """Join the blocks' vocabularies in block order; blocks must agree on the columns."""
    columns = parts[0].columns
    starts = [0]
    for index, part in enumerate(parts):
        if part.columns != columns:
            raise ComponentError(
                f"{what}: block {index} (from row {starts[-1]}) has columns {part.columns}, the first block "
                f"has {columns}; every block of a table needs the same columns in the same order"
            )
        starts.append(starts[-1] + part.n_rows)
    if len(parts) == 1:
        only = parts[0]
        return TableVocabulary(
            columns, only.n_rows, only.values, [[np.arange(len(v.uniques)) for v in only.values]], [0]
        )
    values: list[ColumnValues] = []
    block_codes: list[list[np.ndarray]] = [[] for _ in parts]
    for j in range(len(columns)):
        joined = np.array([u for part in parts for u in part.values[j].uniques], dtype=object)
        codes, uniques = pd.factorize(joined, sort=False)
        counts = np.bincount(codes, weights=np.concatenate([p.values[j].counts for p in parts]))
        values.append(ColumnValues([str(u) for u in uniques], counts.astype(np.int64)))
        offset = 0
        for index, part in enumerate(parts):
            size = len(part.values[j].uniques)
            block_codes[index].append(codes[offset : offset + size].astype(np.int64))
            offset += size
    return TableVocabulary(columns, starts[-1], values, block_codes, starts[:-1])


def block_codes(block: pd.DataFrame, codes_of_values: list[np.ndarray]) -> np.ndarray:
    """Pass 2: the block's cells as table-wide value codes, shape (rows, columns), in 32 bits while
    every column has fewer than 2**31 distinct values."""
    widest = max((int(m.max()) + 1 for m in codes_of_values if len(m)), default=0)
    codes = np.empty(block.shape, dtype=np.int32 if widest < np.iinfo(np.int32).max else np.int64)
    for j in range(block.shape[1]):
        local, _ = factorize_column(block.iloc[:, j])
        codes[:, j] = codes_of_values[j][local]
    return codes


def take_rows(rows_of: Any, rows: np.ndarray) -> Any:
    """Some rows (block positions) of an array or a frame."""
    if isinstance(rows_of, pd.DataFrame):
        return rows_of.iloc[rows]
    return rows_of[rows]


def block_pair_counts(
    codes: np.ndarray, determinants: list[int | None], widths: list[int]
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per column with a determinant, the block's (determinant value, value) pair keys and counts."""
    return [
        None if d is None else pair_counts(codes[:, d], codes[:, j], widths[j])
        for j, d in enumerate(determinants)
    ]


def block_evidence(
    codes: np.ndarray,
    statistics: BlockStatistics,
    per_value: Sequence[np.ndarray | ValueFeatureRows],
    cells: bool = True,
) -> tuple[list[ColumnEvidence], np.ndarray | None, np.ndarray | None]:
    """Pass 3: per column, the block's distinct feature rows scored by the selected base models; with
    `cells` (the tuple selection needs them), the cells' zero-label scores (rows, columns) and the
    cells' shape codes (rows, columns), else None for both (`block_scores` does without)."""
    evidence = []
    n_rows, n_columns = codes.shape
    zero_label = np.empty((n_rows, n_columns), dtype=np.float64) if cells else None
    shapes = np.empty((n_rows, n_columns), dtype=np.int32) if cells else None
    for j in range(n_columns):
        determinant = statistics.determinants[j]
        pairs = statistics.pairs[j]
        cell_pairs = pairs.pair_of_cells(
            codes[:, determinant] if determinant is not None else None, codes[:, j]
        )
        distinct, inverse = np.unique(cell_pairs, return_inverse=True)
        del cell_pairs
        inverse = inverse.reshape(-1).astype(smallest_code_dtype(len(distinct)))
        probabilities, signals = _scored_rows(
            per_value[j], pairs, statistics.embeddings[j], distinct, statistics.models[j]
        )
        extended = statistics.extended[j][codes[:, j]].astype(np.float32)
        column = ColumnEvidence(
            inverse=inverse,
            probabilities=probabilities,
            similarities=statistics.similarities[j],
            signals=_with_extended(signals, inverse, extended),
        )
        if zero_label is not None and shapes is not None:
            zero_label[:, j] = column.zero_label()[inverse]
            shapes[:, j] = statistics.shapes[j][codes[:, j]]
        evidence.append(column)
    return evidence, zero_label, shapes


def rare_value_scores(
    evidence: list[ColumnEvidence], zero_label: np.ndarray | None, n_rows: int
) -> np.ndarray:
    """Zero-label mode's cell scores: the zero-label score of a cell whose value at most
    `RARE_VALUE_CELLS` cells of its column (of `n_rows`) hold, 0 for a more frequent value: without
    labels, a value several cells share is not called wrong (typos and broken formats are nearly unique).
    `zero_label` None: computed from the evidence (the block keeps no whole-table matrix of its own).
    """
    if zero_label is None:
        scores = cell_zero_label(evidence)
    else:
        scores = np.array(zero_label, dtype=np.float64, copy=True)
    for j, column in enumerate(evidence):
        frequent = np.rint(column.signals[:, _VALUE_FREQUENCY].astype(np.float64) * n_rows) > RARE_VALUE_CELLS
        scores[frequent[column.inverse], j] = 0.0
    return scores


def labeled_evidence(evidence: list[ColumnEvidence], rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per column, the base-model probabilities and signals of some cells (block positions)."""
    return [(e.probabilities[e.inverse[rows]], e.signals[e.inverse[rows]]) for e in evidence]


def zero_label_scores(probabilities: np.ndarray, similarities: np.ndarray) -> np.ndarray:
    """Similarity-weighted mean of the base models' probabilities per row, summed model by model in a
    fixed order so a row's score does not depend on the other rows scored with it."""
    weights = similarities / similarities.sum()
    total = np.zeros(len(probabilities), dtype=np.float64)
    for i, weight in enumerate(weights.tolist()):
        total += probabilities[:, i].astype(np.float64) * weight
    return total


def pooled_features(
    probabilities: np.ndarray, signals: np.ndarray, similarities: np.ndarray, prior: float
) -> np.ndarray:
    """Column-agnostic meta-features per row: base-model summary, cell signals, the column's labeled
    error rate."""
    p = probabilities
    return np.column_stack(
        [
            zero_label_scores(p, similarities),
            p.max(axis=1),
            p.min(axis=1),
            p.std(axis=1),
            p[:, 0],
            signals,
            np.full(len(p), prior),
        ]
    ).astype(np.float32)


def _local_features(probabilities: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    return np.column_stack([probabilities, pooled[:, 5:-1]])


@dataclass
class MetaTraining:
    """What the meta-classifiers are fitted on: the pooled set (every column's labeled cells) and one
    set per column with enough labeled errors; `outcome` as in `MetaModels`."""

    outcome: str
    priors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pooled: tuple[np.ndarray, np.ndarray] | None = None
    local: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def meta_training_sets(
    labeled: list[tuple[np.ndarray, np.ndarray]], similarities: list[np.ndarray], labels: np.ndarray
) -> MetaTraining:
    """The meta-classifiers' training sets from the labeled cells' evidence (`labeled_evidence`, rows
    in label order); fit each with `fit_forest` (the pooled one with the seed, column j's with
    seed + j + 1)."""
    if labels.all():
        return MetaTraining("all-wrong")
    if not labels.any():
        return MetaTraining("none-wrong")
    n_columns = labels.shape[1]
    priors = (labels.sum(axis=0) + 0.5) / (len(labels) + 1.0)
    features = [pooled_features(p, s, similarities[j], priors[j]) for j, (p, s) in enumerate(labeled)]
    pooled = (np.vstack(features), np.concatenate([labels[:, j] for j in range(n_columns)]))
    local = {}
    for j in range(n_columns):
        column_labels = labels[:, j]
        if column_labels.sum() >= LOCAL_MIN_ERRORS and (~column_labels).sum() >= 2:
            local[j] = (_local_features(labeled[j][0], features[j]), column_labels)
    return MetaTraining("forests", priors, pooled, local)


def fit_forest(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    """A meta-classifier: a seeded random forest of 60 trees."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=60, min_samples_leaf=1, random_state=seed, n_jobs=1)
    return model.fit(x, y)


def cell_zero_label(evidence: list[ColumnEvidence]) -> np.ndarray:
    """The cells' zero-label scores (rows, columns) from the block's evidence."""
    zero_label = np.empty((len(evidence[0].inverse), len(evidence)), dtype=np.float64)
    for j, column in enumerate(evidence):
        zero_label[:, j] = column.zero_label()[column.inverse]
    return zero_label


def block_scores(
    evidence: list[ColumnEvidence],
    zero_label: np.ndarray | None,
    meta: MetaModels | None,
    labeled_rows: np.ndarray,
    labels: np.ndarray,
    threshold: float = ZERO_LABEL_THRESHOLD,
    muted: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pass 4: the block's cell scores and mask. Without meta-classifiers (`meta` None) the zero-label
    scores decide at `threshold`, and no cell of a `muted` column is flagged; with them, labeled cells
    keep their labels. `zero_label` None: computed from the evidence when needed."""
    if meta is None or meta.outcome == "none-wrong":
        cells = zero_label if zero_label is not None else cell_zero_label(evidence)
        if meta is None:
            mask = cells >= threshold
            if muted is not None:
                mask[:, muted] = False
            return cells, mask
        scores = np.where(cells >= ZERO_LABEL_THRESHOLD, cells, 0.0)
    elif meta.outcome == "all-wrong":
        scores = np.ones((len(evidence[0].inverse), len(evidence)))
    else:
        scores = np.zeros((len(evidence[0].inverse), len(evidence)))
        for j, column in enumerate(evidence):
            column_x = pooled_features(
                column.probabilities, column.signals, column.similarities, meta.priors[j]
            )
            score = meta.pooled.predict_proba(column_x)[:, 1]
            if j in meta.local:
                local_x = _local_features(column.probabilities, column_x)
                score = 0.5 * (score + meta.local[j].predict_proba(local_x)[:, 1])
            scores[:, j] = score[column.inverse]
    scores[labeled_rows, :] = labels.astype(np.float64)
    return scores, scores >= META_THRESHOLD


def _scored_rows(
    per_value: np.ndarray | ValueFeatureRows,
    pairs: PairTable,
    embeddings: np.ndarray,
    distinct: np.ndarray,
    models: list[TreeEnsemble],
) -> tuple[np.ndarray, np.ndarray]:
    """The selected base models' probabilities and the meta-classifiers' cell signals of a column's
    distinct feature rows, built and scored `EVIDENCE_CHUNK_ROWS` rows at a time (a row's scores do
    not depend on the rows scored with it)."""
    probabilities = np.empty((len(distinct), len(models)), dtype=np.float32)
    signals = np.empty((len(distinct), len(_SIGNAL_OFFSETS)), dtype=np.float32)
    for start in range(0, len(distinct), EVIDENCE_CHUNK_ROWS):
        part = slice(start, start + EVIDENCE_CHUNK_ROWS)
        rows = feature_rows(per_value, pairs, embeddings, distinct[part])
        probabilities[part] = predict_error_probabilities(models, rows)
        signals[part] = rows[:, _SIGNAL_OFFSETS]
    return probabilities, signals


def _with_extended(signals: np.ndarray, inverse: np.ndarray, extended: np.ndarray) -> np.ndarray:
    """The meta-classifiers' cell signals per distinct feature row, then the extended-value flag
    (`misplaced.extended_value_flags`: a value of the column plus another column's value)."""
    per_row = np.zeros(len(signals), dtype=signals.dtype)
    per_row[inverse] = extended  # cells of one distinct row share their value, hence the flag
    return np.column_stack([signals, per_row])


def predict_error_probabilities(models: list[TreeEnsemble], rows: np.ndarray) -> np.ndarray:
    """Each model's probability of the error class for each feature row, shape (len(rows), len(models))."""
    probabilities = np.empty((len(rows), len(models)), dtype=np.float32)
    for start in range(0, len(rows), PREDICT_BLOCK_ROWS):
        block = np.asfortranarray(rows[start : start + PREDICT_BLOCK_ROWS], dtype=np.float64)
        for i, model in enumerate(models):
            probabilities[start : start + len(block), i] = model.error_probability(block)
    return probabilities


class PerValueFeatures(Sequence[np.ndarray | ValueFeatureRows]):
    """Each column's per-value features, computed when a block asks for the column and not kept (the
    local engine: one column's matrix alive at a time, as before the engines); for a column of at
    least `LAZY_FEATURE_VALUES` distinct values, computed for the values a chunk of rows asks for."""

    def __init__(self, values: list[ColumnValues], config: FeatureConfig) -> None:
        self.values = values
        self.config = config

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, j: int) -> np.ndarray | ValueFeatureRows:  # type: ignore[override]  # integer index only
        if len(self.values[j].uniques) >= LAZY_FEATURE_VALUES:
            return ValueFeatureRows(self.values[j], self.config)
        return per_value_features(self.values[j], self.config)
