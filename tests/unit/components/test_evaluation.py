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
