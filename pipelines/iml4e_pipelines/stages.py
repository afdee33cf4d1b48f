"""Pipeline stages shared by several pipelines (a stage is itself a small pipeline, used as a step)."""

from kfp import dsl
from kfp.dsl import Dataset, Input

from iml4e_components.calibration.component import calibrate_confidence
from iml4e_components.deployment.component import deploy_model
from iml4e_components.evaluation.component import evaluate_model
from iml4e_components.model_card.component import model_card_gate
from iml4e_components.preparation.component import prepare_data
from iml4e_components.registry.component import register_model
from iml4e_components.training.component import train_model


@dsl.pipeline(
    name="train-and-register",
    description="prepare -> train -> calibrate -> evaluate (+slices) -> model-card gate -> register.",
)
def train_and_register(
    dataset: Input[Dataset],
    target: str,
    estimator: str,
    params_json: str,
    search_json: str,
    model_name: str,
    run_id: str,
    gate_metric: str,
    test_size: float,
    calibration_size: float,
    drop_columns: str,
    calibration_methods: str,
    slices: str,
    card_spec: str,
    seed: int,
    rollout: str,
) -> str:
    """Train a challenger on `dataset` and register it; `champion` moves only if it wins on
    `gate_metric` (and, with `rollout=canary`, only later, when its canary is promoted). Returns the registration JSON (name, version, promoted, metric, value,
    champion_uri, run_id). Every step logs into MLflow run `run_id`."""
    prepared = prepare_data(
        dataset=dataset,
        target=target,
        test_size=test_size,
        calibration_size=calibration_size,
        drop_columns=drop_columns,
        seed=seed,
    )
    trained = train_model(
        train=prepared.outputs["train"],
        preprocessor=prepared.outputs["preprocessor"],
        target=target,
        run_id=run_id,
        estimator=estimator,
        params_json=params_json,
        search_json=search_json,
        seed=seed,
    )
    calibrated = calibrate_confidence(
        model=trained.outputs["model"],
        calibration=prepared.outputs["calibration"],
        target=target,
        run_id=run_id,
        model_uri=trained.outputs["Output"],
        methods=calibration_methods,
        seed=seed,
    )
    evaluated = evaluate_model(
        model=calibrated.outputs["calibrated"],
        test=prepared.outputs["test"],
        target=target,
        run_id=run_id,
        slices=slices,
    )
    gate = model_card_gate(
        run_id=run_id,
        model_uri=calibrated.outputs["Output"],
        model_name=model_name,
        metrics=evaluated.outputs["metrics"],
        spec=card_spec,
    )
    registered = register_model(
        model_uri=calibrated.outputs["Output"],
        model_name=model_name,
        run_id=run_id,
        metrics=evaluated.outputs["metrics"],
        gate_metric=gate_metric,
        card_verdict=gate.outputs["Output"],
        rollout=rollout,
    )
    return registered.output  # type: ignore[no-any-return]  # kfp task outputs are Any


def deploy_registered(
    model_name: str, registration: object, deploy: object, rollout: object, canary_traffic: object
) -> None:
    """The deploy step after a registration, with the pipeline's `deploy`, `rollout` and
    `canary_traffic` (a plain function called while a pipeline is defined: it adds one step)."""
    deploy_model(
        model_name=model_name,
        registration=registration,
        enabled=deploy,
        rollout=rollout,
        canary_traffic=canary_traffic,
    )
