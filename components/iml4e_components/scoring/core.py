"""Batch scoring: load a registered model by URI and add its predictions to a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from iml4e_components.errors import ComponentError
from iml4e_components.output_files import write_atomically

PREDICTION = "prediction"
CONFIDENCE = "confidence"


def load_model(model_uri: str) -> Any:
    """Load a scikit-learn model from MLflow (`models:/name@alias`, `runs:/id/model`, a path)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not model_uri.strip():
        raise ComponentError("model_uri is empty; pass e.g. models:/churn-classifier@champion")
    try:
        return mlflow.sklearn.load_model(model_uri)
    except (MlflowException, OSError) as exc:
        reason = (getattr(exc, "message", None) or str(exc)).splitlines()[0]
        raise ComponentError(
            f"cannot load model URI '{model_uri}': {reason}; check the name, alias or run id"
        ) from exc


def score(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` plus a `prediction` column (and `confidence` for classifiers)."""
    from iml4e_components.datasets.core import require_columns
    from iml4e_components.training.core import model_features

    if frame.empty:
        raise ComponentError("the dataset to score is empty; it needs at least one row")
    features = model_features(model)
    require_columns(frame, features, "dataset to score")
    try:
        predictions = model.predict(frame[features])
        result = frame.copy()
        result[PREDICTION] = predictions
        if hasattr(model, "predict_proba"):
            result[CONFIDENCE] = model.predict_proba(frame[features]).max(axis=1)
    except (ValueError, TypeError) as exc:
        raise ComponentError(f"scoring failed: {str(exc).splitlines()[0]}; check the columns' types") from exc
    return result


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write `frame` as Parquet (or CSV for a .csv path) atomically: temporary file, then rename."""
    target = Path(path).expanduser()

    def write(tmp: Path) -> None:
        if target.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)

    write_atomically(target, write, "scores", create_parent=True)
    return target
