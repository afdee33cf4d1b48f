"""`iml4e run PIPELINE --cluster`: compile with kfp, wire the platform in, submit to KFP, follow.

Components find the platform only through environment variables. On the cluster these come from
the ConfigMap `kubeflow/iml4e-endpoints` and the Secret `kubeflow/iml4e-mlflow-client`, attached
to every task through the KFP Kubernetes platform spec (`configMapAsEnv`/`secretAsEnv`, the same
IR the kfp-kubernetes extension writes), so no credential ever appears in the compiled pipeline.
Where Ray is configured (services.ray managed or external), every step that takes `engine` and
`ray_address` (detect_errors) gets `ray` and the cluster's Ray address as their defaults.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from iml4e.errors import PipelineError
from iml4e.installer.render import ENDPOINTS_CONFIG_MAP, endpoints, ray_address

MLFLOW_CLIENT_SECRET = "iml4e-mlflow-client"  # nosec B105  # a Secret's name
TERMINAL_STATES = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "CANCELLED"}
RUN_TIMEOUT_SECONDS = 3600


def wire_platform(documents: list[dict[str, Any]], endpoint_keys: list[str]) -> list[dict[str, Any]]:
    """Add the platform's ConfigMap and Secret as environment to every executor of a compiled pipeline."""
    spec = documents[0]
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    platform = documents[1] if len(documents) > 1 else {"platforms": {"kubernetes": {"deploymentSpec": {}}}}
    configs = (
        platform.setdefault("platforms", {}).setdefault("kubernetes", {}).setdefault("deploymentSpec", {})
    )
    per_executor = configs.setdefault("executors", {})
    for name in executors:
        executor = per_executor.setdefault(name, {})
        executor.setdefault("configMapAsEnv", []).append(
            {
                "configMapName": ENDPOINTS_CONFIG_MAP,
                "keyToEnv": [{"configMapKey": key, "envVar": key} for key in endpoint_keys],
            }
        )
        executor.setdefault("secretAsEnv", []).append(
            {
                "secretName": MLFLOW_CLIENT_SECRET,
                "keyToEnv": [
                    {"secretKey": key, "envVar": key}
                    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
                ],
            }
        )
    return [spec, platform]


#: The inputs of a step that runs on Ray when given an address (detect_errors).
RAY_INPUTS = ("engine", "ray_address")


def use_ray(documents: list[dict[str, Any]], address: str) -> list[str]:
    """Default every Ray-capable step of a compiled pipeline to the Ray engine at `address`.

    Only the defaults change: an argument the pipeline passes to the step explicitly still wins.
    Returns the names of the components changed."""
    changed = []
    for name, component in (documents[0].get("components") or {}).items():
        parameters = (component.get("inputDefinitions") or {}).get("parameters") or {}
        if all(key in parameters for key in RAY_INPUTS):
            parameters["engine"]["defaultValue"] = "ray"
            parameters["ray_address"]["defaultValue"] = address
            changed.append(name)
    return changed


def compile_for_cluster(pipeline: Any, config: Any, out: Path) -> Path:
    """Compile `pipeline` to KFP IR at `out`, wired to the cluster's platform services."""
    from kfp import compiler

    compiler.Compiler().compile(pipeline, str(out))
    documents = [doc for doc in yaml.safe_load_all(out.read_text(encoding="utf-8")) if doc]
    wired = wire_platform(documents, sorted(endpoints(config)))
    address = ray_address(config)
    if address:
        use_ray(wired, address)
    out.write_text(yaml.safe_dump_all(wired, sort_keys=False), encoding="utf-8")
    return out


@dataclass
class ClusterRun:
    run_id: str
    state: str
    url: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "url": self.url,
            "seconds": round(self.seconds, 1),
        }


def submit_and_follow(
    package: Path,
    name: str,
    arguments: dict[str, Any],
    host: str,
    on_state: Callable[[str], None],
    timeout: float = RUN_TIMEOUT_SECONDS,
) -> ClusterRun:
    """Submit the compiled package to the KFP API at `host` and poll until the run ends (bounded)."""
    import kfp

    client = kfp.Client(host=host)
    started = time.monotonic()
    result = client.create_run_from_pipeline_package(
        str(package),
        arguments=arguments,
        run_name=f"{name}-{time.strftime('%Y%m%d-%H%M%S')}",
        experiment_name="iml4e",
    )
    run_id = str(result.run_id)
    state = ""
    while time.monotonic() - started < timeout:
        run = client.get_run(run_id)
        current = str(run.state or "PENDING")
        if current != state:
            state = current
            on_state(state)
        if state in TERMINAL_STATES:
            break
        time.sleep(5)
    else:
        raise PipelineError(
            f"run {run_id} still {state} after {timeout:.0f} s; follow it in the KFP UI (iml4e open kfp)"
        )
    outcome = ClusterRun(run_id, state, f"{host}/#/runs/details/{run_id}", time.monotonic() - started)
    if state != "SUCCEEDED":
        raise PipelineError(
            f"run {run_id} ended {state}; see the failed step's logs in the KFP UI (iml4e open kfp)"
        )
    return outcome


def run_on_cluster(
    reference: str, pairs: list[str], config: Any, on_state: Callable[[str], None]
) -> ClusterRun:
    """Resolve, compile, port-forward the KFP API, submit and follow (the `run --cluster` command)."""
    from iml4e.installer.access import TARGETS, start_port_forward
    from iml4e.pipeline_selection import parse_parameters, resolve_pipeline

    name, pipeline = resolve_pipeline(reference)
    arguments = parse_parameters(pipeline, pairs)
    with tempfile.TemporaryDirectory(prefix="iml4e-run-") as tmp:
        package = compile_for_cluster(pipeline, config, Path(tmp) / f"{name}.yaml")
        process, url = start_port_forward(
            TARGETS["kfp-api"], config.cluster.kubeconfig, config.cluster.context
        )
        try:
            return submit_and_follow(package, name, arguments, url.rstrip("/"), on_state)
        finally:
            process.terminate()
            process.wait(timeout=10)
