from __future__ import annotations

import pandas as pd
import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.preparation.core import prepare
from iml4e_components.training.core import ESTIMATORS, fit_estimator, make_estimator, parse_json_object


@pytest.fixture(scope="module")
def prepared(churn: pd.DataFrame):  # type: ignore[no-untyped-def]
    return prepare(churn, "churned", seed=5)


def test_trained_pipeline_keeps_the_prepared_preprocessor(prepared) -> None:  # type: ignore[no-untyped-def]
    trained = fit_estimator(prepared.split.train, "churned", prepared.preprocessor)
    assert trained.model.named_steps["preprocess"] is prepared.preprocessor
    accuracy = (
        trained.model.predict(prepared.split.test[prepared.features]) == prepared.split.test["churned"]
    ).mean()
    assert accuracy > 0.7


def test_grid_search_picks_a_candidate_by_seeded_cv(prepared) -> None:  # type: ignore[no-untyped-def]
    grid = {"max_depth": [1, 6]}
    first = fit_estimator(
        prepared.split.train, "churned", prepared.preprocessor, "random_forest", search=grid, seed=3
    )
    again = fit_estimator(
        prepared.split.train, "churned", prepared.preprocessor, "random_forest", search=grid, seed=3
    )
    assert first.params["max_depth"] in (1, 6) and first.params == again.params
    assert first.search_score == again.search_score and 0.5 < (first.search_score or 0) <= 1.0


def test_regressor_trains_on_a_numeric_target(churn: pd.DataFrame) -> None:
    prepared = prepare(churn, "monthly_charges", calibration_size=0.0)
    trained = fit_estimator(prepared.split.train, "monthly_charges", prepared.preprocessor, "ridge")
    assert trained.model.predict(prepared.split.test[prepared.features]).dtype.kind == "f"


def test_unknown_estimator_and_parameters_are_named(prepared) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ComponentError, match=r"unknown estimator 'xgboost'.*logistic_regression"):
        fit_estimator(prepared.split.train, "churned", prepared.preprocessor, "xgboost")
    with pytest.raises(ComponentError, match="no parameter 'depth'"):
        make_estimator("random_forest", {"depth": 3})
    with pytest.raises(ComponentError, match="at most 24"):
        fit_estimator(
            prepared.split.train,
            "churned",
            prepared.preprocessor,
            "random_forest",
            search={"max_depth": list(range(25))},
        )


def test_one_class_and_missing_columns_fail_with_their_names(prepared) -> None:  # type: ignore[no-untyped-def]
    one_class = prepared.split.train.assign(churned=0)
    with pytest.raises(ComponentError, match="single class"):
        fit_estimator(one_class, "churned", prepared.preprocessor)
    with pytest.raises(ComponentError, match="no column 'age'"):
        fit_estimator(prepared.split.train.drop(columns=["age"]), "churned", prepared.preprocessor)


def test_classifier_on_a_continuous_target_is_a_component_error(churn: pd.DataFrame) -> None:
    prepared = prepare(churn, "monthly_charges", calibration_size=0.0)
    with pytest.raises(ComponentError, match="training 'logistic_regression'"):
        fit_estimator(prepared.split.train, "monthly_charges", prepared.preprocessor)


def test_json_parameters_are_checked() -> None:
    assert parse_json_object("", "params_json") == {}
    with pytest.raises(ComponentError, match="'search_json' is not valid JSON"):
        parse_json_object("{C: 1}", "search_json")
    with pytest.raises(ComponentError, match="must be a JSON object"):
        parse_json_object("[1]", "params_json")
    assert set(ESTIMATORS) >= {"logistic_regression", "ridge"}


def test_one_call_training_without_a_split(churn: pd.DataFrame) -> None:
    from iml4e_components.training.core import train_estimator

    model = train_estimator(churn, "churned", "logistic_regression", drop_columns=["customer_id"])
    assert list(model.feature_names_in_) == [
        "age",
        "region",
        "contract",
        "tenure_months",
        "monthly_charges",
        "support_calls",
    ]
    assert (model.predict(churn[model.feature_names_in_]) == churn["churned"]).mean() > 0.7


def test_logged_models_pin_their_requirements() -> None:
    import sklearn

    from iml4e_components.training.mlflow_model import model_environment, model_requirements

    assert f"scikit-learn=={sklearn.__version__}" in model_requirements()
    assert any(r.startswith("skops==") for r in model_requirements())
    # The whole environment is given, so MLflow never looks up (and warns about) an absent pip.
    dependencies = model_environment()["dependencies"]
    assert "pip" in dependencies and {"pip": model_requirements()} in dependencies
