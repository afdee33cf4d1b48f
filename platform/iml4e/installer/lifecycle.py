"""After install: health per component, the upgrade plan, and uninstall."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iml4e.installer import versions
from iml4e.installer.cluster import ClusterApi
from iml4e.installer.compose import Object, object_key
from iml4e.installer.install import RECORD_NAME, Stage, describe, read_record
from iml4e.installer.readiness import readiness
from iml4e.installer.render import (
    COMPONENT_LABEL,
    MANAGED_BY_LABEL,
    MONITORING_NAMESPACE,
    PLATFORM_NAMESPACE,
    SERVING_NAMESPACE,
)

#: Upstream components and the namespace their workloads run in.
UPSTREAM_NAMESPACES = {"kubeflow-pipelines": "kubeflow", "kserve": "kserve", "cert-manager": "cert-manager"}
OUR_NAMESPACES = (PLATFORM_NAMESPACE, SERVING_NAMESPACE, MONITORING_NAMESPACE)
WORKLOAD_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"))


@dataclass(frozen=True)
class ComponentHealth:
    component: str
    healthy: bool
    ready: str
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "healthy": self.healthy,
            "ready": self.ready,
            "problems": self.problems,
        }


def _health(component: str, workloads: list[Object]) -> ComponentHealth:
    if not workloads:
        return ComponentHealth(component, False, "0/0", ["no workloads found; run 'iml4e install'"])
    states = [(w, readiness(w)) for w in workloads]
    problems = [f"{describe(w)}: {state.reason}" for w, state in states if not state.ready]
    ready = sum(1 for _, state in states if state.ready)
    return ComponentHealth(component, not problems, f"{ready}/{len(states)}", problems)


def cluster_status(cluster: ClusterApi) -> dict[str, Any]:
    """Health per component from workload status and conditions, plus the install record."""
    record = read_record(cluster)
    ours: dict[str, list[Object]] = {}
    selector = f"{MANAGED_BY_LABEL}=iml4e"
    for namespace in OUR_NAMESPACES:
        for api_version, kind in WORKLOAD_KINDS:
            for obj in cluster.list_objects(api_version, kind, namespace, label_selector=selector):
                component = (obj.get("metadata", {}).get("labels") or {}).get(COMPONENT_LABEL, "other")
                ours.setdefault(component, []).append(obj)
    components = [_health(name, workloads) for name, workloads in sorted(ours.items())]
    wanted = ["kubeflow-pipelines"] + (
        ["kserve", "cert-manager"] if record and record["profile"] != "minimal" else []
    )
    for name in wanted:
        namespace = UPSTREAM_NAMESPACES[name]
        workloads = [w for api, kind in WORKLOAD_KINDS for w in cluster.list_objects(api, kind, namespace)]
        components.append(_health(name, workloads))
    return {
        "context": cluster.info.context,
        "installed": record is not None,
        "profile": record["profile"] if record else None,
        "completed_stages": record["completed_stages"] if record else [],
        "components": [c.as_dict() for c in components],
        "healthy": bool(record) and all(c.healthy for c in components),
    }


def upgrade_plan(cluster: ClusterApi) -> list[dict[str, str]]:
    """Each component whose installed version differs from this release's version matrix."""
    record = read_record(cluster)
    installed: dict[str, str] = record["versions"] if record else {}
    target = versions.version_matrix()
    return [
        {"component": name, "installed": installed.get(name, "-"), "target": version}
        for name, version in sorted(target.items())
        if installed.get(name) != version
    ]


def _has_claims(cluster: ClusterApi, namespace: str) -> bool:
    return bool(cluster.list_objects("v1", "PersistentVolumeClaim", namespace))


def uninstall(cluster: ClusterApi, stages: list[Stage], purge: bool) -> dict[str, Any]:
    """Delete what the install applied, last stage first.

    Without `purge`, data survives a reinstall: PersistentVolumeClaims, the generated Secrets that
    their data was written with, CRDs (deleting them would delete every custom resource), and
    namespaces that still hold claims are kept.
    """
    deleted: list[str] = []
    kept: list[str] = []
    namespaces: list[Object] = []
    for stage in reversed(stages):
        for obj in reversed(stage.objects):
            kind = obj.get("kind")
            generated = (obj.get("metadata", {}).get("annotations") or {}).get("iml4e.io/generated") == "true"
            if kind == "Namespace":
                namespaces.append(obj)
                continue
            if not purge and (kind == "CustomResourceDefinition" or generated):
                kept.append(describe(obj))
                continue
            _, namespace, name = object_key(obj)
            if cluster.delete(obj["apiVersion"], str(kind), name, namespace or None):
                deleted.append(describe(obj))
    if cluster.delete("v1", "ConfigMap", RECORD_NAME, PLATFORM_NAMESPACE):
        deleted.append(f"ConfigMap {PLATFORM_NAMESPACE}/{RECORD_NAME}")
    for namespace in OUR_NAMESPACES + tuple(UPSTREAM_NAMESPACES.values()):
        if purge:
            for claim in cluster.list_objects("v1", "PersistentVolumeClaim", namespace):
                name = claim["metadata"]["name"]
                if cluster.delete("v1", "PersistentVolumeClaim", name, namespace):
                    deleted.append(f"PersistentVolumeClaim {namespace}/{name}")
    for obj in namespaces:
        name = obj["metadata"]["name"]
        if not purge and _has_claims(cluster, name):
            kept.append(f"Namespace {name} (holds PersistentVolumeClaims; --purge deletes them)")
            continue
        if cluster.delete("v1", "Namespace", name):
            deleted.append(f"Namespace {name}")
    return {"deleted": deleted, "kept": kept, "purge": purge}
