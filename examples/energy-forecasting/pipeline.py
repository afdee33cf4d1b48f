"""The monthly retraining step as a KFP pipeline: train on all history, judge on the backtest month, register.

Composed only of library components; the champion alias moves only if the new model forecasts
the backtest month better (lower MAE) than the current champion did.
"""

from kfp import dsl

from iml4e_components.datasets.component import load_dataset
from iml4e_components.evaluation.component import evaluate_model
from iml4e_components.preparation.component import prepare_data
from iml4e_components.registry.component import register_model
from iml4e_components.tracking.component import start_tracking
from iml4e_components.training.component import train_model


@dsl.pipeline(name="energy-retraining", description="Retrain the next-day energy forecaster on all history.")
def energy_retraining(
    history: str,
    backtest: str,
    target: str = "consumption_kwh",
    estimator: str = "gradient_boosting_regressor",
    model_name: str = "energy-forecaster",
    experiment: str = "energy-forecasting",
    seed: int = 42,
) -> str:
    tracking = start_tracking(experiment=experiment, pipeline_name="energy_retraining")
    loaded = load_dataset(source=history, seed=seed)
    prepared = prepare_data(
        dataset=loaded.outputs["dataset"], target=target, test_size=0.1, calibration_size=0.0, seed=seed
    )
    trained = train_model(
        train=prepared.outputs["train"],
        preprocessor=prepared.outputs["preprocessor"],
        target=target,
        run_id=tracking.output,
        estimator=estimator,
        seed=seed,
    )
    judged_on = load_dataset(source=backtest, seed=seed)
    evaluated = evaluate_model(
        model=trained.outputs["model"],
        test=judged_on.outputs["dataset"],
        target=target,
        run_id=tracking.output,
    )
    registered = register_model(
        model_uri=trained.outputs["Output"],
        model_name=model_name,
        run_id=tracking.output,
        metrics=evaluated.outputs["metrics"],
        gate_metric="mae",
    )
    return registered.output  # type: ignore[no-any-return]
