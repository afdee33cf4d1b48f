"""KFP wrapper for model evaluation."""


from kfp.dsl import Dataset, Input, Metrics, Model, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def evaluate_model(
    model: Input[Model], test: Input[Dataset], target: str, run_id: str, metrics: Output[Metrics]
) -> None:
    """Score the model on the test split; metrics go to the KFP Metrics artifact and to MLflow."""
    import joblib
    import pandas as pd

    from iml4e_components.evaluation.core import evaluate
    from iml4e_components.tracking.core import log_to_run

    scores = evaluate(joblib.load(model.path), pd.read_parquet(test.path), target)
    for name, value in scores.items():
        metrics.log_metric(name, value)
    log_to_run(run_id, metrics=scores)
