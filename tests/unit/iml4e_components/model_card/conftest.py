"""A complete model card (passes the default spec) that tests then break one piece at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from iml4e_components.model_card.card import Dataset, ModelCard, load_card
from iml4e_components.model_card.core import SHIPPED_HUMAN_CARD
from iml4e_components.model_card.generate import performance_from_metrics

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def complete_card() -> ModelCard:
    card = load_card(SHIPPED_HUMAN_CARD)
    performance, errors = performance_from_metrics(
        {
            "accuracy": 0.78,
            "f1": 0.58,
            "ece": 0.04,
            "accuracy/contract=month-to-month": 0.71,
            "accuracy/contract=two-year": 0.90,
            "accuracy_ci_lower": 0.75,
            "accuracy_ci_upper": 0.81,
            "errors_detected": 12,
        }
    )
    card.model_details.name = "churn-classifier"
    card.model_details.version.name = "3"
    card.model_parameters.model_architecture = "scikit-learn pipeline: preprocessing + logistic_regression"
    card.model_parameters.data = [Dataset(name="train", digest="sha256:abc", error_counts=errors)]
    card.quantitative_analysis.performance_metrics = performance
    card.quantitative_analysis.evaluated_at = NOW - timedelta(days=1)
    return card
