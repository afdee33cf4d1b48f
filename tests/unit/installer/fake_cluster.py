"""A recording stand-in for a Kubernetes API server.

This is the one place a fake is right: no API server can run in the test environment, and the
installer's ordering, waiting, idempotency and resume logic must still be tested. It keeps applied
objects in memory, reports created/configured/unchanged like server-side apply does (by comparing
the applied body), and lets a test decide when workloads become ready.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from iml4e.installer.cluster import ApplyOutcome, ClusterInfo
from iml4e.installer.compose import Object, object_key


def ready_status(obj: Object) -> dict[str, Any]:
    kind = obj.get("kind")
    if kind == "CustomResourceDefinition":
        return {"conditions": [{"type": "Established", "status": "True"}]}
    if kind in ("Deployment", "StatefulSet"):
        replicas = int((obj.get("spec") or {}).get("replicas", 1))
        return {"observedGeneration": 1, "readyReplicas": replicas, "availableReplicas": replicas}
    if kind == "Job":
        return {"conditions": [{"type": "Complete", "status": "True"}]}
    return {}


class FakeCluster:
    def __init__(self, ready: Callable[[Object, int], bool] | None = None) -> None:
        self.info = ClusterInfo("fake", "https://fake:6443", (1, 33), "v1.33.1")
        self.objects: dict[tuple[str, str, str], Object] = {}
        self.calls: list[tuple[str, str]] = []
        self.gets: dict[tuple[str, str, str], int] = {}
        # ready(obj, times_polled) -> bool; default: ready at once.
        self._ready = ready or (lambda obj, polls: True)
        self.events: dict[str, list[str]] = {}
        self.claims: dict[str, list[str]] = {}

    def apply(self, obj: Object, dry_run: bool = False) -> ApplyOutcome:
        key = object_key(obj)
        self.calls.append(("dry-apply" if dry_run else "apply", f"{key[0]} {key[1]}/{key[2]}"))
        body = copy.deepcopy(obj)
        current = self.objects.get(key)
        if dry_run:
            return (
                "created" if current is None else ("unchanged" if current["body"] == body else "configured")
            )
        if current is None:
            self.objects[key] = {"body": body}
            return "created"
        if current["body"] == body:
            return "unchanged"
        current["body"] = body
        return "configured"

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Object | None:
        key = (kind, namespace or "", name)
        self.calls.append(("get", f"{kind} {namespace or ''}/{name}"))
        stored = self.objects.get(key)
        if stored is None:
            return None
        polls = self.gets[key] = self.gets.get(key, 0) + 1
        live = copy.deepcopy(stored["body"])
        live.setdefault("metadata", {})["generation"] = 1
        if kind not in ("CustomResourceDefinition", "Deployment", "StatefulSet", "Job"):
            return live  # recorded objects (nodes, storage classes) keep their own status
        if self._ready(live, polls):
            live["status"] = ready_status(live)
        else:
            live["status"] = {
                "observedGeneration": 1,
                "readyReplicas": 0,
                "conditions": [
                    {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}
                ],
            }
        return live

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Object]:
        self.calls.append(("list", f"{kind} {namespace or ''}"))
        if kind == "PersistentVolumeClaim":
            return [
                {"metadata": {"name": name, "namespace": namespace}}
                for name in self.claims.get(namespace or "", [])
            ]
        found = []
        for (k, ns, name), stored in self.objects.items():
            if k == kind and (namespace is None or ns == namespace):
                labels = stored["body"].get("metadata", {}).get("labels") or {}
                if label_selector:
                    key, _, value = label_selector.partition("=")
                    if labels.get(key) != value:
                        continue
                found.append(self.get(api_version, kind, name, ns or None) or {})
        return found

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        self.calls.append(("delete", f"{kind} {namespace or ''}/{name}"))
        if kind == "PersistentVolumeClaim":
            names = self.claims.get(namespace or "", [])
            if name in names:
                names.remove(name)
                return True
            return False
        return self.objects.pop((kind, namespace or "", name), None) is not None

    def events_for(self, namespace: str, name: str) -> list[str]:
        return self.events.get(f"{namespace}/{name}", [])


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
