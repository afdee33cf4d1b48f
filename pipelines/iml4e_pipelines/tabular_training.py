"""`tabular_training`: load -> validate -> prepare -> train -> calibrate -> evaluate (+slices)
-> model-card gate -> register (champion only if it wins) -> deploy (optional)."""

from kfp import dsl

from iml4e_components.datasets.component import load_dataset
from iml4e_components.deployment.component import deploy_model
from iml4e_components.tracking.component import start_tracking
from iml4e_components.validation.component import validate_schema
from iml4e_pipelines.stages import train_and_register


@dsl.pipeline(
    name="tabular-training",
    description="Validate, prepare, train, calibrate, evaluate, gate on the model card, register and deploy a tabular model.",
)
def tabular_training(
    dataset: str = "sample:churn",
    target: str = "churned",
    schema: str = "",
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
    seed: int = 42,
) -> str:
    tracking = start_tracking(experiment=experiment, pipeline_name="tabular_training")
    loaded = load_dataset(source=dataset, seed=7)
    validated = validate_schema(dataset=loaded.outputs["dataset"], schema=schema, target=target)
    trained = train_and_register(
        dataset=validated.outputs["validated"],
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
    )
    # A step switched by a parameter rather than dsl.If: kfp.local (2.16) cannot evaluate conditions.
    deploy_model(model_name=model_name, registration=trained.output, enabled=deploy)
    return trained.output  # type: ignore[no-any-return]
