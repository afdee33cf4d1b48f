"""After install: health per component, the upgrade plan, and uninstall."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iml4e.installer.cluster import ClusterApi
from iml4e.installer.compose import Object, object_key
from iml4e.installer.credentials import GENERATED_ANNOTATION
from iml4e.installer.install import RECORD_NAME, Stage, describe, read_record, record_object
from iml4e.installer.readiness import readiness
from iml4e.installer.render import (
    COMPONENT_LABEL,
    MANAGED_BY_LABEL,
    MONITORING_NAMESPACE,
    PLATFORM_NAMESPACE,
    RAY_NAMESPACE,
    containers,
)
from iml4e_components.conventions import SERVING_NAMESPACE

#: Upstream components and the namespace their workloads run in.
UPSTREAM_NAMESPACES = {
    "kubeflow-pipelines": "kubeflow",
    "kserve": "kserve",
    "cert-manager": "cert-manager",
    "kuberay-operator": "kuberay",
}
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
    installed = record is not None and record["state"] == "installed"
    ours: dict[str, list[Object]] = {}
    selector = f"{MANAGED_BY_LABEL}=iml4e"
    for namespace in OUR_NAMESPACES:
        for api_version, kind in WORKLOAD_KINDS:
            for obj in cluster.list_objects(api_version, kind, namespace, label_selector=selector):
                component = (obj.get("metadata", {}).get("labels") or {}).get(COMPONENT_LABEL, "other")
                ours.setdefault(component, []).append(obj)
    # The managed RayCluster (profile full, services.ray managed): its health is what the KubeRay
    # operator reports in its status, and the operator itself is then an upstream component.
    ray_clusters = cluster.list_objects("ray.io/v1", "RayCluster", RAY_NAMESPACE, label_selector=selector)
    if ray_clusters:
        ours.setdefault("ray", []).extend(ray_clusters)
    components = [_health(name, workloads) for name, workloads in sorted(ours.items())]
    wanted = ["kubeflow-pipelines"] + (
        ["kserve", "cert-manager"] if record and record["profile"] != "minimal" else []
    )
    wanted += ["kuberay-operator"] if ray_clusters else []
    for name in wanted if installed else []:
        namespace = UPSTREAM_NAMESPACES[name]
        workloads = [w for api, kind in WORKLOAD_KINDS for w in cluster.list_objects(api, kind, namespace)]
        components.append(_health(name, workloads))
    return {
        "context": cluster.info.context,
        "installed": installed,
        "state": record["state"] if record else "not installed",
        "profile": record["profile"] if record else None,
        "completed_stages": record["completed_stages"] if record else [],
        "components": [c.as_dict() for c in components],
        "healthy": installed and all(c.healthy for c in components),
    }


def _images(obj: Object) -> dict[str, str]:
    return {str(c.get("name")): str(c.get("image")) for c in containers(obj)}


def upgrade_plan(cluster: ClusterApi, stages: list[Stage]) -> list[dict[str, str]]:
    """Each container whose image on the cluster differs from the one this release installs.

    Read from the live workloads, not from the install record, so a hand-edited or half-upgraded
    workload shows too; a workload missing from the cluster is listed as `not installed`.
    """
    plan = []
    for stage in stages:
        for obj in stage.objects:
            if obj.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
                continue
            kind, namespace, name = object_key(obj)
            live = cluster.get(obj["apiVersion"], kind, name, namespace or None)
            installed = _images(live) if live else {}
            for container, image in _images(obj).items():
                if installed.get(container) != image:
                    plan.append(
                        {
                            "object": describe(obj),
                            "container": container,
                            "installed": installed.get(container, "not installed"),
                            "target": image,
                        }
                    )
    return plan


def _has_claims(cluster: ClusterApi, namespace: str) -> bool:
    return bool(cluster.list_objects("v1", "PersistentVolumeClaim", namespace))


def uninstall(
    cluster: ClusterApi,
    stages: list[Stage],
    purge: bool,
    profile: str = "",
    wait_seconds: float = 120.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Delete what the install applied, last stage first.

    Without `purge`, data survives a reinstall: every PersistentVolumeClaim (ours and upstream's),
    the generated Secrets their data was written with, CRDs (deleting them would delete every custom
    resource), the platform namespace (it holds those Secrets and the install record, marked
    `uninstalled` so that a later `--purge` finds what is left) and every namespace that holds claims.
    With `purge` everything goes, and the namespaces are waited for (at most `wait_seconds`) until they
    finish terminating; the result's `terminating` names those that have not.
    """
    deleted: list[str] = []
    kept: list[str] = []
    namespaces: list[Object] = []

    def delete(api_version: str, kind: str, name: str, namespace: str | None) -> None:
        what = f"{kind} {namespace + '/' if namespace else ''}{name}"
        if what not in deleted and cluster.delete(api_version, kind, name, namespace):
            deleted.append(what)

    for stage in reversed(stages):
        for obj in reversed(stage.objects):
            kind = str(obj.get("kind"))
            generated = (obj.get("metadata", {}).get("annotations") or {}).get(GENERATED_ANNOTATION) == "true"
            if kind == "Namespace":
                namespaces.append(obj)
                continue
            if not purge and (kind in ("CustomResourceDefinition", "PersistentVolumeClaim") or generated):
                kept.append(describe(obj))
                continue
            _, namespace, name = object_key(obj)
            delete(obj["apiVersion"], kind, name, namespace or None)
    names = [str(obj["metadata"]["name"]) for obj in namespaces]
    if purge:
        delete("v1", "ConfigMap", RECORD_NAME, PLATFORM_NAMESPACE)
        for namespace in names:
            for claim in cluster.list_objects("v1", "PersistentVolumeClaim", namespace):
                delete("v1", "PersistentVolumeClaim", claim["metadata"]["name"], namespace)
    else:
        cluster.apply(record_object(profile, [], state="uninstalled"))
    for name in names:
        if not purge and name == PLATFORM_NAMESPACE:
            kept.append(f"Namespace {name} (holds the install record and credentials; --purge deletes it)")
        elif not purge and _has_claims(cluster, name):
            claims = cluster.list_objects("v1", "PersistentVolumeClaim", name)
            kept += [f"PersistentVolumeClaim {name}/{c['metadata']['name']}" for c in claims]
            kept.append(f"Namespace {name} (holds PersistentVolumeClaims; --purge deletes them)")
        else:
            delete("v1", "Namespace", name, None)
    remaining = _wait_namespaces_gone(cluster, names, wait_seconds, clock, sleep) if purge else []
    return {"deleted": deleted, "kept": sorted(set(kept)), "purge": purge, "terminating": remaining}


def _wait_namespaces_gone(
    cluster: ClusterApi,
    names: list[str],
    wait_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> list[str]:
    """Namespaces still there after `wait_seconds` (empty when all finished terminating)."""
    deadline = clock() + wait_seconds
    while True:
        left = [name for name in names if cluster.get("v1", "Namespace", name) is not None]
        if not left or clock() >= deadline:
            return left
        sleep(1.0)
