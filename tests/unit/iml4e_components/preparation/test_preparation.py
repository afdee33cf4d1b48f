from __future__ import annotations

import pandas as pd
import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.preparation.core import feature_columns, parse_columns, prepare, split_table


def test_split_is_stratified_seeded_and_disjoint(churn: pd.DataFrame) -> None:
    first = split_table(churn, "churned", test_size=0.25, calibration_size=0.2, seed=1)
    again = split_table(churn, "churned", test_size=0.25, calibration_size=0.2, seed=1)
    assert first.test.equals(again.test) and first.train.equals(again.train)
    assert len(first.test) == 100 and len(first.calibration) == 60 and len(first.train) == 240
    ids = [set(part["customer_id"]) for part in (first.train, first.calibration, first.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    overall = churn["churned"].mean()
    for part in (first.train, first.calibration, first.test):
        assert abs(part["churned"].mean() - overall) < 0.03
    other = split_table(churn, "churned", seed=2)
    assert not other.test["customer_id"].equals(first.test["customer_id"])


def test_zero_calibration_size_gives_an_empty_calibration_split(churn: pd.DataFrame) -> None:
    split = split_table(churn, "churned", test_size=0.2, calibration_size=0.0)
    assert split.calibration.empty and len(split.train) == 320


def test_preprocessor_is_fitted_on_train_and_drops_identifiers(churn: pd.DataFrame) -> None:
    prepared = prepare(churn, "churned", seed=4)
    assert "customer_id" not in prepared.features and "churned" not in prepared.features
    assert list(prepared.preprocessor.feature_names_in_) == prepared.features
    encoded = prepared.preprocessor.transform(prepared.split.train[prepared.features])
    numeric = encoded[:, :4]  # age, tenure, charges, calls are scaled on the training split
    assert abs(numeric.mean()) < 1e-9
    assert encoded.shape[1] == 4 + 4 + 3  # plus one-hot regions and contracts


def test_missing_values_are_imputed_not_fatal(churn: pd.DataFrame) -> None:
    holes = churn.copy()
    holes.loc[::7, "age"] = None
    holes.loc[::5, "region"] = None
    prepared = prepare(holes, "churned")
    encoded = prepared.preprocessor.transform(prepared.split.test[prepared.features])
    assert not pd.isna(encoded).any()


@pytest.mark.parametrize(
    ("frame", "target", "message"),
    [
        (pd.DataFrame({"a": [1, 2]}), "label", "no column 'label'"),
        (pd.DataFrame({"a": range(30), "label": [1] * 30}), "label", "single value"),
        (pd.DataFrame({"a": [], "label": []}), "label", "empty"),
        (pd.DataFrame({"a": range(30), "label": [None] * 30}), "label", "no values"),
    ],
)
def test_bad_tables_name_the_problem(frame: pd.DataFrame, target: str, message: str) -> None:
    with pytest.raises(ComponentError, match=message):
        prepare(frame, target)


def test_bad_sizes_and_drop_columns_are_named(churn: pd.DataFrame) -> None:
    with pytest.raises(ComponentError, match="test_size"):
        split_table(churn, "churned", test_size=1.5)
    with pytest.raises(ComponentError, match="no column 'nope'"):
        feature_columns(churn, "churned", ["nope"])
    assert parse_columns(" a, ,b ") == ["a", "b"]


def test_identifiers_stay_identifiers_when_a_few_are_missing(churn: pd.DataFrame) -> None:
    holes = churn.copy()
    holes.loc[::50, "customer_id"] = None
    assert "customer_id" not in feature_columns(holes, "churned")
