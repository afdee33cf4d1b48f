"""Deploying a registered model: the local serving endpoint, or a KServe InferenceService.

Where to deploy is configuration (`IML4E_DEPLOY_TARGET=local|kserve` and the `IML4E_SERVING_*`
settings below), never a branch in a pipeline. `build_inference_service` is a pure function;
`deploy_kserve` applies its output through the `kubernetes` client and waits for Ready.

Rollouts: `replace` swaps the served model at once; `canary` keeps the primary and sends a share of
the traffic to a second model. On the cluster a canary is KServe v0.20's Standard-mode `spec.canary`
list: one entry with `trafficPercent` and a named predictor (KServe runs it as the Deployment
`<service>-<name>-predictor`, overlaying its fields on the primary's). The predictor's own
`canaryTrafficPercent` is the Knative-mode field, which Standard mode ignores, so it is not used.
Promotion makes the canary's predictor the primary (same name: KServe keeps its pods) and drops the
list; rollback drops the list. `promote_patch` and `rollback_patch` build those JSON merge patches,
`apply_rollout` sends one (onto the object `read_inference_service` read).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from iml4e_components.conventions import ROLLOUTS, SERVING_NAMESPACE, SERVING_VARIANT_ENV
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
#: The annotations naming the models served (the primary's and, during a canary, the canary's).
MODEL_URI_ANNOTATION = "iml4e.io/model-uri"
CANARY_URI_ANNOTATION = "iml4e.io/canary-model-uri"
#: The model container's name: KServe's defaulting webhook gives it, but the CRD schema requires it
#: in a canary's model, and schema validation must pass with or without the webhook.
MODEL_CONTAINER = "kserve-container"
#: KServe names a canary's Deployment `<service>-<canary name>-predictor`: a DNS label (63 characters).
_DEPLOYMENT_NAME_LIMIT = 63


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
    name = re.sub(r"[^a-z0-9-]+", "-", model_name.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"m-{name}".rstrip("-")
    return name[:45].rstrip("-")


def check_rollout(rollout: str, canary_traffic: int) -> None:
    """Refuse an unknown rollout mode or a traffic share outside 0-100, naming the parameter."""
    if rollout not in ROLLOUTS:
        raise ComponentError(f"rollout='{rollout}' is not a rollout mode; use one of: {', '.join(ROLLOUTS)}")
    if (
        isinstance(canary_traffic, bool)
        or not isinstance(canary_traffic, int)
        or not 0 <= canary_traffic <= 100
    ):
        raise ComponentError(
            f"canary_traffic={canary_traffic!r} is not a traffic share; give a whole percentage from 0 to 100"
        )


# ---- local -------------------------------------------------------------------------------------


def serve_command(model_uri: str, name: str, canary_uri: str = "", canary_traffic: int = 10) -> list[str]:
    """The command that starts (or updates) the local endpoint and returns at once; with `canary_uri`
    the endpoint serves that model to `canary_traffic` percent of the requests."""
    command = [sys.executable, "-m", "iml4e", "serve", model_uri, "--name", name]
    if canary_uri:
        command += ["--canary", canary_uri, "--canary-traffic", str(canary_traffic)]
    return [*command, "--detach", "--json"]


def deploy_local(
    model_uri: str, name: str, timeout: float = 180.0, canary_uri: str = "", canary_traffic: int = 10
) -> Deployment:
    """Run `iml4e serve ... --detach --json` and read where the endpoint listens from its JSON."""
    command = serve_command(model_uri, name, canary_uri, canary_traffic)
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
    detail = detail if isinstance(detail, dict) else {}
    if canary_uri:
        detail = {**detail, "canary_uri": canary_uri, "canary_traffic": canary_traffic}
    return Deployment(target="local", name=name, model_uri=model_uri, url=url, detail=detail)


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
    canary: Canary | None = None,
) -> dict[str, Any]:
    """The InferenceService for one MLflow model: Standard mode (no Knative), the model's artifacts
    from the object store, Prometheus scrape annotations, requests and limits; with `canary`, a
    second model served to `canary.traffic` percent of the requests (`spec.canary`)."""
    _check_readable(storage_uri)
    limits = resources or Resources()
    annotations = {
        "serving.kserve.io/deploymentMode": "Standard",
        "serving.kserve.io/enable-prometheus-scraping": "true",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORT),
        "prometheus.io/path": "/metrics",
    }
    if model_uri:
        annotations[MODEL_URI_ANNOTATION] = model_uri
    model = {
        "modelFormat": {"name": "mlflow"},
        "protocolVersion": "v2",
        "runtime": runtime,
        "storageUri": storage_uri,
        "resources": {
            "requests": {"cpu": limits.cpu_request, "memory": limits.memory_request},
            "limits": {"cpu": limits.cpu_limit, "memory": limits.memory_limit},
        },
    }
    spec: dict[str, Any] = {
        "predictor": {"serviceAccountName": service_account, "minReplicas": min_replicas, "model": model}
    }
    if canary is not None:
        canary.check(name)
        if canary.model_uri:
            annotations[CANARY_URI_ANNOTATION] = canary.model_uri
        # Only what differs from the primary: KServe fills the rest of the canary from it.
        spec["canary"] = [
            {
                "trafficPercent": canary.traffic,
                "predictor": {
                    "name": canary.name,
                    "model": {
                        **model,
                        "name": MODEL_CONTAINER,
                        "storageUri": canary.storage_uri,
                        "env": [{"name": SERVING_VARIANT_ENV, "value": "canary"}],
                    },
                },
            }
        ]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "iml4e", "iml4e.io/model": name},
            "annotations": annotations,
        },
        "spec": spec,
    }


def _check_readable(storage_uri: str) -> None:
    if not storage_uri.startswith(("s3://", "gs://", "pvc://", "https://", "hdfs://", "oci://")):
        raise ComponentError(
            f"the model's artifacts are at '{storage_uri}', which a cluster cannot read; "
            "log models to the platform's object store (s3://...) before deploying to KServe"
        )


@dataclass(frozen=True)
class Canary:
    """A second model served beside the primary to `traffic` percent of the requests.

    `name` names its predictor (KServe's Deployment `<service>-<name>-predictor`); promotion keeps the
    name, so it should say which model it serves (`canary_name` makes `v<version>`)."""

    storage_uri: str
    name: str
    traffic: int = 10
    model_uri: str = ""

    def check(self, service: str) -> None:
        check_rollout("canary", self.traffic)
        _check_readable(self.storage_uri)
        if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", self.name):
            raise ComponentError(
                f"canary name '{self.name}' is not a DNS label; use lower-case letters, digits and '-', "
                "starting with a letter"
            )
        deployment = f"{service}-{self.name}-predictor"
        if len(deployment) > _DEPLOYMENT_NAME_LIMIT:
            raise ComponentError(
                f"the canary's Deployment name '{deployment}' is longer than {_DEPLOYMENT_NAME_LIMIT} "
                "characters; shorten the canary name or the endpoint name"
            )


def canary_name(version: str) -> str:
    """The canary predictor's name for a model version: `v<version>`."""
    return f"v{version}" if version.isdigit() else endpoint_name(version)


# ---- rollout: promote or roll back a canary -----------------------------------------------------

ROLLOUT_ACTIONS = ("promote", "rollback")


def _the_canary(service: dict[str, Any], action: str) -> dict[str, Any]:
    meta = service.get("metadata") or {}
    canaries = (service.get("spec") or {}).get("canary") or []
    where = f"InferenceService {meta.get('namespace', '')}/{meta.get('name', '')}"
    if not canaries:
        raise ComponentError(f"{where} has no canary to {action}; deploy one first with rollout=canary")
    if len(canaries) > 1:
        names = ", ".join(str((c.get("predictor") or {}).get("name")) for c in canaries)
        raise ComponentError(
            f"{where} has {len(canaries)} canaries ({names}); iml4e manages one, remove the others"
        )
    return dict(canaries[0])


def promote_patch(service: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that makes `service`'s canary its primary: the canary's predictor (name
    included, so KServe keeps its pods; without the canary variant variable) overlays the primary's,
    and the canary list goes."""
    predictor = dict(_the_canary(service, "promote")["predictor"])
    model = dict(predictor.get("model") or {})
    # The promoted pods are the primary now: they stop calling themselves canary.
    env = [e for e in model.get("env") or [] if e.get("name") != SERVING_VARIANT_ENV]
    predictor["model"] = {**model, "env": env or None}
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    patch: dict[str, Any] = {"spec": {"predictor": predictor, "canary": None}}
    if CANARY_URI_ANNOTATION in annotations:
        patch["metadata"] = {
            "annotations": {
                MODEL_URI_ANNOTATION: annotations[CANARY_URI_ANNOTATION],
                CANARY_URI_ANNOTATION: None,
            }
        }
    return patch


def rollback_patch(service: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch that stops `service`'s canary: the primary serves every request again."""
    _the_canary(service, "roll back")
    patch: dict[str, Any] = {"spec": {"canary": None}}
    if CANARY_URI_ANNOTATION in ((service.get("metadata") or {}).get("annotations") or {}):
        patch["metadata"] = {"annotations": {CANARY_URI_ANNOTATION: None}}
    return patch


def traffic_split(service: dict[str, Any]) -> dict[str, Any]:
    """Who gets which share: the spec's split, and KServe's report of it (`status.canaryStatuses`,
    the `CanaryPredictorReady` condition) when the controller has written one."""
    spec = service.get("spec") or {}
    canaries = spec.get("canary") or []
    shares = {str((c.get("predictor") or {}).get("name")): int(c.get("trafficPercent", 0)) for c in canaries}
    status = service.get("status") or {}
    reported = {
        str(s.get("name")): {"traffic": s.get("trafficPercent"), "ready": s.get("ready")}
        for s in status.get("canaryStatuses") or []
    }
    condition = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "CanaryPredictorReady"), None
    )
    return {
        "primary": {
            "name": (spec.get("predictor") or {}).get("name", ""),
            "traffic": 100 - sum(shares.values()),
        },
        "canaries": [
            {"name": name, "traffic": share, **reported.get(name, {})} for name, share in shares.items()
        ],
        "canary_ready": None if condition is None else condition.get("status") == "True",
    }


def read_inference_service(name: str, namespace: str = SERVING_NAMESPACE, api: Any = None) -> dict[str, Any]:
    """InferenceService `namespace/name` as the API server holds it; a one-line error naming the fix
    when it does not exist, when the cluster does not know KServe, or when the user may not read it.
    `api` is a `kubernetes.client.CustomObjectsApi` (from the configuration when not given)."""
    from kubernetes.client.exceptions import ApiException

    if api is None:
        api = _custom_objects_api()
    where = f"InferenceService {namespace}/{name}"
    try:
        return dict(api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))
    except ApiException as exc:
        if exc.status == 404 and not _names_an_object(exc):
            raise ComponentError(
                f"the cluster does not serve {GROUP}/{VERSION} InferenceServices (KServe is not installed); "
                "install it with 'iml4e install' (profile standard or full)"
            ) from exc
        if exc.status == 404:
            raise ComponentError(
                f"{where} does not exist; deploy the model first, or name the namespace it is in"
            ) from exc
        raise ComponentError(f"cannot read {where}: {_api_refusal(exc, 'get', namespace)}") from exc


def _names_an_object(exc: Any) -> bool:
    """Whether a 404 is about a named object (it is missing), not about the resource type (unknown)."""
    try:
        return bool((json.loads(exc.body).get("details") or {}).get("name"))
    except (TypeError, ValueError, AttributeError):
        return False


def apply_rollout(
    name: str,
    action: str,
    namespace: str = SERVING_NAMESPACE,
    api: Any = None,
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Promote or roll back the canary of InferenceService `namespace/name`; returns the patched
    object. `api` is a `kubernetes.client.CustomObjectsApi` (from the configuration when not given);
    `current` is the object as read before (read here when not given): the patch applies onto that
    read only."""
    from kubernetes.client.exceptions import ApiException

    if action not in ROLLOUT_ACTIONS:
        raise ComponentError(f"'{action}' is not a rollout action; use one of: {', '.join(ROLLOUT_ACTIONS)}")
    if api is None:
        api = _custom_objects_api()
    where = f"InferenceService {namespace}/{name}"
    if current is None:
        current = read_inference_service(name, namespace, api)
    patch = promote_patch(current) if action == "promote" else rollback_patch(current)
    # Only onto the object read: a change in between makes the API server refuse (409), not mix the two.
    version = (current.get("metadata") or {}).get("resourceVersion")
    if version:
        patch["metadata"] = {**patch.get("metadata", {}), "resourceVersion": version}
    try:
        return dict(api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch))
    except ApiException as exc:
        raise ComponentError(
            f"cannot {action} the canary of {where}: {_api_refusal(exc, 'patch', namespace)}"
        ) from exc


def _api_refusal(exc: Any, verb: str, namespace: str) -> str:
    """`_api_reason`, and for a 403 (RBAC) the permission to grant."""
    reason = _api_reason(exc)
    if exc.status == 403:
        return (
            f"{reason}; grant that user '{verb}' on inferenceservices.{GROUP} in namespace {namespace} "
            "(a Role and RoleBinding), or use a kubeconfig context whose user has it"
        )
    return reason


def _api_reason(exc: Any) -> str:
    """One line from an ApiException: the API server's message when it sent one."""
    try:
        message = str(json.loads(exc.body).get("message") or "")
    except (TypeError, ValueError, AttributeError):
        message = ""
    return " ".join((message or f"{exc.status} {exc.reason}").split())


def is_ready(service: dict[str, Any]) -> tuple[bool, str]:
    """(Ready, why not) from an InferenceService's status conditions; with a canary, its own
    condition (`CanaryPredictorReady`) must be true as well."""
    wanted = ["Ready"] + (["CanaryPredictorReady"] if (service.get("spec") or {}).get("canary") else [])
    conditions = {c.get("type"): c for c in (service.get("status") or {}).get("conditions") or []}
    for kind in wanted:
        condition = conditions.get(kind)
        if condition is None:
            return False, f"no {kind} condition yet"
        if condition.get("status") != "True":
            return False, str(condition.get("message") or condition.get("reason") or f"not {kind}")
    return True, ""


def model_storage_uri(model_uri: str) -> str:
    """Where a registered model's artifacts live in the object store (`models:/name@alias` or
    `models:/name/version`); other URIs are returned as they are."""
    return resolve_model(model_uri)[1]


def resolve_model(model_uri: str) -> tuple[str, str]:
    """(version, artifact location) of a registered model URI (`models:/name@alias` or
    `models:/name/version`); other URIs give ("", the URI)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not model_uri.startswith("models:/"):
        return "", model_uri
    name, _, selector = model_uri[len("models:/") :].partition("@")
    client = mlflow.MlflowClient()
    try:
        if selector:
            version = str(client.get_model_version_by_alias(name, selector).version)
        else:
            name, _, version = name.partition("/")
        return version, str(client.get_model_version_download_uri(name, version))
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
            # A merge patch keeps what it does not name: say that a replacement ends any canary.
            spec = {"canary": None, **service["spec"]}
            api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, {**service, "spec": spec}
            )
        else:
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, service)
    except ApiException as exc:
        verb = "update" if exists else "create"
        raise ComponentError(
            f"cannot {verb} InferenceService {namespace}/{name}: {_api_reason(exc)}"
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


def deploy(
    model_uri: str, model_name: str, timeout: float = 300.0, canary_uri: str = "", canary_traffic: int = 10
) -> Deployment:
    """Deploy `model_uri` as endpoint `model_name` on the configured target; with `canary_uri`, that
    model serves `canary_traffic` percent of the requests beside it."""
    check_rollout("canary" if canary_uri else "replace", canary_traffic)
    name = endpoint_name(model_name)
    if deploy_target() == "local":
        return deploy_local(model_uri, name, timeout, canary_uri, canary_traffic)
    namespace = os.environ.get(NAMESPACE_ENV, SERVING_NAMESPACE)
    canary = None
    if canary_uri:
        version, location = resolve_model(canary_uri)
        canary = Canary(location, canary_name(version or "canary"), canary_traffic, canary_uri)
    service = build_inference_service(
        name,
        model_storage_uri(model_uri),
        namespace=namespace,
        runtime=os.environ.get(RUNTIME_ENV, DEFAULT_RUNTIME),
        service_account=os.environ.get(SERVICE_ACCOUNT_ENV, DEFAULT_SERVICE_ACCOUNT),
        model_uri=model_uri,
        canary=canary,
    )
    applied = deploy_kserve(service, timeout=timeout)
    url = str((applied.get("status") or {}).get("url", ""))
    detail: dict[str, Any] = {"namespace": namespace}
    if canary is not None:
        detail.update(canary_uri=canary_uri, canary_traffic=canary_traffic, split=traffic_split(applied))
    return Deployment(target="kserve", name=name, model_uri=model_uri, url=url, detail=detail)


def deploy_if_enabled(
    enabled: bool,
    model_uri: str,
    model_name: str,
    timeout: float = 300.0,
    canary_uri: str = "",
    canary_traffic: int = 10,
) -> str:
    """`deploy` as JSON, or a note that deployment is switched off (a pipeline parameter)."""
    if not enabled:
        return json.dumps({"deployed": False, "model_uri": model_uri, "reason": "deploy=false"})
    deployed = deploy(model_uri, model_name, timeout, canary_uri, canary_traffic)
    return json.dumps({"deployed": True, **json.loads(deployed.as_json())})


def rollout_uris(model_name: str, rollout: str, canary_traffic: int, registration: str) -> tuple[str, str]:
    """(primary URI, canary URI or "") to deploy for `rollout`. With `canary`, the registered
    `challenger` becomes the canary beside `champion` when registration held it back for one (a
    registration JSON with `"canary": true`; no registration JSON: the challenger is the canary);
    otherwise the champion alone is deployed."""
    from iml4e_components.registry.core import CHALLENGER, CHAMPION

    check_rollout(rollout, canary_traffic)
    champion = f"models:/{model_name}@{CHAMPION}"
    if rollout == "replace":
        return champion, ""
    held = True
    if registration.strip():
        try:
            held = bool(json.loads(registration).get("canary", False))
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ComponentError("registration is not register_model's JSON; pass its output") from exc
    return champion, f"models:/{model_name}@{CHALLENGER}" if held else ""
