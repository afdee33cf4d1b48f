"""KFP wrapper for confidence calibration."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def calibrate_confidence(
    model: Input[Model],
    calibration: Input[Dataset],
    target: str,
    run_id: str,
    model_uri: str,
    calibrated: Output[Model],
    metrics: Output[Metrics],
    methods: str = "temperature,isotonic,platt",
    seed: int = 42,
) -> str:
    """Choose temperature, isotonic or Platt calibration (or none) by held-out ECE; log ECE/MCE
    before and after and the reliability diagram to MLflow; save and log the calibrated model.

    Returns the MLflow model URI to register: the calibrated model's, or `model_uri` unchanged when
    no calibrator helps or the model is a regressor.
    """
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "calibrate_confidence",
        inputs={"model": model, "calibration": calibration},
        outputs={"calibrated": calibrated},
    ) as step:
        import joblib
        import pandas as pd

        from iml4e_components.calibration.core import calibrate_logged
        from iml4e_components.preparation.core import parse_columns

        outcome = calibrate_logged(
            joblib.load(model.path),
            pd.read_parquet(calibration.path),
            target,
            run_id,
            model_uri,
            parse_columns(methods),
            seed,
        )
        joblib.dump(outcome.model, calibrated.path)
        step.annotate(mlflow_run_id=run_id, model_uri=outcome.model_uri)
        step.add_output("mlflow_model", outcome.model_uri)
        for name, value in outcome.metrics.items():
            metrics.log_metric(name, value)
        calibrated.metadata.update({"method": outcome.method, "mlflow_model_uri": outcome.model_uri})
        return outcome.model_uri
