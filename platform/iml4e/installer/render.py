"""Render every object iml4e owns for a profile, fully offline, each tagged with its install stage.

The profile's overlay is composed (`compose`), then configuration is applied: services that are
`external` are dropped and components are wired to the external endpoints, volume sizes and the
storage class are set, the alert receiver and thresholds are configured, image tags come from the version matrix.
Upstream parts (KFP, KServe, cert-manager, KubeRay) are not rendered here: they are listed by reference
(`upstream.lock_entries`) and composed at install time from the verified cache.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iml4e.errors import UsageError
from iml4e.installer import versions
from iml4e.installer.alert_rules import RULES_CONFIG_MAP, RULES_KEY, with_thresholds
from iml4e.installer.compose import Object, compose, merge_patch, object_key
from iml4e.installer.config import Mode, PlatformConfig, RayMode
from iml4e.installer.drift_monitor import drift_monitor_objects
from iml4e.installer.image_digests import pinned, read_image_digests
from iml4e.installer.serving_runtime import serving_runtime_objects
from iml4e_components.conventions import SERVING_NAMESPACE

#: Install stages in order; every object belongs to exactly one.
STAGES: tuple[str, ...] = ("namespaces-crds", "cert-manager", "controllers", "services", "custom-resources")

PLATFORM_NAMESPACE = "iml4e"
MONITORING_NAMESPACE = "iml4e-monitoring"
PIPELINES_NAMESPACE = "kubeflow"
RAY_NAMESPACE = "iml4e-ray"
#: The managed RayCluster; KubeRay names its head Service `<name>-head-svc`.
RAY_CLUSTER_NAME = "iml4e-ray"
RAY_CLIENT_PORT = 10001
S3_CREDENTIALS_SECRET = "iml4e-s3-credentials"  # nosec B105  # a Secret's name
ENDPOINTS_CONFIG_MAP = "iml4e-endpoints"

#: Pod Security level enforced in upstream namespaces whose release manifest sets none (their Pods
#: meet it, except KServe's opt-in local-model node agent, which needs a hostPath).
#: `kubeflow` keeps upstream's own labels (baseline): pipeline step Pods run user images.
#: docs/reference-architecture.md gives the level of every namespace and why.
UPSTREAM_POD_SECURITY = {"kserve": "restricted", "cert-manager": "restricted", "kuberay": "restricted"}
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
PART_OF_LABEL = "app.kubernetes.io/part-of"
COMPONENT_LABEL = "iml4e.io/component"

_KIND_ORDER = [
    "Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret",
    "Service", "PersistentVolumeClaim", "StatefulSet", "Deployment", "Job", "NetworkPolicy", "ServingRuntime",
]  # fmt: skip


@dataclass(frozen=True)
class Rendering:
    """What `render` produced for one profile and config."""

    profile: str
    objects: list[Object]
    endpoints: dict[str, str] = field(default_factory=dict)

    def by_stage(self) -> dict[str, list[Object]]:
        staged: dict[str, list[Object]] = {stage: [] for stage in STAGES}
        for obj in self.objects:
            staged[stage_of(obj)].append(obj)
        return staged


def pod_security_labels(namespace: str) -> dict[str, str]:
    """The Pod Security labels iml4e sets on an upstream namespace (none when it keeps upstream's)."""
    level = UPSTREAM_POD_SECURITY.get(namespace)
    if level is None:
        return {}
    return {POD_SECURITY_ENFORCE: level, f"{POD_SECURITY_ENFORCE}-version": "latest"}


def stage_of(obj: Object) -> str:
    """The install stage of one of our objects (or of an upstream one without a declared stage)."""
    kind = obj.get("kind", "")
    if kind in ("Namespace", "CustomResourceDefinition"):
        return "namespaces-crds"
    api_group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    builtin = api_group in ("", "apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io", "policy")
    return "services" if builtin else "custom-resources"


def _sort_key(obj: Object) -> tuple[int, int, str, str]:
    kind, namespace, name = object_key(obj)
    kind_rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    return (STAGES.index(stage_of(obj)), kind_rank, namespace, name)


def endpoints(config: PlatformConfig) -> dict[str, str]:
    """Where components find each platform service (managed: in-cluster DNS; external: configured)."""
    store = config.services.object_store
    s3 = (
        store.endpoint
        if store.mode is Mode.external and store.endpoint
        else "http://iml4e-object-store.iml4e.svc:8333"
    )
    mlflow = config.services.mlflow
    tracking = (
        mlflow.uri if mlflow.mode is Mode.external and mlflow.uri else "http://iml4e-mlflow.iml4e.svc:5000"
    )
    values = {
        "MLFLOW_TRACKING_URI": tracking,
        "MLFLOW_S3_ENDPOINT_URL": s3,
        "AWS_ENDPOINT_URL": s3,
        "AWS_DEFAULT_REGION": store.region,
        "IML4E_BUCKET": store.bucket,
    }
    if mlflow.mode is Mode.managed:
        # MLflow proxies artifacts (clients need no S3 credentials); runs record them as
        # mlflow-artifacts:/<path>, stored at <destination>/<path>, which KServe reads directly.
        values["MLFLOW_ARTIFACTS_DESTINATION"] = f"s3://{store.bucket}/mlflow"
    if config.includes("monitoring"):
        prometheus = config.services.prometheus
        values["PROMETHEUS_URL"] = (
            prometheus.url
            if prometheus.mode is Mode.external and prometheus.url
            else "http://iml4e-prometheus.iml4e-monitoring.svc:9090"
        )
    if config.includes("serving"):
        # deploy_model (iml4e_components.deployment) creates InferenceServices there.
        values["IML4E_SERVING_NAMESPACE"] = SERVING_NAMESPACE
        values["IML4E_DEPLOY_TARGET"] = "kserve"
    if config.includes("feast"):
        feast = config.services.feast
        if feast.mode is Mode.external and feast.registry:
            values["FEAST_REGISTRY"] = feast.registry
        else:
            values["FEAST_FEATURE_SERVER_URL"] = "http://iml4e-feast.iml4e.svc:6566"
    return values


def ray_address(config: PlatformConfig) -> str | None:
    """Where detect_errors finds Ray on the cluster: the managed RayCluster's Ray client port, the
    external address, or None (Ray off, or a profile without the RayCluster: the step's local engine)."""
    ray = config.services.ray
    if ray.mode is RayMode.external:
        return ray.address
    if config.managed("ray"):
        return f"ray://{RAY_CLUSTER_NAME}-head-svc.{RAY_NAMESPACE}.svc:{RAY_CLIENT_PORT}"
    return None


def _excluded_components(config: PlatformConfig) -> set[str]:
    excluded = set()
    if not config.managed("object_store"):
        excluded.add("object-store")
    if not config.managed("mlflow"):
        excluded.add("mlflow")
    if not config.managed("prometheus"):
        excluded.add("monitoring")
    if not config.managed("feast"):
        excluded.add("feast")
    if not config.managed("ray"):
        excluded.add("ray")
    if not config.managed("mlflow") and not config.managed("feast"):
        excluded.add("postgres")
    return excluded


def pod_specs(obj: Object) -> Iterator[dict[str, Any]]:
    """The pod specs (or pod-spec-like container holders) inside a workload or ServingRuntime."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "ServingRuntime" or obj.get("kind") == "Pod":
        yield spec
    elif obj.get("kind") == "RayCluster":
        for group in [spec.get("headGroupSpec") or {}, *(spec.get("workerGroupSpecs") or [])]:
            yield (group.get("template") or {}).get("spec") or {}
    elif obj.get("kind") == "CronJob":
        yield spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    elif isinstance(spec.get("template"), dict):
        yield spec["template"].get("spec") or {}


def containers(obj: Object) -> Iterator[dict[str, Any]]:
    for pod in pod_specs(obj):
        yield from pod.get("initContainers") or []
        yield from pod.get("containers") or []


def _pin_image(image: str, mirror: str | None, digests: dict[str, str] | None = None) -> str:
    references = versions.image_tags()
    if image in references:
        image = references[image]
    elif ":" not in image.rsplit("/", 1)[-1] and "@" not in image:
        raise UsageError(
            f"image '{image}' has no tag and no entry in the version matrix; add it to versions.IMAGES"
        )
    if digests is not None:
        image = pinned(image, digests)  # the digest is the image's, wherever it is pulled from
    return mirrored(image, mirror)


def mirrored(image: str, mirror: str | None) -> str:
    """`image` as pulled through `mirror` (the registry part replaced); unchanged without a mirror."""
    if not mirror:
        return image
    first, _, rest = image.partition("/")
    registry_like = "." in first or ":" in first or first == "localhost"
    return f"{mirror.rstrip('/')}/{rest if registry_like else image}"


def _rename_secret(value: Any, old: str, new: str) -> Any:
    """Every reference to Secret `old` (secretKeyRef, secretRef, secret volumes) renamed to `new`."""
    if isinstance(value, dict):
        renamed = {key: _rename_secret(item, old, new) for key, item in value.items()}
        for holder, key in (("secretKeyRef", "name"), ("secretRef", "name"), ("secret", "secretName")):
            if holder in renamed and isinstance(renamed[holder], dict) and renamed[holder].get(key) == old:
                renamed[holder] = {**renamed[holder], key: new}
        return renamed
    if isinstance(value, list):
        return [_rename_secret(item, old, new) for item in value]
    return value


def _set_storage(objects: list[Object], config: PlatformConfig) -> None:
    """Volume sizes and storage class from the config, on each StatefulSet's `data` claim."""
    sizes = {
        ("iml4e-postgres", PLATFORM_NAMESPACE): config.storage.postgres,
        ("iml4e-object-store", PLATFORM_NAMESPACE): config.storage.object_store,
        ("iml4e-prometheus", MONITORING_NAMESPACE): config.storage.prometheus,
    }
    for obj in objects:
        kind, namespace, name = object_key(obj)
        if kind != "StatefulSet" or (name, namespace) not in sizes:
            continue
        for claim in obj["spec"].get("volumeClaimTemplates", []):
            if claim["metadata"]["name"] == "data":
                claim["spec"]["resources"]["requests"]["storage"] = sizes[(name, namespace)]
                if config.storage.storage_class:
                    claim["spec"]["storageClassName"] = config.storage.storage_class


def _size_ray_cluster(objects: list[Object], config: PlatformConfig) -> None:
    """Worker count, head and worker resources (requests = limits) and the Ray version, from the config."""
    ray = config.services.ray
    for obj in objects:
        if object_key(obj) != ("RayCluster", RAY_NAMESPACE, RAY_CLUSTER_NAME):
            continue
        spec = obj["spec"]
        spec["rayVersion"] = versions.RAY_VERSION
        groups = [(spec["headGroupSpec"], ray.head)]
        for worker_group in spec["workerGroupSpecs"]:
            worker_group.update(replicas=ray.workers, minReplicas=ray.workers, maxReplicas=ray.workers)
            groups.append((worker_group, ray.worker))
        for group, size in groups:
            amounts = {"cpu": size.cpu, "memory": size.memory}
            for container in group["template"]["spec"]["containers"]:
                container["resources"] = {"requests": dict(amounts), "limits": dict(amounts)}


def _alerting_patches(config: PlatformConfig) -> list[Object]:
    secret = config.alerting.webhook_secret
    if not secret:
        return []
    routing = {
        "route": {
            "receiver": "iml4e-webhook",
            "group_by": ["alertname", "namespace", "model"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        },
        "receivers": [
            {
                "name": "iml4e-webhook",
                "webhook_configs": [{"url_file": "/etc/alertmanager/webhook/url", "send_resolved": True}],
            }
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "iml4e-alertmanager-config", "namespace": MONITORING_NAMESPACE},
            "data": {"alertmanager.yml": yaml.safe_dump(routing, sort_keys=False)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "iml4e-alertmanager", "namespace": MONITORING_NAMESPACE},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "alertmanager",
                                "volumeMounts": [
                                    {
                                        "name": "webhook",
                                        "mountPath": "/etc/alertmanager/webhook",
                                        "readOnly": True,
                                    }
                                ],
                            }
                        ],
                        "volumes": [{"name": "webhook", "secret": {"secretName": secret}}],
                    }
                }
            },
        },
    ]


def _set_alert_thresholds(objects: list[Object], config: PlatformConfig) -> None:
    for obj in objects:
        if (
            object_key(obj) == ("ConfigMap", MONITORING_NAMESPACE, RULES_CONFIG_MAP)
            and RULES_KEY in obj["data"]
        ):
            obj["data"][RULES_KEY] = with_thresholds(
                obj["data"][RULES_KEY], config.alerting.thresholds, config.rollout
            )


def _endpoint_config_maps(values: dict[str, str]) -> list[Object]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": ENDPOINTS_CONFIG_MAP, "namespace": namespace},
            "data": dict(values),
        }
        for namespace in (PLATFORM_NAMESPACE, PIPELINES_NAMESPACE)
    ]


def _apply_patches(objects: list[Object], patches: list[Object]) -> list[Object]:
    index = {object_key(obj): position for position, obj in enumerate(objects)}
    for patch in patches:
        key = object_key(patch)
        if key in index:
            objects[index[key]] = merge_patch(objects[index[key]], patch)
    return objects


def _label(obj: Object) -> Object:
    labels = obj.setdefault("metadata", {}).setdefault("labels", {})
    labels[MANAGED_BY_LABEL] = "iml4e"
    labels[PART_OF_LABEL] = "iml4e"
    return obj


def render_platform(config: PlatformConfig, manifests: Path | None = None) -> Rendering:
    """Compose the profile's overlay and apply the configuration; no network, no cluster."""
    from iml4e.paths import manifests_dir

    root = manifests or manifests_dir()
    overlay = root / "overlays" / config.profile
    objects = compose(overlay)
    excluded = _excluded_components(config)
    objects = [
        obj
        for obj in objects
        if (obj.get("metadata", {}).get("labels") or {}).get(COMPONENT_LABEL) not in excluded
    ]
    values = endpoints(config)
    objects.extend(_endpoint_config_maps(values))
    objects.extend(serving_runtime_objects(config, values))
    objects.extend(drift_monitor_objects(config, values))
    objects = _apply_patches(objects, _alerting_patches(config))
    _set_alert_thresholds(objects, config)
    _set_storage(objects, config)
    _size_ray_cluster(objects, config)
    store = config.services.object_store
    if store.mode is Mode.external and store.credentials_secret:
        objects = [_rename_secret(obj, S3_CREDENTIALS_SECRET, store.credentials_secret) for obj in objects]
    mirror = config.images.registry_mirror
    digests = read_image_digests(root) if config.images.pin_digests else None
    for obj in objects:
        for container in containers(obj):
            container["image"] = _pin_image(str(container.get("image", "")), mirror, digests)
        _label(obj)
    objects.sort(key=_sort_key)
    return Rendering(
        profile=config.profile, objects=[copy.deepcopy(obj) for obj in objects], endpoints=values
    )


def dump_objects(objects: list[Object]) -> str:
    """Objects as one multi-document YAML text (stable key order as written)."""
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False, width=120)
