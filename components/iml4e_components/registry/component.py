"""KFP wrapper for model registration with champion/challenger aliases."""


from kfp.dsl import Input, Metrics

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def register_model(
    model_uri: str, model_name: str, run_id: str, metrics: Input[Metrics], gate_metric: str = "f1"
) -> str:
    """Register the model; `champion` moves to it only if it beats the champion on `gate_metric`.

    Returns the registration as JSON (name, version, promoted, champion URI).
    """
    import json

    from iml4e_components.errors import ComponentError
    from iml4e_components.registry.core import register
    from iml4e_components.tracking.core import finish_run, log_to_run

    values = metrics.metadata
    if gate_metric not in values:
        raise ComponentError(f"gate_metric '{gate_metric}' was not computed; available: {', '.join(sorted(values))}")
    result = register(model_uri, model_name, gate_metric, float(values[gate_metric]))
    log_to_run(run_id, params={"registered_version": result.version, "promoted_to_champion": result.promoted})
    finish_run(run_id)
    return json.dumps({**result.as_dict(), "run_id": run_id})
