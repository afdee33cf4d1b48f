from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.retraining.core import decide


def test_no_champion_means_retrain(churn: pd.DataFrame) -> None:
    decision = decide(churn, None)
    assert decision.retrain and decision.reason == "no champion yet"


def test_same_distribution_does_not_retrain_unless_forced(churn: pd.DataFrame) -> None:
    reference, current = churn.iloc[:200], churn.iloc[200:]
    calm = decide(current, reference, exclude=["churned", "customer_id"])
    assert not calm.retrain and calm.reason.startswith("no drift")
    forced = decide(current, reference, force=True, exclude=["churned", "customer_id"])
    assert forced.retrain and forced.reason.startswith("forced")
    assert json.loads(forced.as_json())["retrain"] is True


def test_drifted_columns_trigger_retraining(churn: pd.DataFrame) -> None:
    reference, current = churn.iloc[:200], churn.iloc[200:].copy()
    rng = np.random.default_rng(0)
    current["monthly_charges"] = current["monthly_charges"] * 2 + 40
    current["tenure_months"] = rng.integers(60, 73, len(current))
    current["contract"] = "month-to-month"
    decision = decide(current, reference, exclude=["churned", "customer_id"])
    assert decision.retrain and {"monthly_charges", "tenure_months", "contract"} <= set(
        decision.drifted_features
    )


def test_bad_fresh_data_is_named(churn: pd.DataFrame) -> None:
    with pytest.raises(ComponentError, match="empty"):
        decide(churn.head(0), churn)
    with pytest.raises(ComponentError, match="shares no feature column"):
        decide(pd.DataFrame({"x": [1, 2]}), churn)
