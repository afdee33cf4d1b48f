"""KFP wrappers for splitting data and training models."""


from kfp.dsl import Dataset, Input, Model, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def split_dataset(
    dataset: Input[Dataset],
    target: str,
    train: Output[Dataset],
    test: Output[Dataset],
    test_size: float = 0.25,
    seed: int = 42,
) -> None:
    """Stratified train/test split with a seed."""
    import pandas as pd

    from iml4e_components.training.core import split_table

    split = split_table(pd.read_parquet(dataset.path), target, test_size=test_size, seed=seed)
    split.train.to_parquet(train.path, index=False)
    split.test.to_parquet(test.path, index=False)
    train.metadata["rows"] = len(split.train)
    test.metadata["rows"] = len(split.test)


@iml4e_component
def train_model(
    train: Input[Dataset],
    target: str,
    run_id: str,
    model: Output[Model],
    estimator: str = "logistic_regression",
    params_json: str = "{}",
    seed: int = 42,
) -> str:
    """Fit preprocessing + estimator, save it as a Model artifact and log it to MLflow.

    Returns the MLflow model URI of the logged model.
    """
    import json

    import joblib
    import pandas as pd

    from iml4e_components.datasets.core import table_digest
    from iml4e_components.training.core import train_estimator
    from iml4e_components.training.mlflow_model import log_sklearn_model

    frame = pd.read_parquet(train.path)
    params = json.loads(params_json or "{}")
    fitted = train_estimator(frame, target, estimator, params, seed=seed)
    joblib.dump(fitted, model.path)
    uri = log_sklearn_model(
        run_id,
        fitted,
        frame,
        params={"estimator": estimator, "target": target, "seed": seed, **params},
        dataset_digest=table_digest(frame),
    )
    model.metadata.update({"estimator": estimator, "target": target, "mlflow_model_uri": uri})
    return uri
