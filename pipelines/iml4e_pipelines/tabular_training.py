"""`tabular_training`: load -> validate -> detect errors -> clean -> prepare -> train -> calibrate
-> evaluate (+slices) -> model-card gate -> register (champion only if it wins) -> deploy (optional).

Error detection always runs (kfp.local cannot skip a step whose output later steps consume:
it supports neither `dsl.OneOf` nor conditions inside the graph); `clean_policy` decides what
happens to the flagged cells. `rollout=canary` deploys a winning model as a canary beside the
champion (`canary_traffic` percent of the requests) instead of replacing it.
"""

from kfp import dsl

from iml4e_components.datasets.component import load_dataset
from iml4e_components.error_detection.component import clean_data, detect_errors
from iml4e_components.tracking.component import start_tracking
from iml4e_components.validation.component import validate_schema
from iml4e_pipelines.stages import deploy_registered, train_and_register


@dsl.pipeline(
    name="tabular-training",
    description=(
        "Validate, detect and clean errors, prepare, train, calibrate, evaluate, gate on the model card, "
        "register and deploy a tabular model."
    ),
)
def tabular_training(
    dataset: str = "sample:churn-dirty",
    target: str = "churned",
    schema: str = "",
    labels_source: str = "",
    clean_policy: str = "null",
    estimator: str = "logistic_regression",
    params_json: str = "{}",
    search_json: str = "{}",
    model_name: str = "churn-classifier",
    experiment: str = "tabular-training",
    gate_metric: str = "f1",
    test_size: float = 0.2,
    calibration_size: float = 0.2,
    drop_columns: str = "",
    calibration_methods: str = "temperature,isotonic,platt",
    slices: str = "contract,region",
    card_spec: str = "default",
    deploy: bool = False,
    rollout: str = "replace",
    canary_traffic: int = 10,
    seed: int = 42,
) -> str:
    tracking = start_tracking(experiment=experiment, pipeline_name="tabular_training")
    loaded = load_dataset(source=dataset, seed=7)
    validated = validate_schema(dataset=loaded.outputs["dataset"], schema=schema, target=target)
    detected = detect_errors(
        dataset=validated.outputs["validated"], labels_source=labels_source, seed=seed, run_id=tracking.output
    )
    cleaned = clean_data(
        dataset=validated.outputs["validated"], mask=detected.outputs["mask"], policy=clean_policy
    )
    trained = train_and_register(
        dataset=cleaned.outputs["cleaned"],
        target=target,
        estimator=estimator,
        params_json=params_json,
        search_json=search_json,
        model_name=model_name,
        run_id=tracking.output,
        gate_metric=gate_metric,
        test_size=test_size,
        calibration_size=calibration_size,
        drop_columns=drop_columns,
        calibration_methods=calibration_methods,
        slices=slices,
        card_spec=card_spec,
        seed=seed,
        rollout=rollout,
    )
    # Switched by its `enabled` parameter, not dsl.If: the step works the same on every runner.
    deploy_registered(model_name, trained.output, deploy, rollout, canary_traffic)
    return trained.output  # type: ignore[no-any-return]  # kfp task outputs are Any
