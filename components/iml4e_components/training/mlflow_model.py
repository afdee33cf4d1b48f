"""Logging fitted scikit-learn models to MLflow with a signature and the training data's digest."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from iml4e_components.training.core import model_features


def log_sklearn_model(
    run_id: str, model: Pipeline, train: pd.DataFrame, params: dict[str, Any], dataset_digest: str
) -> str:
    """Log `model` into run `run_id` (params, signature, input example); return its model URI."""
    import mlflow
    from mlflow.models import infer_signature

    features = train[model_features(model)]
    example = features.head(5)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.set_tag("iml4e.train_digest", dataset_digest)
        mlflow.log_input(mlflow.data.from_pandas(train, name="train", digest=dataset_digest[-16:]), context="training")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            # skops is MLflow's safe format; a fitted ColumnTransformer holds numpy dtypes.
            skops_trusted_types=["numpy.dtype"],
        )
    return str(info.model_uri)
