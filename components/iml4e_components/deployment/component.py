"""KFP wrapper for deploying the registered champion, alone or with the challenger as a canary."""

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def deploy_model(
    model_name: str,
    registration: str = "",
    enabled: bool = True,
    alias: str = "champion",
    timeout: float = 300.0,
    rollout: str = "replace",
    canary_traffic: int = 10,
) -> str:
    """Deploy `models:/<model_name>@<alias>` on the configured target (IML4E_DEPLOY_TARGET=local:
    the local endpoint; kserve: an InferenceService, waited for until Ready). `registration` (the
    register step's JSON) orders this step after registration; `enabled=false` skips deployment.
    `rollout=canary`: when registration held the winner back as `challenger`, it is served beside
    the champion to `canary_traffic` percent of the requests instead of replacing it.
    Returns the deployment as JSON."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step("deploy_model", inputs={"model": f"models:/{model_name}@{alias}"}) as step:
        from iml4e_components.deployment.core import deploy_if_enabled, rollout_uris

        primary, canary = rollout_uris(model_name, rollout, canary_traffic, registration)
        if rollout == "replace":
            primary = f"models:/{model_name}@{alias}"
        step.annotate(model_name=model_name, alias=alias, model_uri=primary, canary_uri=canary)
        return deploy_if_enabled(enabled, primary, model_name, timeout, canary, canary_traffic)
