"""KFP wrapper for training a configured estimator behind the prepared preprocessor."""

from kfp.dsl import Dataset, Input, Model, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def train_model(
    train: Input[Dataset],
    preprocessor: Input[Model],
    target: str,
    run_id: str,
    model: Output[Model],
    estimator: str = "logistic_regression",
    params_json: str = "{}",
    search_json: str = "{}",
    seed: int = 42,
) -> str:
    """Fit the estimator (optionally grid-searched by seeded CV), save it and log it to MLflow.

    `params_json` fixes estimator parameters, `search_json` maps parameters to lists of values to
    try. Returns the MLflow model URI of the logged model.
    """
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "train_model", inputs={"train": train, "preprocessor": preprocessor}, outputs={"model": model}
    ) as step:
        import joblib
        import pandas as pd

        from iml4e_components.table_digests import table_digest
        from iml4e_components.tracking.core import log_to_run
        from iml4e_components.training.core import fit_estimator, parse_json_object
        from iml4e_components.training.mlflow_model import log_sklearn_model, log_training_data

        frame = pd.read_parquet(train.path)
        search = parse_json_object(search_json, "search_json")
        trained = fit_estimator(
            frame,
            target,
            joblib.load(preprocessor.path),
            estimator,
            parse_json_object(params_json, "params_json"),
            search=search,
            seed=seed,
        )
        joblib.dump(trained.model, model.path)
        log_to_run(
            run_id,
            params={
                "estimator": estimator,
                "target": target,
                "seed": seed,
                "search": search_json,
                **trained.params,
            },
            metrics={"search_cv_score": trained.search_score} if trained.search_score is not None else {},
        )
        log_training_data(run_id, frame, table_digest(frame))
        uri = log_sklearn_model(run_id, trained.model, frame)
        step.annotate(mlflow_run_id=run_id, model_uri=uri)
        step.add_output("mlflow_model", uri)
        model.metadata.update({"estimator": estimator, "target": target, "mlflow_model_uri": uri})
        return uri
