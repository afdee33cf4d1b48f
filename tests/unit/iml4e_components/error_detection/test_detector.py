from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iml4e_components.error_detection.detector import (
    META_SIGNALS,
    ZERO_LABEL_THRESHOLD,
    ErrorDetector,
    select_tuples,
)
from iml4e_components.error_detection.evaluator import score_cells
from iml4e_components.error_detection.features import (
    METADATA_NAMES,
    N_CHAR_FEATURES,
    SIGNAL_NAMES,
    table_features,
)
from iml4e_components.error_detection.knowledge_base import KnowledgeBase
from iml4e_components.error_detection.misplaced import extended_value_flags
from iml4e_components.error_detection.oracles import CleanTableOracle
from iml4e_components.error_detection.profiles import table_profiles
from iml4e_components.errors import ComponentError


def test_detection_with_a_clean_oracle_finds_errors_and_reports_labeled_cells(
    small_kb: KnowledgeBase, dirty_clean: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    dirty, clean, truth = dirty_clean
    result = ErrorDetector(small_kb).detect(dirty, budget=10, oracle=CleanTableOracle(clean), seed=1)
    assert result.mask.shape == dirty.shape and result.scores.shape == dirty.shape
    assert result.mode == "meta" and len(result.labeled_rows) == 10
    labeled = truth.to_numpy()[result.labeled_rows]
    assert np.array_equal(result.mask.to_numpy()[result.labeled_rows], labeled)
    assert score_cells(result.mask.to_numpy(), truth.to_numpy()).f1 > 0.3
    assert list(result.summary["column"]) == list(dirty.columns)
    assert result.summary["errors"].sum() == result.n_detected


def test_same_seed_same_result_other_seed_other_tuples(
    small_kb: KnowledgeBase, dirty_clean: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    dirty, clean, _ = dirty_clean
    detector = ErrorDetector(small_kb)
    first = detector.detect(dirty, budget=8, oracle=CleanTableOracle(clean), seed=5)
    again = detector.detect(dirty, budget=8, oracle=CleanTableOracle(clean), seed=5)
    other = detector.detect(dirty, budget=8, oracle=CleanTableOracle(clean), seed=6)
    assert first.labeled_rows == again.labeled_rows
    assert first.mask.equals(again.mask) and np.array_equal(first.scores.to_numpy(), again.scores.to_numpy())
    assert first.labeled_rows != other.labeled_rows


def test_zero_label_mode_thresholds_the_base_models(
    small_kb: KnowledgeBase, dirty_clean: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    dirty, _, truth = dirty_clean
    result = ErrorDetector(small_kb).detect(dirty, seed=1)
    assert result.mode == "zero-label" and result.labeled_rows == []
    assert np.array_equal(result.mask.to_numpy(), result.scores.to_numpy() >= ZERO_LABEL_THRESHOLD)
    scores = score_cells(result.mask.to_numpy(), truth.to_numpy())
    assert scores.precision > 0.3


def test_budget_larger_than_the_table_is_refused(small_kb: KnowledgeBase) -> None:
    frame = pd.DataFrame({"a": ["1", "2", "3"], "b": ["x", "y", "z"]})
    with pytest.raises(ComponentError, match=r"budget 20 .* 3 rows"):
        ErrorDetector(small_kb).detect(frame, budget=20, oracle=CleanTableOracle(frame), seed=0)


def test_tuple_selection_is_seeded_and_distinct() -> None:
    suspicion = np.linspace(0, 1, 100)
    picked = select_tuples(suspicion, 20, np.random.default_rng(3))
    assert picked == select_tuples(suspicion, 20, np.random.default_rng(3))
    assert len(set(picked)) == 20 and all(0 <= r < 100 for r in picked)


def test_base_models_scored_once_per_distinct_row_equal_scoring_every_cell(
    small_kb: KnowledgeBase, dirty_clean: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    dirty, _, _ = dirty_clean
    detector = ErrorDetector(small_kb, models_per_column=3)
    evidence = detector.base_probabilities(dirty, seed=2)
    features = table_features(dirty, small_kb.config, seed=2)
    profiles = table_profiles(dirty)
    extended = extended_value_flags(dirty)
    assert sum(len(e.probabilities) for e in evidence) < dirty.size
    for j, column in enumerate(evidence):
        chosen, _ = small_kb.select(profiles[j], 3)
        cells = features.column(j)
        per_cell = np.column_stack([small_kb.models[i].model.error_probability(cells) for i in chosen])
        assert np.array_equal(column.probabilities[column.inverse], per_cell.astype(np.float32))
        names = list(METADATA_NAMES + SIGNAL_NAMES)
        offsets = [N_CHAR_FEATURES + names.index(name) for name in META_SIGNALS]
        per_cell_signals = column.signals[column.inverse]
        assert np.array_equal(per_cell_signals[:, : len(offsets)], cells[:, offsets])
        # The last signal is the table-level extended-value flag, broadcast per cell.
        assert np.array_equal(per_cell_signals[:, -1], extended[:, j])
