from __future__ import annotations

import numpy as np
import pandas as pd

from iml4e_components.error_detection.features import (
    N_CHAR_FEATURES,
    FeatureConfig,
    best_determinants,
    char_counts,
    encode_columns,
    fd_pairs,
    table_features,
)
from iml4e_components.error_detection.profiles import PROFILE_NAMES, column_profile


def test_char_counts_use_the_fixed_alphabet_and_one_slot_for_other_characters() -> None:
    counts = char_counts(["aab", "Kölsch", ""], max_chars=64)
    assert counts.shape == (3, N_CHAR_FEATURES)
    assert counts[0].sum() == 3
    assert counts[0, 10] == 2  # 'a' is printable[10]
    assert counts[1, -1] == 1  # 'ö' is not printable ASCII
    assert counts[2].sum() == 0


def test_every_table_yields_the_same_feature_width() -> None:
    config = FeatureConfig(embedding_dim=3)
    small = pd.DataFrame({"a": ["1", "2", "2"], "b": ["x", "y", "y"]})
    wide = pd.DataFrame(
        {"p": ["ab", "cd", "ef", "gh"], "q": ["1.5", "2", "", "x"], "r": ["u", "u", "v", "v"]}
    )
    for frame in (small, wide):
        features = table_features(frame, config, seed=0)
        assert all(m.shape == (len(frame), config.width) for m in features.columns)
        assert all(np.isfinite(m).all() for m in features.columns)


def test_char_tfidf_rows_are_unit_length_and_identical_values_share_features() -> None:
    frame = pd.DataFrame({"a": ["abc", "abc", "xyz", ""], "b": ["1", "2", "3", "4"]})
    matrix = table_features(frame, FeatureConfig(embedding_dim=0), seed=0).columns[0]
    norms = np.linalg.norm(matrix[:3, :N_CHAR_FEATURES], axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert np.array_equal(matrix[0], matrix[1])
    assert not np.array_equal(matrix[0], matrix[2])


def test_functional_dependency_support_flags_the_minority_value_of_a_group() -> None:
    zips = ["10115"] * 5 + ["20095"] * 5
    cities = ["berlin"] * 4 + ["hamburg"] + ["hamburg"] * 5
    frame = pd.DataFrame({"zip": zips, "city": cities})
    encoded = encode_columns(frame)
    determinants = best_determinants(encoded, sample_rows=100)
    assert determinants[1] == 0
    _, pair_fd, inverse = fd_pairs(encoded[0], encoded[1])
    fd = pair_fd[inverse]
    assert fd[4, 0] == 0.2 and fd[4, 1] == 1.0
    assert fd[0, 0] == 0.8 and fd[0, 1] == 0.0


def test_features_are_deterministic_given_the_seed() -> None:
    frame = pd.DataFrame({"a": [str(i % 7) for i in range(50)], "b": [f"v{i % 5}" for i in range(50)]})
    first = table_features(frame, FeatureConfig(embedding_dim=4), seed=3).columns
    second = table_features(frame, FeatureConfig(embedding_dim=4), seed=3).columns
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_column_profile_fractions() -> None:
    profile = column_profile(pd.Series(["abc", "abc", "12", "", "--"]))
    values = dict(zip(PROFILE_NAMES, profile, strict=True))
    assert values["unique_fraction"] == 4 / 5
    assert values["missing_fraction"] == 1 / 5
    assert values["alphabetic_fraction"] == 2 / 5
    assert values["numeric_fraction"] == 1 / 5
    assert values["punctuation_fraction"] == 1 / 5


def _repeated_values_table() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 300
    zips = rng.choice(["10115", "20095", "80331", "50667"], n)
    cities = np.array(
        [{"10115": "berlin", "20095": "hamburg", "80331": "munich", "50667": "cologne"}[z] for z in zips]
    )
    cities[rng.choice(n, 12, replace=False)] = rng.choice(["berlin", "Berlin", "hamburg", ""], 12)
    return pd.DataFrame(
        {
            "zip": zips,
            "city": cities,
            "amount": rng.choice(["1.5", "2", "2.0", "N/A", "300", "7"], n),
            "code": [f"c{i % 9}" for i in range(n)],
        }
    )


def test_fd_pairs_match_a_per_cell_computation_of_group_support() -> None:
    frame = _repeated_values_table()
    encoded = encode_columns(frame)
    value_codes, pair_fd, inverse = fd_pairs(encoded[0], encoded[1])
    assert len(pair_fd) == len(frame.groupby(["zip", "city"])) < len(frame)
    assert np.array_equal(value_codes[inverse], encoded[1].codes)
    for row in range(len(frame)):
        group = frame[frame["zip"] == frame["zip"][row]]["city"]
        support = (group == frame["city"][row]).mean()
        minority = (group == frame["city"][row]).sum() < group.value_counts().max()
        assert pair_fd[inverse[row]][0] == np.float32(support)
        assert pair_fd[inverse[row]][1] == float(minority)


def test_distinct_rows_broadcast_to_the_cell_matrix_and_share_rows_within_a_pair() -> None:
    frame = _repeated_values_table()
    features = table_features(frame, FeatureConfig(embedding_dim=4), seed=1)
    for j in range(frame.shape[1]):
        rows, inverse = features.distinct_rows(j)
        determinant = features.determinants[j]
        keys = (
            frame.iloc[:, [j] if determinant is None else [determinant, j]].astype(str).agg("|".join, axis=1)
        )
        assert len(rows) == keys.nunique() < len(frame)
        assert rows.dtype == np.float32 and rows.shape[1] == features.config.width
        assert np.array_equal(features.column(j), rows[inverse])
        # Same pair, same row; different pairs, different rows.
        assert pd.Series(inverse).groupby(keys.to_numpy()).nunique().eq(1).all()
        assert pd.Series(keys.to_numpy()).groupby(inverse).nunique().eq(1).all()


def test_value_level_features_equal_features_computed_from_each_cell_alone() -> None:
    frame = _repeated_values_table()
    config = FeatureConfig(embedding_dim=0)
    features = table_features(frame, config, seed=1)
    for j in range(frame.shape[1]):
        matrix = features.column(j)
        values = frame.iloc[:, j].tolist()
        counts = char_counts(values, config.max_chars)
        assert np.array_equal(counts > 0, matrix[:, :N_CHAR_FEATURES] > 0)
        frequency = frame.iloc[:, j].map(frame.iloc[:, j].value_counts()).to_numpy() / len(frame)
        assert np.allclose(matrix[:, N_CHAR_FEATURES], frequency)
        assert np.allclose(matrix[:, N_CHAR_FEATURES + 3], np.log1p([len(v) for v in values]))
