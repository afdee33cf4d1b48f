"""Per-cell features of a string table, computed once per distinct value and broadcast to cells.

Three groups, all of a fixed width so that models trained on one table apply to any other:

* a character TF-IDF vector re-indexed onto a fixed alphabet (the printable characters, plus one slot
  for every other character), IDF computed over the cells of the cell's column;
* metadata: value frequency, numeric or not, length, alphabetic or not, numeric value (as a robust
  z-score inside the column), empty or placeholder;
* signals from classic detectors: pattern frequency (letters/digits shape), type mismatch with the
  column's majority, numeric and length outliers, and support of the value under the column's
  strongest approximate functional dependency (the share of rows with the same determinant value
  that hold the same value);
* a per-column word embedding of the value (values as tokens, rows as sentences; gensim Word2Vec),
  trained on at most `embedding_rows` rows so that large tables stay fast.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

import numpy as np
import pandas as pd

from iml4e_components.error_detection.tables import is_string_categorical

#: The fixed alphabet of the character features; every other character maps to one extra slot.
ALPHABET = string.printable
N_CHAR_FEATURES = len(ALPHABET) + 1
_OTHER = len(ALPHABET)
_ASCII_LOOKUP = np.full(128, _OTHER, dtype=np.int64)
for _position, _char in enumerate(ALPHABET):
    _ASCII_LOOKUP[ord(_char)] = _position

#: Strings that stand for a missing value (compared lower-cased and stripped).
PLACEHOLDERS = frozenset(
    {
        "",
        "n/a",
        "na",
        "nan",
        "null",
        "none",
        "nil",
        "-",
        "--",
        "?",
        "empty",
        "missing",
        "unknown",
        "#n/a",
        "undefined",
    }
)

METADATA_NAMES = (
    "value_frequency",
    "log_value_frequency",
    "is_numeric",
    "log_length",
    "is_alphabetic",
    "numeric_robust_z",
    "is_placeholder",
)
SIGNAL_NAMES = (
    "pattern_frequency",
    "short_pattern_frequency",
    "type_mismatch",
    "numeric_outlier",
    "length_robust_z",
    "variant_share",
    "minority_variant",
    "fd_support",
    "fd_minority",
)
_PATTERN_TABLE = str.maketrans(
    {
        **dict.fromkeys(string.ascii_uppercase, "A"),
        **dict.fromkeys(string.ascii_lowercase, "a"),
        **dict.fromkeys(string.digits, "9"),
    }
)
_RUNS = re.compile(r"(.)\1+")


def value_patterns(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each value's pattern (letters as A/a, digits as 9: `Portland, OR` -> `Aaaaaaaa, AA`) and
    short pattern (runs collapsed: `Aa, A`)."""
    patterns = values.astype(str).map(lambda v: v.translate(_PATTERN_TABLE))
    return patterns, patterns.map(lambda p: _RUNS.sub(r"\1", p))


@dataclass(frozen=True)
class FeatureConfig:
    """How cell features are computed (stored in the knowledge base so fit and detect agree)."""

    embedding_dim: int = 8
    embedding_rows: int = 20_000
    max_chars: int = 64
    fd_sample_rows: int = 50_000

    @property
    def width(self) -> int:
        return N_CHAR_FEATURES + len(METADATA_NAMES) + len(SIGNAL_NAMES) + self.embedding_dim


@dataclass
class ColumnValues:
    """A column's distinct values (in order of first appearance) and how many cells hold each."""

    uniques: list[str]
    counts: np.ndarray


@dataclass
class ColumnCodes(ColumnValues):
    """A column as integer codes of its distinct values."""

    codes: np.ndarray


def factorize_column(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column's codes and distinct values (an object array of strings), in order of first
    appearance. A compact column (a categorical of strings) is factorized on its integer codes, which
    gives the same result as factorizing its strings without building one per cell."""
    if is_string_categorical(series):
        codes, first = pd.factorize(series.cat.codes.to_numpy(), sort=False)
        return np.asarray(codes), series.cat.categories.to_numpy(dtype=object)[first]
    codes, uniques = pd.factorize(series.to_numpy(dtype=object), sort=False)
    return np.asarray(codes), np.asarray(uniques, dtype=object)


def encode_columns(frame: pd.DataFrame) -> list[ColumnCodes]:
    """Factorize every column (by position) into codes, distinct values and their counts."""
    encoded = []
    for position in range(frame.shape[1]):
        codes, uniques = factorize_column(frame.iloc[:, position])
        codes = codes.astype(np.int64)
        encoded.append(
            ColumnCodes([str(u) for u in uniques], np.bincount(codes, minlength=len(uniques)), codes)
        )
    return encoded


def char_counts(
    values: list[str], max_chars: int, chunk: int = 100_000, out: np.ndarray | None = None
) -> np.ndarray:
    """Counts of each alphabet character per value, shape (len(values), N_CHAR_FEATURES); written to
    `out` (float32, that shape, may be a view of a wider matrix) when given."""
    if out is None:
        result = np.zeros((len(values), N_CHAR_FEATURES), dtype=np.float32)
    else:
        result = out
        result[:] = 0.0
    for start in range(0, len(values), chunk):
        part = [v[:max_chars] for v in values[start : start + chunk]]
        width = max((len(v) for v in part), default=0)
        if width == 0:
            continue
        points = np.array(part, dtype=f"<U{width}").view(np.uint32).reshape(len(part), width)
        valid = points != 0
        index = np.where(points < 128, _ASCII_LOOKUP[np.minimum(points, 127)], _OTHER)
        rows = np.broadcast_to(np.arange(len(part))[:, None], points.shape)[valid]
        flat = rows * N_CHAR_FEATURES + index[valid]
        counted = np.bincount(flat, minlength=len(part) * N_CHAR_FEATURES)
        result[start : start + len(part)] = counted.reshape(len(part), N_CHAR_FEATURES)
    return result


#: Distinct values whose character counts are weighed at a time for the document frequency.
_FREQUENCY_CHUNK = 65_536


def char_idf(column: ColumnValues, max_chars: int, counts: np.ndarray | None = None) -> np.ndarray:
    """The inverse document frequency of each alphabet character over the column's cells (float32),
    from the values' character `counts` when given, else counting a chunk of values at a time."""
    n_cells = float(column.counts.sum())
    # Cells holding each character: an exact integer count, the same in any order of summing.
    document_frequency = np.zeros(N_CHAR_FEATURES, dtype=np.int64)
    for start in range(0, len(column.uniques), _FREQUENCY_CHUNK):
        part = slice(start, start + _FREQUENCY_CHUNK)
        present = (counts[part] if counts is not None else char_counts(column.uniques[part], max_chars)) > 0
        document_frequency += column.counts[part].astype(np.int64) @ present.astype(np.int64)
    idf = np.log((1.0 + n_cells) / (1.0 + document_frequency.astype(np.float64))) + 1.0
    return idf.astype(np.float32)


def weigh_char_counts(counts: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """Character counts turned into L2-normalised TF-IDF rows, in place (each row on its own)."""
    counts /= np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    counts *= idf
    counts /= np.maximum(np.linalg.norm(counts, axis=1, keepdims=True), 1e-12)
    return counts


def char_tfidf(column: ColumnValues, max_chars: int, out: np.ndarray | None = None) -> np.ndarray:
    """L2-normalised character TF-IDF per distinct value; IDF over the column's cells. Computed in
    place (in `out` when given, see `char_counts`): a column of a million distinct values needs one
    matrix of them, not one per step."""
    counts = char_counts(column.uniques, max_chars, out=out)
    return weigh_char_counts(counts, char_idf(column, max_chars, counts))


def _robust_z(values: np.ndarray, weights: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Signed log1p of the robust z-score (median/MAD weighted by counts); 0 where not valid."""
    z = np.zeros(len(values), dtype=np.float64)
    if not valid.any():
        return z
    cells = np.repeat(values[valid], weights[valid])
    median = float(np.median(cells))
    mad = float(np.median(np.abs(cells - median))) * 1.4826
    scale = mad if mad > 0 else (float(np.std(cells)) or 1.0)
    z[valid] = (values[valid] - median) / scale
    return np.sign(z) * np.log1p(np.abs(z))


def value_features(column: ColumnValues) -> np.ndarray:
    """Metadata and single-column signals per distinct value, shape (n_unique, 14)."""
    uniques = pd.Series(column.uniques, dtype=object)
    counts = column.counts.astype(np.float64)
    n_cells = counts.sum()
    stripped = uniques.str.strip()
    numbers = pd.to_numeric(stripped.where(stripped != "", None), errors="coerce").to_numpy(dtype=np.float64)
    is_numeric = np.isfinite(numbers)
    lengths = uniques.str.len().to_numpy(dtype=np.float64)
    is_alpha = uniques.str.isalpha().to_numpy(dtype=bool)
    is_placeholder = stripped.str.lower().isin(PLACEHOLDERS).to_numpy(dtype=bool)
    numeric_share = float(counts[is_numeric].sum() / n_cells)
    majority_numeric = numeric_share >= 0.5
    numeric_z = _robust_z(np.where(is_numeric, numbers, 0.0), column.counts, is_numeric)
    length_z = _robust_z(lengths, column.counts, np.ones(len(lengths), dtype=bool))
    patterns, short_patterns = value_patterns(uniques)
    variant_share, minority_variant = _variant_features(uniques, column.counts)
    pattern_frequency = _group_share(patterns, counts, n_cells)
    short_frequency = _group_share(short_patterns, counts, n_cells)
    return np.column_stack(
        [
            counts / n_cells,
            np.log1p(counts) / np.log1p(n_cells),
            is_numeric,
            np.log1p(lengths),
            is_alpha,
            numeric_z,
            is_placeholder,
            pattern_frequency,
            short_frequency,
            (is_numeric != majority_numeric) & ~is_placeholder,
            np.abs(numeric_z) > np.log1p(3.5),
            length_z,
            variant_share,
            minority_variant,
        ]
    ).astype(np.float32)


def _variant_features(uniques: pd.Series, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values that differ only in case, spacing or punctuation (`12.0 %` vs `12.0`) are variants of
    one another. Per value: its share of its variant group's cells, and whether a more common
    variant exists (a likely formatting error)."""
    normalised = uniques.str.lower().str.replace(r"[\W_]+", "", regex=True)
    codes, _ = pd.factorize(normalised.to_numpy(dtype=object))
    totals = np.bincount(codes, weights=counts)
    most = np.zeros(len(totals))
    np.maximum.at(most, codes, counts)
    return counts / totals[codes], (counts < most[codes]).astype(np.float64)


def _group_share(keys: pd.Series, counts: np.ndarray, n_cells: float) -> np.ndarray:
    codes, _ = pd.factorize(keys.to_numpy(dtype=object))
    totals = np.bincount(codes, weights=counts)
    return np.asarray(totals[codes] / n_cells)


def sampled_rows(n_rows: int, sample_size: int, seed: int) -> np.ndarray:
    """The sorted row positions a statistic samples: every row when the table has at most
    `sample_size` rows, else a seeded draw without replacement (the same for any split into blocks)."""
    if n_rows > sample_size:
        return np.sort(np.random.default_rng(seed).choice(n_rows, sample_size, replace=False))
    return np.arange(n_rows)


def best_determinants(encoded: list[ColumnCodes], sample_rows: int, seed: int = 0) -> list[int | None]:
    """For each column, the other column that most nearly determines it (None when none does),
    judged on a sample of at most `sample_rows` rows (see `determinants_of_sample`)."""
    rows = sampled_rows(len(encoded[0].codes), sample_rows, seed)
    return determinants_of_sample([c.codes[rows] for c in encoded])


def determinants_of_sample(sampled: list[np.ndarray]) -> list[int | None]:
    """For each column, the other column that most nearly determines it (None when none does), from
    the columns' value codes on the same sampled rows.

    Strength of A -> B: among rows whose A value occurs at least twice, the share of rows holding the
    most common B value of their A group. A candidate needs such rows to cover half the table, and at
    most half of its values distinct; the best one needs a strength of at least 0.5.
    """
    n = len(sampled[0])
    candidates = []
    for codes_a in sampled:
        _, inverse, group_sizes = np.unique(codes_a, return_inverse=True, return_counts=True)
        in_group = group_sizes[inverse] >= 2
        distinct = len(group_sizes)
        usable = 1 < distinct <= n / 2 and in_group.sum() >= n / 2
        candidates.append((usable, inverse, in_group, len(group_sizes)))
    result: list[int | None] = []
    for b, codes_b in enumerate(sampled):
        best, best_strength = None, 0.5
        for a, (usable, inverse, in_group, n_groups) in enumerate(candidates):
            if a == b or not usable:
                continue
            pairs = inverse[in_group] * (int(codes_b.max()) + 1) + codes_b[in_group]
            pair_values, pair_counts = np.unique(pairs, return_counts=True)
            group_of_pair = pair_values // (int(codes_b.max()) + 1)
            majority = np.zeros(n_groups, dtype=np.int64)
            np.maximum.at(majority, group_of_pair, pair_counts)
            strength = majority.sum() / in_group.sum()
            if strength > best_strength + 1e-12:
                best, best_strength = a, float(strength)
        result.append(best)
    return result


@dataclass
class PairTable:
    """A column's distinct (determinant value, value) pairs over the whole table, sorted by key
    (`determinant code * width + value code`): cells of one pair share every feature. Per pair: the
    code of its value and its FD features (share of its determinant group holding the value, and
    whether a more common value exists in the group). Without a determinant the pairs are the
    column's distinct values (`keys` is None)."""

    keys: np.ndarray | None
    width: int
    value_codes: np.ndarray
    fd: np.ndarray

    def pair_of_cells(self, determinant_codes: np.ndarray | None, codes: np.ndarray) -> np.ndarray:
        """The index of each cell's pair, from the cells' value codes (and determinant codes)."""
        if self.keys is None or determinant_codes is None:
            return codes
        return np.asarray(np.searchsorted(self.keys, pair_keys(determinant_codes, codes, self.width)))


def pair_keys(determinant_codes: np.ndarray, codes: np.ndarray, width: int) -> np.ndarray:
    """Each cell's pair key `determinant code * width + code`, in 64 bits (cell codes may be 32-bit)."""
    return np.asarray(np.asarray(determinant_codes, dtype=np.int64) * width + codes)


def pair_counts(
    determinant_codes: np.ndarray, codes: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct pair keys of some cells and how many cells hold each."""
    keys, counts = np.unique(pair_keys(determinant_codes, codes, width), return_counts=True)
    return keys, counts.astype(np.int64)


def merge_pair_counts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Pair counts of several blocks of rows merged: sorted keys, summed counts (exact integers)."""
    if len(parts) == 1:
        return parts[0]
    keys, inverse = np.unique(np.concatenate([k for k, _ in parts]), return_inverse=True)
    counts = np.bincount(
        inverse.reshape(-1), weights=np.concatenate([c for _, c in parts]), minlength=len(keys)
    )
    return keys, counts.astype(np.int64)


def pair_table(
    determinant: ColumnValues | None,
    dependent: ColumnValues,
    counted: tuple[np.ndarray, np.ndarray] | None = None,
) -> PairTable:
    """The column's `PairTable` from the pair keys and counts of every cell (`pair_counts`, merged)."""
    n_values = len(dependent.uniques)
    if determinant is None or counted is None:
        fd = np.column_stack([np.ones(n_values), np.zeros(n_values)]).astype(np.float32)
        return PairTable(None, n_values, np.arange(n_values), fd)
    keys, counts = counted
    groups = keys // n_values
    group_sizes = determinant.counts[groups]
    majority = np.zeros(len(determinant.counts), dtype=np.int64)
    np.maximum.at(majority, groups, counts)
    minority = (counts < majority[groups]) & (group_sizes >= 2)
    fd = np.column_stack([counts / group_sizes, minority]).astype(np.float32)
    return PairTable(keys, n_values, keys % n_values, fd)


def fd_pairs(
    determinant: ColumnCodes | None, dependent: ColumnCodes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The column's distinct (determinant value, value) pairs: per pair the code of its value and its
    FD features, and per cell the index of its pair (see `PairTable`)."""
    counted = None
    if determinant is not None:
        counted = pair_counts(determinant.codes, dependent.codes, len(dependent.uniques))
    table = pair_table(determinant, dependent, counted)
    inverse = table.pair_of_cells(determinant.codes if determinant is not None else None, dependent.codes)
    return table.value_codes, table.fd, inverse


def per_value_features(column: ColumnValues, config: FeatureConfig) -> np.ndarray:
    """Character TF-IDF, metadata and single-column signals per distinct value of a column."""
    values = value_features(column)
    matrix = np.empty((len(column.uniques), N_CHAR_FEATURES + values.shape[1]), dtype=np.float32)
    char_tfidf(column, config.max_chars, out=matrix[:, :N_CHAR_FEATURES])
    matrix[:, N_CHAR_FEATURES:] = values
    return matrix


class ValueFeatureRows:
    """`per_value_features(column, config)` computed only for the values asked (`rows[codes]`, the
    same numbers): a column with many distinct values then never holds the features of all of them.
    Kept whole: the column's character IDF and its metadata and signals (14 numbers per value)."""

    def __init__(self, column: ColumnValues, config: FeatureConfig) -> None:
        self.uniques = column.uniques
        self.max_chars = config.max_chars
        self.idf = char_idf(column, config.max_chars)
        self.values = value_features(column)

    def __len__(self) -> int:
        return len(self.uniques)

    def __getitem__(self, codes: np.ndarray) -> np.ndarray:
        matrix = np.empty((len(codes), N_CHAR_FEATURES + self.values.shape[1]), dtype=np.float32)
        counts = char_counts(
            [self.uniques[c] for c in codes.tolist()], self.max_chars, out=matrix[:, :N_CHAR_FEATURES]
        )
        weigh_char_counts(counts, self.idf)
        matrix[:, N_CHAR_FEATURES:] = self.values[codes]
        return matrix


def feature_rows(
    per_value: np.ndarray | ValueFeatureRows, pairs: PairTable, embeddings: np.ndarray, distinct: np.ndarray
) -> np.ndarray:
    """The feature rows of some distinct pairs of a column (indices into `pairs`)."""
    value_codes = pairs.value_codes[distinct]
    matrix = np.hstack([per_value[value_codes], pairs.fd[distinct], embeddings[value_codes]])
    return np.ascontiguousarray(matrix, dtype=np.float32)


def value_embeddings(
    frame: pd.DataFrame, encoded: list[ColumnCodes], config: FeatureConfig, seed: int
) -> list[np.ndarray]:
    """Word2Vec vectors of each column's distinct values (see `embeddings_of_sample`)."""
    rows = sampled_rows(len(frame), config.embedding_rows, seed)
    sample = np.column_stack([c.codes[rows] for c in encoded]) if encoded else np.zeros((0, 0), np.int64)
    return embeddings_of_sample(sample, [len(c.uniques) for c in encoded], config, seed)


def embeddings_of_sample(
    sample: np.ndarray, n_values: list[int], config: FeatureConfig, seed: int
) -> list[np.ndarray]:
    """Word2Vec vectors of each column's distinct values, trained on the value codes of sampled rows
    (values as tokens, rows as sentences); zeros for values not in the sample."""
    if config.embedding_dim <= 0:
        return [np.zeros((n, 0), dtype=np.float32) for n in n_values]
    from gensim.models import Word2Vec

    sentences = [[f"{j}:{code}" for j, code in enumerate(row)] for row in sample.tolist()]
    model = Word2Vec(
        sentences,
        vector_size=config.embedding_dim,
        window=max(2, len(n_values)),
        min_count=1,
        workers=1,
        seed=seed,
        epochs=5,
        sg=0,
    )
    vectors = []
    for j, size in enumerate(n_values):
        matrix = np.zeros((size, config.embedding_dim), dtype=np.float32)
        for code in range(size):
            key = f"{j}:{code}"
            if key in model.wv.key_to_index:
                matrix[code] = model.wv[key]
        vectors.append(matrix)
    return vectors


@dataclass
class TableFeatures:
    """Cell features of a table, built one column at a time (rows x config.width) so that a large
    table never holds every column's matrix at once."""

    config: FeatureConfig
    encoded: list[ColumnCodes]
    determinants: list[int | None]
    embeddings: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.encoded)

    def distinct_rows(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """The distinct feature rows of column `j` (one per distinct (determinant value, value) pair)
        and, per cell, the index of its row: models score each distinct row once."""
        column = self.encoded[j]
        determinant = self.determinants[j]
        value_codes, fd, inverse = fd_pairs(
            self.encoded[determinant] if determinant is not None else None, column
        )
        pairs = PairTable(None, len(column.uniques), value_codes, fd)
        rows = feature_rows(
            per_value_features(column, self.config), pairs, self.embeddings[j], np.arange(len(value_codes))
        )
        return rows, inverse

    def column(self, j: int) -> np.ndarray:
        """The feature matrix of column `j`, one row per cell."""
        rows, inverse = self.distinct_rows(j)
        return np.asarray(rows[inverse])

    @property
    def columns(self) -> list[np.ndarray]:
        """Every column's matrix (small tables and tests; large tables use `column(j)`)."""
        return [self.column(j) for j in range(len(self.encoded))]


def table_features(frame: pd.DataFrame, config: FeatureConfig, seed: int = 0) -> TableFeatures:
    """Prepare the cell features of a string table (codes, dependencies, embeddings)."""
    encoded = encode_columns(frame)
    determinants = best_determinants(encoded, config.fd_sample_rows, seed)
    embeddings = value_embeddings(frame, encoded, config, seed)
    return TableFeatures(config, encoded, determinants, embeddings)
