"""`continuous_training`: compare fresh data with the champion's training data; retrain only when
it drifted, when there is no champion yet or when `force` says so (a schedule or a person); the
challenger (errors detected and cleaned like in `tabular_training`) becomes champion only if it
wins (with `rollout=canary`, a winner is first served as a canary to `canary_traffic` percent of the
requests). Run it as a recurring run on the cluster."""

from kfp import dsl

from iml4e_components.datasets.component import load_dataset
from iml4e_components.error_detection.component import clean_data, detect_errors
from iml4e_components.retraining.component import decide_retraining
from iml4e_components.tracking.component import start_tracking
from iml4e_components.validation.component import validate_schema
from iml4e_pipelines.stages import deploy_registered, train_and_register


@dsl.pipeline(
    name="continuous-training",
    description="Retrain on drift or schedule; promote only a winning challenger.",
)
def continuous_training(
    dataset: str = "sample:churn",
    target: str = "churned",
    schema: str = "",
    clean_policy: str = "null",
    force: bool = False,
    drift_share: float = 0.3,
    id_columns: str = "customer_id",
    estimator: str = "logistic_regression",
    params_json: str = "{}",
    search_json: str = "{}",
    model_name: str = "churn-classifier",
    experiment: str = "continuous-training",
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
    loaded = load_dataset(source=dataset, seed=7)
    validated = validate_schema(dataset=loaded.outputs["dataset"], schema=schema, target=target)
    decision = decide_retraining(
        dataset=validated.outputs["validated"],
        model_name=model_name,
        target=target,
        force=force,
        drift_share=drift_share,
        id_columns=id_columns,
    )
    with dsl.If(decision.outputs["retrain"] == True):  # noqa: E712  # a KFP condition
        tracking = start_tracking(experiment=experiment, pipeline_name="continuous_training")
        detected = detect_errors(dataset=validated.outputs["validated"], seed=seed, run_id=tracking.output)
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
        deploy_registered(model_name, trained.output, deploy, rollout, canary_traffic)
    return decision.outputs["decision"]  # type: ignore[no-any-return]  # kfp task outputs are Any
