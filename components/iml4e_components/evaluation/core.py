"""Model evaluation metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from iml4e_components.datasets.core import require_columns
from iml4e_components.training.core import model_features

#: Metrics for which a smaller value is better (used when comparing challenger and champion).
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "ece", "mce", "brier"})


def evaluate(model: Pipeline, test: pd.DataFrame, target: str) -> dict[str, float]:
    """Classification or regression metrics of `model` on `test`, chosen by the estimator's kind."""
    features = model_features(model)
    require_columns(test, [*features, target], "test data")
    x, y = test[features], test[target]
    predictions = model.predict(x)
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(x)
        result = {
            "accuracy": float(skm.accuracy_score(y, predictions)),
            "f1": float(skm.f1_score(y, predictions, average="binary" if proba.shape[1] == 2 else "macro")),
            "log_loss": float(skm.log_loss(y, proba, labels=model.classes_)),
        }
        if proba.shape[1] == 2:
            result["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
        return result
    errors = np.asarray(y, dtype=float) - np.asarray(predictions, dtype=float)
    return {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "r2": float(skm.r2_score(y, predictions)),
    }


def is_better(candidate: float, incumbent: float, metric: str) -> bool:
    """Whether `candidate` beats `incumbent` on `metric` (strictly)."""
    return candidate < incumbent if metric in LOWER_IS_BETTER else candidate > incumbent
