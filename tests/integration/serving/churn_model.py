"""A small churn classifier registered in a throwaway MLflow store (sqlite), for serving tests and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from iml4e_components.datasets.core import generate_churn
from iml4e_components.training.core import train_estimator


@dataclass(frozen=True)
class ServedChurn:
    url: str
    pid: int
    home: Path
    model_uri: str
    tracking_uri: str
    data: pd.DataFrame


FEATURES = ["age", "region", "contract", "tenure_months", "monthly_charges", "support_calls"]
#: The variants' declared requirements (they are served in this environment, never rebuilt from them).
REQUIREMENTS = ["mlflow", "scikit-learn", "pandas"]
NUMERIC_FEATURES = ["age", "tenure_months", "monthly_charges", "support_calls"]


def register_churn_model(
    root: Path, name: str = "churn", rows: int = 600, light: bool = False
) -> tuple[str, str, pd.DataFrame]:
    """Train on generated churn data, log and register it; returns (tracking URI, champion URI, training data).

    The model is the platform's training pipeline (imputation, scaling, one-hot encoding, logistic
    regression; about 8 ms per call here). `light=True` registers a bare logistic regression on the
    numeric features instead: a model whose per-call cost is a fraction of a millisecond, so that a
    benchmark measures the servers rather than the model.
    """
    import mlflow
    from mlflow.models import infer_signature

    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    data = generate_churn(rows, seed=3)
    if light:
        from sklearn.linear_model import LogisticRegression

        features = data[NUMERIC_FEATURES]
        model = LogisticRegression(max_iter=1000).fit(features, data["churned"])
    else:
        model = train_estimator(data, "churned", "logistic_regression", drop_columns=["customer_id"])
        features = data[FEATURES]
    # An explicit artifact location: with a sqlite store the default is ./mlruns in the working directory.
    experiment_id = mlflow.MlflowClient(tracking_uri).create_experiment(
        f"serving-{name}", artifact_location=(root / "artifacts").as_uri()
    )
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features.head(5), model.predict(features.head(5))),
            skops_trusted_types=["numpy.dtype"],
            registered_model_name=name,
        )
    client = mlflow.MlflowClient(tracking_uri)
    client.set_registered_model_alias(name, "champion", str(info.registered_model_version))
    return tracking_uri, f"models:/{name}@champion", data


def register_variant(root: Path, kind: str, name: str = "churn") -> str:
    """Register a `churn_variants` pyfunc of `kind` (good, broken, wrong) wrapping the champion of
    `name` as a new version of `name`; returns its `models:/name/version` URI. Uses the tracking
    URI `register_churn_model` set."""
    import mlflow
    from mlflow.models import infer_signature

    champion = mlflow.sklearn.load_model(f"models:/{name}@champion")
    wrapped = root / f"{name}-{kind}-sklearn"
    if not wrapped.exists():
        mlflow.sklearn.save_model(
            champion, wrapped, skops_trusted_types=["numpy.dtype"], pip_requirements=REQUIREMENTS
        )
    sample = generate_churn(20, seed=4)[FEATURES]
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(f"serving-{name}")
    assert experiment is not None, "register_churn_model creates the experiment first"
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("churn_variants.py")),
            artifacts={"churn": str(wrapped)},
            model_config={"kind": kind},
            signature=infer_signature(sample, champion.predict(sample)),
            registered_model_name=name,
            pip_requirements=REQUIREMENTS,  # served here, never rebuilt: skip the slow inference
        )
    return f"models:/{name}/{info.registered_model_version}"
