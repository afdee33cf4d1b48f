"""KFP wrapper for model evaluation."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def evaluate_model(
    model: Input[Model],
    test: Input[Dataset],
    target: str,
    run_id: str,
    metrics: Output[Metrics],
    slices: str = "",
) -> None:
    """Score the model on the test split, overall and per value of each `slices` column
    (comma-separated); metrics go to the Metrics artifact and MLflow, plots to MLflow `evaluation/`."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "evaluate_model", inputs={"model": model, "test": test}, outputs={"metrics": metrics}
    ) as step:
        import joblib
        import pandas as pd

        from iml4e_components.evaluation.core import evaluate_logged
        from iml4e_components.preparation.core import parse_columns

        step.annotate(mlflow_run_id=run_id)
        scores = evaluate_logged(
            joblib.load(model.path), pd.read_parquet(test.path), target, run_id, parse_columns(slices)
        )
        for name, value in scores.items():
            metrics.log_metric(name, value)
