from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iml4e_components.error_detection.evaluator import (
    actual_errors,
    load_error_mask,
    mask_from_cells,
    score_cells,
)
from iml4e_components.errors import ComponentError


def test_scores_count_cells() -> None:
    truth = np.array([[True, False], [True, False]])
    detected = np.array([[True, True], [False, False]])
    scores = score_cells(detected, truth)
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (1, 1, 1)
    assert scores.precision == 0.5 and scores.recall == 0.5 and scores.f1 == 0.5


def test_nothing_detected_scores_zero_not_nan() -> None:
    scores = score_cells(np.zeros((2, 2), bool), np.eye(2, dtype=bool))
    assert scores.precision == 0.0 and scores.f1 == 0.0


def test_files_compare_as_strings_by_position_with_empty_equal_to_empty(tmp_path: Path) -> None:
    (tmp_path / "dirty.csv").write_text("provider_number,city,score\n1xx19,berlin,\n10019,bremen,7\n")
    (tmp_path / "clean.csv").write_text("ProviderNumber,City,Score\n10019,berlin,\n10019,bremen,7.0\n")
    mask = load_error_mask(tmp_path / "dirty.csv", tmp_path / "clean.csv")
    assert mask.tolist() == [[True, False, False], [False, False, True]]


def test_different_shapes_are_refused() -> None:
    with pytest.raises(ComponentError, match="different shapes"):
        actual_errors(pd.DataFrame({"a": ["1"]}), pd.DataFrame({"a": ["1", "2"]}))


def test_mask_from_cells() -> None:
    assert mask_from_cells([(0, 1), (1, 0)], (2, 2)).tolist() == [[False, True], [True, False]]
    assert not mask_from_cells([], (2, 2)).any()
