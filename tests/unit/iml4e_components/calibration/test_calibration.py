from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iml4e_components.calibration.core import UNCALIBRATED, calibrate, calibration_errors, plot_reliability
from iml4e_components.errors import ComponentError
from iml4e_components.preparation.core import prepare
from iml4e_components.training.core import fit_estimator


def test_ece_and_mce_on_a_hand_computed_case() -> None:
    classes = np.array([0, 1])
    proba = np.array([[0.1, 0.9], [0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])
    labels = np.array([1, 0, 0, 1])
    errors = calibration_errors(proba, labels, classes, n_bins=10)
    # bin (0.8,0.9]: conf 0.9, acc 0.5 (2 rows); bin (0.7,0.8]: conf 0.8, acc 1; bin (0.5,0.6]: conf 0.6, acc 1
    assert errors.ece == pytest.approx((2 * 0.4 + 0.2 + 0.4) / 4)
    assert errors.mce == pytest.approx(0.4)
    assert sum(b[4] for b in errors.bins) == 4


def test_perfect_confidence_has_zero_error() -> None:
    errors = calibration_errors(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 0]), np.array([0, 1]))
    assert errors.ece == 0.0 and errors.mce == 0.0


@pytest.fixture(scope="module")
def overconfident(churn: pd.DataFrame):  # type: ignore[no-untyped-def]
    prepared = prepare(churn, "churned", calibration_size=0.4, seed=2)
    # Nearly unregularised deep trees: probabilities near 0/1, badly calibrated.
    trained = fit_estimator(
        prepared.split.train,
        "churned",
        prepared.preprocessor,
        "random_forest",
        {"n_estimators": 5, "max_depth": None},
    )
    return prepared, trained.model


def test_calibration_chooses_a_method_that_lowers_held_out_ece(overconfident) -> None:  # type: ignore[no-untyped-def]
    prepared, model = overconfident
    result = calibrate(model, prepared.split.calibration, "churned", prepared.features, seed=1)
    assert result.method != UNCALIBRATED
    assert result.after.ece < result.before.ece
    assert result.candidates[result.method] == min(result.candidates.values())
    assert set(result.candidates) == {"none", "temperature", "isotonic", "platt"}
    again = calibrate(model, prepared.split.calibration, "churned", prepared.features, seed=1)
    assert again.method == result.method and again.after.ece == result.after.ece
    assert result.model.predict_proba(prepared.split.test[prepared.features]).shape[1] == 2


def test_reliability_diagram_is_a_png(overconfident, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prepared, model = overconfident
    result = calibrate(model, prepared.split.calibration, "churned", prepared.features, methods=["platt"])
    path = plot_reliability(result.before, result.after, result.method, tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_calibration_input_is_named(overconfident) -> None:  # type: ignore[no-untyped-def]
    prepared, model = overconfident
    with pytest.raises(ComponentError, match="unknown calibration method 'beta'"):
        calibrate(model, prepared.split.calibration, "churned", prepared.features, methods=["beta"])
    with pytest.raises(ComponentError, match="at least 20 rows"):
        calibrate(model, prepared.split.calibration.head(10), "churned", prepared.features)
    with pytest.raises(ComponentError, match="empty"):
        calibration_errors(np.empty((0, 2)), np.array([]), np.array([0, 1]))
