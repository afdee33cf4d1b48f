"""Is an object ready? Read from its status and conditions, the same way for install and status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iml4e.installer.compose import Object

#: Kinds whose readiness the installer waits for; every other kind is ready once applied.
WAITED_KINDS = ("CustomResourceDefinition", "Deployment", "StatefulSet", "DaemonSet", "Job")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


def _condition(obj: Object, kind: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def _condition_text(condition: dict[str, Any] | None) -> str:
    if not condition:
        return ""
    parts = [str(condition.get(key)) for key in ("reason", "message") if condition.get(key)]
    return ": ".join(parts)


def readiness(obj: Object) -> Readiness:
    """Ready or not, with the reason a user can act on (from conditions where there are some)."""
    kind = obj.get("kind")
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if kind == "CustomResourceDefinition":
        established = _condition(obj, "Established")
        if established and established.get("status") == "True":
            return Readiness(True, "established")
        return Readiness(False, _condition_text(established) or "not established yet")
    if kind in ("Deployment", "StatefulSet"):
        wanted = int(spec.get("replicas", 1))
        if int(status.get("observedGeneration", 0)) < int((obj.get("metadata") or {}).get("generation", 0)):
            return Readiness(False, "rollout not observed yet")
        ready = int(status.get("readyReplicas", 0) or 0)
        available = int(status.get("availableReplicas", ready) or 0)
        if ready >= wanted and available >= wanted:
            return Readiness(True, f"{ready}/{wanted} ready")
        detail = ""
        for condition_type, bad_status in (
            ("ReplicaFailure", "True"),
            ("Available", "False"),
            ("Progressing", "False"),
        ):
            condition = _condition(obj, condition_type)
            if condition and condition.get("status") == bad_status:
                detail = _condition_text(condition)
                break
        return Readiness(False, f"{ready}/{wanted} ready" + (f" ({detail})" if detail else ""))
    if kind == "DaemonSet":
        if int(status.get("observedGeneration", 0)) < int((obj.get("metadata") or {}).get("generation", 1)):
            return Readiness(False, "rollout not observed yet")
        desired = int(status.get("desiredNumberScheduled", 0) or 0)
        ready = int(status.get("numberReady", 0) or 0)
        if desired == 0:
            # Its node selector matches no node (KServe's local-model agent wants labelled nodes): the
            # controller has seen it and wants no Pod, which is its ready state.
            return Readiness(True, "0/0 ready (no node matches its node selector)")
        return Readiness(ready >= desired, f"{ready}/{desired} ready")
    if kind == "Job":
        complete = _condition(obj, "Complete")
        if complete and complete.get("status") == "True":
            return Readiness(True, "complete")
        failed = _condition(obj, "Failed")
        if failed and failed.get("status") == "True":
            return Readiness(False, f"failed ({_condition_text(failed)})")
        return Readiness(False, f"running ({int(status.get('failed', 0) or 0)} failed attempts)")
    if kind == "RayCluster":
        return _ray_cluster_readiness(obj)
    ready_condition = _condition(obj, "Ready")
    if ready_condition is not None:
        return Readiness(ready_condition.get("status") == "True", _condition_text(ready_condition) or "ready")
    return Readiness(True, "applied")


def _ray_cluster_readiness(obj: Object) -> Readiness:
    """A RayCluster as its KubeRay operator reports it: `status.state` and its conditions."""
    status = obj.get("status") or {}
    if not status:
        return Readiness(False, "not reconciled yet; is the KubeRay operator (namespace kuberay) running?")
    workers = int(status.get("readyWorkerReplicas", 0) or 0)
    wanted = int(status.get("desiredWorkerReplicas", 0) or 0)
    if status.get("state") == "ready":
        return Readiness(True, f"ready, {workers}/{wanted} workers")
    failure = _condition(obj, "ReplicaFailure")
    if failure and failure.get("status") == "True":
        return Readiness(False, f"replica failure ({_condition_text(failure)})")
    head = _condition(obj, "HeadPodReady")
    if head and head.get("status") != "True":
        return Readiness(False, f"head not ready ({_condition_text(head)})")
    return Readiness(False, f"{status.get('state') or 'starting'}, {workers}/{wanted} workers ready")
