from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.evaluation.core import evaluate, is_better, slice_key, write_plots
from iml4e_components.preparation.core import prepare
from iml4e_components.training.core import fit_estimator


@pytest.fixture(scope="module")
def fitted(churn: pd.DataFrame):  # type: ignore[no-untyped-def]
    prepared = prepare(churn, "churned", seed=6)
    return prepared, fit_estimator(prepared.split.train, "churned", prepared.preprocessor).model


def test_overall_and_slice_metrics(fitted) -> None:  # type: ignore[no-untyped-def]
    prepared, model = fitted
    test = prepared.split.test
    scores = evaluate(model, test, "churned", ["contract"])
    assert {"accuracy", "f1", "log_loss", "roc_auc", "ece", "mce"} <= set(scores)
    for contract, rows in test.groupby("contract"):
        key = slice_key("accuracy", "contract", contract)
        if len(rows) >= 10:
            expected = (model.predict(rows[prepared.features]) == rows["churned"]).mean()
            assert scores[key] == pytest.approx(expected)
        else:
            assert key not in scores
    assert slice_key("accuracy", "contract", "two-year") == "accuracy__contract:two-year"
    assert slice_key("f1", "city", "São Paulo=x") == "f1__city:São Paulo_x"


def test_mlflow_accepts_every_metric_name(fitted) -> None:  # type: ignore[no-untyped-def]
    from mlflow.utils.validation import _validate_metric_name

    prepared, model = fitted
    for key in evaluate(model, prepared.split.test, "churned", ["contract", "region"]):
        _validate_metric_name(key)


def test_regression_metrics(churn: pd.DataFrame) -> None:
    prepared = prepare(churn, "monthly_charges", calibration_size=0.0)
    model = fit_estimator(prepared.split.train, "monthly_charges", prepared.preprocessor, "ridge").model
    scores = evaluate(model, prepared.split.test, "monthly_charges", ["region"])
    assert scores["rmse"] >= scores["mae"] > 0 and "rmse__region:north" in scores


def test_bad_slices_and_columns_are_named(fitted) -> None:  # type: ignore[no-untyped-def]
    prepared, model = fitted
    with pytest.raises(ComponentError, match="no column 'plan'"):
        evaluate(model, prepared.split.test, "churned", ["plan"])
    with pytest.raises(ComponentError, match="slice column 'customer_id' has"):
        evaluate(model, prepared.split.test, "churned", ["customer_id"])
    with pytest.raises(ComponentError, match="no column 'age'"):
        evaluate(model, prepared.split.test.drop(columns=["age"]), "churned")


def test_confusion_matrix_and_plot(fitted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    prepared, model = fitted
    written = write_plots(model, prepared.split.test, "churned", tmp_path)
    matrix = json.loads((tmp_path / "confusion_matrix.json").read_text())
    assert sum(map(sum, matrix["matrix"])) == len(prepared.split.test) and matrix["labels"] == ["0", "1"]
    assert {p.name for p in written} == {"confusion_matrix.json", "confusion_matrix.png"}


def test_gate_direction() -> None:
    assert is_better(0.8, 0.7, "f1") and not is_better(0.7, 0.7, "f1")
    assert is_better(0.1, 0.2, "ece") and is_better(1.0, 2.0, "rmse")


def test_headline_metrics_carry_95_percent_bootstrap_intervals(fitted) -> None:  # type: ignore[no-untyped-def]
    prepared, model = fitted
    test = prepared.split.test
    scores = evaluate(model, test, "churned", ["contract"])
    for metric in ("accuracy", "f1"):
        assert scores[f"{metric}_ci_lower"] < scores[metric] < scores[f"{metric}_ci_upper"]
        # an interval, not a point: the test split is a few hundred rows at most
        assert 0.01 < scores[f"{metric}_ci_upper"] - scores[f"{metric}_ci_lower"] < 0.5
    monthly = slice_key("accuracy", "contract", "month-to-month")
    low, high = (
        scores[slice_key("accuracy_ci_lower", "contract", "month-to-month")],
        scores[slice_key("accuracy_ci_upper", "contract", "month-to-month")],
    )
    assert low <= scores[monthly] <= high
    # fewer rows, wider interval
    assert high - low > scores["accuracy_ci_upper"] - scores["accuracy_ci_lower"]
    assert evaluate(model, test, "churned", ["contract"]) == scores  # seeded: the same intervals again


def test_f1_interval_matches_sklearn_f1_on_the_full_sample(fitted) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    from sklearn.metrics import f1_score

    from iml4e_components.evaluation.core import _f1

    prepared, model = fitted
    test = prepared.split.test
    truth = test["churned"].to_numpy()
    predicted = model.predict(test[prepared.features])
    codes = {label: i for i, label in enumerate(model.classes_)}
    ours = _f1(np.array([codes[v] for v in truth]), np.array([codes[v] for v in predicted]), [1], axis=-1)
    assert float(ours) == pytest.approx(f1_score(truth, predicted, pos_label=model.classes_[-1]))


def test_regression_intervals_bracket_rmse_and_mae(churn: pd.DataFrame) -> None:
    prepared = prepare(churn, "monthly_charges", calibration_size=0.0)
    model = fit_estimator(prepared.split.train, "monthly_charges", prepared.preprocessor, "ridge").model
    scores = evaluate(model, prepared.split.test, "monthly_charges")
    for metric in ("rmse", "mae"):
        assert scores[f"{metric}_ci_lower"] < scores[metric] < scores[f"{metric}_ci_upper"]
