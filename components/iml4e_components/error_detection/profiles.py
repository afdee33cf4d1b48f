"""Column profiles: the numbers used to pick, for a new column, the historical base models to reuse."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd

PROFILE_NAMES = (
    "unique_fraction",
    "missing_fraction",
    "alphabetic_fraction",
    "numeric_fraction",
    "punctuation_fraction",
    "log_distinct_count",
    "mean_log_length",
)
_PUNCTUATION = set(string.punctuation + " ")


def column_profile(values: pd.Series) -> np.ndarray:
    """Profile of one string column: fractions of unique, missing, alphabetic, numeric and
    punctuation-only values, the distinct count (log-scaled) and the mean value length (log-scaled)."""
    counts = values.value_counts(sort=False)
    return profile_of_values(list(counts.index.astype(str)), counts.to_numpy())


def profile_of_values(values: list[str], counts: np.ndarray) -> np.ndarray:
    """`column_profile` from a column's distinct values and their cell counts."""
    uniques = pd.Series(values, dtype=object)
    weights = np.asarray(counts, dtype=np.float64)
    n = weights.sum()
    stripped = uniques.str.strip()
    missing = stripped.eq("").to_numpy()
    alphabetic = uniques.str.isalpha().to_numpy(dtype=bool)
    numeric = pd.to_numeric(stripped.where(~missing, None), errors="coerce").notna().to_numpy()
    punctuation = uniques.map(lambda v: bool(v) and all(ch in _PUNCTUATION for ch in v)).to_numpy(dtype=bool)
    lengths = np.log1p(uniques.str.len().to_numpy(dtype=np.float64))
    return np.array(
        [
            len(uniques) / n,
            weights[missing].sum() / n,
            weights[alphabetic].sum() / n,
            weights[numeric].sum() / n,
            weights[punctuation].sum() / n,
            np.log1p(len(uniques)) / np.log1p(1_000_000),
            float(np.dot(weights, lengths) / n) / np.log1p(64),
        ],
        dtype=np.float64,
    )


def table_profiles(frame: pd.DataFrame) -> np.ndarray:
    """Profiles of every column (by position), shape (n_columns, len(PROFILE_NAMES))."""
    return np.vstack([column_profile(frame.iloc[:, j]) for j in range(frame.shape[1])])


def cosine_similarity(profile: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Cosine similarity of one profile to each row of `others`."""
    norms = np.linalg.norm(others, axis=1) * max(float(np.linalg.norm(profile)), 1e-12)
    return np.asarray(others @ profile / np.maximum(norms, 1e-12))
