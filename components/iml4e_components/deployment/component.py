"""KFP wrapper for deploying the registered champion."""

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def deploy_model(
    model_name: str,
    registration: str = "",
    enabled: bool = True,
    alias: str = "champion",
    timeout: float = 300.0,
) -> str:
    """Deploy `models:/<model_name>@<alias>` on the configured target (IML4E_DEPLOY_TARGET=local:
    the local endpoint; kserve: an InferenceService, waited for until Ready). `registration` (the
    register step's JSON) orders this step after registration; `enabled=false` skips deployment.
    Returns the deployment as JSON."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step("deploy_model", inputs={"model": f"models:/{model_name}@{alias}"}) as step:
        from iml4e_components.deployment.core import deploy_if_enabled

        step.annotate(model_name=model_name, alias=alias, model_uri=f"models:/{model_name}@{alias}")
        return deploy_if_enabled(enabled, f"models:/{model_name}@{alias}", model_name, timeout)
