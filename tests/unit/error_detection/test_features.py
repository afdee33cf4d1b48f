from __future__ import annotations

import numpy as np
import pandas as pd

from iml4e_components.error_detection.features import (
    N_CHAR_FEATURES,
    FeatureConfig,
    best_determinants,
    char_counts,
    encode_columns,
    fd_features,
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
    fd = fd_features(encoded[0], encoded[1])
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
