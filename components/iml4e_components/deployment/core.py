"""Deploying a registered model: the local serving endpoint, or a KServe InferenceService.

Where to deploy is configuration (`IML4E_DEPLOY_TARGET=local|kserve` and the `IML4E_SERVING_*`
settings below), never a branch in a pipeline. `build_inference_service` is a pure function;
`deploy_kserve` applies its output through the `kubernetes` client and waits for Ready.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from iml4e_components.conventions import SERVING_NAMESPACE
from iml4e_components.errors import ComponentError

TARGET_ENV = "IML4E_DEPLOY_TARGET"
TARGETS = ("local", "kserve")
NAMESPACE_ENV = "IML4E_SERVING_NAMESPACE"
RUNTIME_ENV = "IML4E_SERVING_RUNTIME"
SERVICE_ACCOUNT_ENV = "IML4E_SERVING_SERVICE_ACCOUNT"
#: The ServingRuntime the installer ships (iml4e's model server from the iml4e image: V1 and V2).
DEFAULT_RUNTIME = "iml4e-mlflow"
#: Its service account carries the object store credentials for the storage initializer.
DEFAULT_SERVICE_ACCOUNT = "iml4e-model-server"
#: Port of the runtime's Prometheus metrics endpoint (/metrics on the server's HTTP port).
METRICS_PORT = 8080
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"


@dataclass(frozen=True)
class Resources:
    cpu_request: str = "250m"
    memory_request: str = "512Mi"
    cpu_limit: str = "1"
    memory_limit: str = "2Gi"


@dataclass(frozen=True)
class Deployment:
    target: str
    name: str
    model_uri: str
    url: str
    detail: dict[str, Any]

    def as_json(self) -> str:
        return json.dumps(asdict(self), default=str)


def deploy_target() -> str:
    """The configured target; errors name the variable and the allowed values."""
    target = os.environ.get(TARGET_ENV, "local").strip() or "local"
    if target not in TARGETS:
        raise ComponentError(
            f"{TARGET_ENV}='{target}' is not a deploy target; set it to one of: {', '.join(TARGETS)}"
        )
    return target


def endpoint_name(model_name: str) -> str:
    """A DNS-1035 name for the endpoint (KServe's rule for InferenceService names)."""
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", model_name.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"m-{name}".rstrip("-")
    return name[:45].rstrip("-")


# ---- local -------------------------------------------------------------------------------------


def serve_command(model_uri: str, name: str) -> list[str]:
    """The command that starts (or updates) the local endpoint and returns at once."""
    return [sys.executable, "-m", "iml4e", "serve", model_uri, "--name", name, "--detach", "--json"]


def deploy_local(model_uri: str, name: str, timeout: float = 180.0) -> Deployment:
    """Run `iml4e serve ... --detach --json` and read where the endpoint listens from its JSON."""
    command = serve_command(model_uri, name)
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ComponentError(
            f"starting the local endpoint '{name}' took over {timeout:.0f} s; see 'iml4e status'"
        ) from exc
    if finished.returncode != 0:
        lines = [line for line in (finished.stderr or finished.stdout).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {finished.returncode}"
        raise ComponentError(f"deploying {model_uri} locally as '{name}' failed: {reason}")
    try:
        detail = json.loads(finished.stdout)
    except json.JSONDecodeError:
        detail = {"output": finished.stdout.strip()}
    url = str(detail.get("url", "")) if isinstance(detail, dict) else ""
    return Deployment(
        target="local",
        name=name,
        model_uri=model_uri,
        url=url,
        detail=detail if isinstance(detail, dict) else {},
    )


# ---- KServe ------------------------------------------------------------------------------------


def build_inference_service(
    name: str,
    storage_uri: str,
    namespace: str = SERVING_NAMESPACE,
    runtime: str = DEFAULT_RUNTIME,
    service_account: str = DEFAULT_SERVICE_ACCOUNT,
    resources: Resources | None = None,
    model_uri: str = "",
    min_replicas: int = 1,
) -> dict[str, Any]:
    """The InferenceService for one MLflow model: RawDeployment (no Knative), the model's artifacts
    from the object store, Prometheus scrape annotations, requests and limits."""
    if not storage_uri.startswith(("s3://", "gs://", "pvc://", "https://", "hdfs://", "oci://")):
        raise ComponentError(
            f"the model's artifacts are at '{storage_uri}', which a cluster cannot read; "
            "log models to the platform's object store (s3://...) before deploying to KServe"
        )
    limits = resources or Resources()
    annotations = {
        "serving.kserve.io/deploymentMode": "RawDeployment",
        "serving.kserve.io/enable-prometheus-scraping": "true",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORT),
        "prometheus.io/path": "/metrics",
    }
    if model_uri:
        annotations["iml4e.io/model-uri"] = model_uri
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "iml4e", "iml4e.io/model": name},
            "annotations": annotations,
        },
        "spec": {
            "predictor": {
                "serviceAccountName": service_account,
                "minReplicas": min_replicas,
                "model": {
                    "modelFormat": {"name": "mlflow"},
                    "protocolVersion": "v2",
                    "runtime": runtime,
                    "storageUri": storage_uri,
                    "resources": {
                        "requests": {"cpu": limits.cpu_request, "memory": limits.memory_request},
                        "limits": {"cpu": limits.cpu_limit, "memory": limits.memory_limit},
                    },
                },
            }
        },
    }


def is_ready(service: dict[str, Any]) -> tuple[bool, str]:
    """(Ready, why not) from an InferenceService's status conditions."""
    conditions = (service.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") == "Ready":
            if condition.get("status") == "True":
                return True, ""
            return False, str(condition.get("message") or condition.get("reason") or "not ready")
    return False, "no Ready condition yet"


def model_storage_uri(model_uri: str) -> str:
    """Where a registered model's artifacts live in the object store (`models:/name@alias` or
    `models:/name/version`); other URIs are returned as they are."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not model_uri.startswith("models:/"):
        return model_uri
    name, _, selector = model_uri[len("models:/") :].partition("@")
    client = mlflow.MlflowClient()
    try:
        if selector:
            version = str(client.get_model_version_by_alias(name, selector).version)
        else:
            name, _, version = name.partition("/")
        return str(client.get_model_version_download_uri(name, version))
    except MlflowException as exc:
        raise ComponentError(f"cannot resolve model URI '{model_uri}': {exc.message}") from exc


def deploy_kserve(
    service: dict[str, Any],
    api: Any = None,
    timeout: float = 300.0,
    poll: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Create or update `service` and wait until it is Ready (at most `timeout` seconds).

    `api` is a `kubernetes.client.CustomObjectsApi` (built from the in-cluster or kubeconfig
    configuration when not given).
    """
    from kubernetes.client.exceptions import ApiException

    if api is None:
        api = _custom_objects_api()
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    try:
        api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        exists = True
    except ApiException as exc:
        if exc.status != 404:
            raise ComponentError(
                f"cannot read InferenceService {namespace}/{name}: {exc.status} {exc.reason}"
            ) from exc
        exists = False
    try:
        if exists:
            api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, service)
        else:
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, service)
    except ApiException as exc:
        verb = "update" if exists else "create"
        raise ComponentError(
            f"cannot {verb} InferenceService {namespace}/{name}: {exc.status} {exc.reason}"
        ) from exc
    deadline = clock() + timeout
    why = "not checked"
    while True:
        current = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        ready, why = is_ready(current)
        if ready:
            return dict(current)
        if clock() >= deadline:
            raise ComponentError(
                f"InferenceService {namespace}/{name} was not Ready within {timeout:.0f} s ({why}); "
                f"see 'kubectl -n {namespace} describe inferenceservice {name}'"
            )
        sleep(poll)


def _custom_objects_api() -> Any:
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, OSError) as exc:
            raise ComponentError(
                f"{TARGET_ENV}=kserve but no Kubernetes configuration was found ({exc}); run in the cluster or set KUBECONFIG"
            ) from exc
    return client.CustomObjectsApi()


def deploy(model_uri: str, model_name: str, timeout: float = 300.0) -> Deployment:
    """Deploy `model_uri` as endpoint `model_name` on the configured target."""
    name = endpoint_name(model_name)
    if deploy_target() == "local":
        return deploy_local(model_uri, name, timeout)
    namespace = os.environ.get(NAMESPACE_ENV, SERVING_NAMESPACE)
    service = build_inference_service(
        name,
        model_storage_uri(model_uri),
        namespace=namespace,
        runtime=os.environ.get(RUNTIME_ENV, DEFAULT_RUNTIME),
        service_account=os.environ.get(SERVICE_ACCOUNT_ENV, DEFAULT_SERVICE_ACCOUNT),
        model_uri=model_uri,
    )
    applied = deploy_kserve(service, timeout=timeout)
    url = str((applied.get("status") or {}).get("url", ""))
    return Deployment(
        target="kserve", name=name, model_uri=model_uri, url=url, detail={"namespace": namespace}
    )


def deploy_if_enabled(enabled: bool, model_uri: str, model_name: str, timeout: float = 300.0) -> str:
    """`deploy` as JSON, or a note that deployment is switched off (a pipeline parameter)."""
    if not enabled:
        return json.dumps({"deployed": False, "model_uri": model_uri, "reason": "deploy=false"})
    return json.dumps({"deployed": True, **json.loads(deploy(model_uri, model_name, timeout).as_json())})
