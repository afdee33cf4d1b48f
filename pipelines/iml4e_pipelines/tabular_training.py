"""`tabular_training`: load -> split -> train -> evaluate -> register (champion only if it wins)."""


from kfp import dsl

from iml4e_components.datasets.component import load_dataset
from iml4e_components.evaluation.component import evaluate_model
from iml4e_components.registry.component import register_model
from iml4e_components.tracking.component import start_tracking
from iml4e_components.training.component import split_dataset, train_model


@dsl.pipeline(name="tabular-training", description="Train, evaluate and register a tabular classifier.")
def tabular_training(
    dataset: str = "sample:churn",
    target: str = "churned",
    estimator: str = "logistic_regression",
    params_json: str = "{}",
    model_name: str = "churn-classifier",
    experiment: str = "tabular-training",
    gate_metric: str = "f1",
    test_size: float = 0.25,
    seed: int = 42,
) -> str:
    tracking = start_tracking(experiment=experiment, pipeline_name="tabular_training")
    loaded = load_dataset(source=dataset, seed=seed)
    split = split_dataset(dataset=loaded.outputs["dataset"], target=target, test_size=test_size, seed=seed)
    trained = train_model(
        train=split.outputs["train"],
        target=target,
        run_id=tracking.output,
        estimator=estimator,
        params_json=params_json,
        seed=seed,
    )
    evaluated = evaluate_model(
        model=trained.outputs["model"], test=split.outputs["test"], target=target, run_id=tracking.output
    )
    registered = register_model(
        model_uri=trained.outputs["Output"],
        model_name=model_name,
        run_id=tracking.output,
        metrics=evaluated.outputs["metrics"],
        gate_metric=gate_metric,
    )
    return registered.output  # type: ignore[no-any-return]
