"""KFP wrapper of the model card gate: put it between evaluation and registration."""

from kfp.dsl import HTML, Artifact, Input, Metrics, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def model_card_gate(
    run_id: str,
    model_uri: str,
    model_name: str,
    metrics: Input[Metrics],
    card: Output[Artifact],
    card_html: Output[HTML],
    spec: str = "default",
    human_card: str = "",
) -> str:
    """Generate the model card from the MLflow run and metrics, merge the human YAML, check it
    against `spec` (a shipped spec name or a YAML path), log card and verdict to MLflow under
    `model_card/`, and fail (stopping the pipeline before registration) if it does not conform.

    Returns the verdict as JSON.
    """
    from iml4e_components.lineage.emit import lineage_step
    from iml4e_components.model_card.core import gate_model_card

    with lineage_step("model_card_gate", inputs={"metrics": metrics}, outputs={"card": card}) as step:
        step.annotate(mlflow_run_id=run_id, model_uri=model_uri, model_name=model_name, spec=spec)
        try:
            outcome = gate_model_card(
                run_id,
                model_uri,
                model_name,
                dict(metrics.metadata),
                card.path,
                card_html.path,
                spec,
                human_card,
            )
        except Exception:
            step.annotate(card_verdict="fail")
            raise
        step.annotate(card_verdict="pass")
        card.metadata.update({"verdict": "pass", "spec": spec})
        return outcome.verdict_json()
