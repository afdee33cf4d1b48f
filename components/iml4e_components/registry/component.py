"""KFP wrapper for model registration with champion/challenger aliases."""

from kfp.dsl import Input, Metrics

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def register_model(
    model_uri: str,
    model_name: str,
    run_id: str,
    metrics: Input[Metrics],
    gate_metric: str = "f1",
    card_verdict: str = "",
    rollout: str = "replace",
) -> str:
    """Register the model; `champion` moves to it only if it beats the champion on `gate_metric`,
    and with `rollout=canary` not even then: the winner stays `challenger` for a canary rollout.

    `card_verdict` (the model card gate's JSON) becomes the version tag `iml4e.card_verdict`.
    Returns the registration as JSON (name, version, promoted, canary, metric, value, champion_uri, run_id).
    """
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step("register_model", inputs={"model": model_uri, "metrics": metrics}) as step:
        import json

        from iml4e_components.model_card.core import stamp_registered_version
        from iml4e_components.registry.core import gated_value, register, verdict_tags
        from iml4e_components.tracking.core import finish_run, log_to_run

        value = gated_value(dict(metrics.metadata), gate_metric)
        step.annotate(mlflow_run_id=run_id, model_name=model_name)
        result = register(model_uri, model_name, gate_metric, value, verdict_tags(card_verdict), rollout)
        step.annotate(
            model_version=result.version,
            alias="champion" if result.promoted else "challenger",
            canary=result.canary,
        )
        stamp_registered_version(run_id, model_name, result.version)
        log_to_run(
            run_id, params={"registered_version": result.version, "promoted_to_champion": result.promoted}
        )
        finish_run(run_id)
        return json.dumps({**result.as_dict(), "run_id": run_id})
