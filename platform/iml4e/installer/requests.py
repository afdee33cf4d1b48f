"""CPU and memory requests summed from rendered manifests (what `doctor` and the README use).

    python -m iml4e.installer.requests          # a table per profile (our objects, one replica each)

Sums `resources.requests` of every container (and init container) times the replicas of each
Deployment, StatefulSet and DaemonSet pod, and of a RayCluster's head and worker Pods (steady state:
one-off Jobs and ServingRuntimes, which start no pod by themselves, are not counted).
Upstream parts (KFP, KServe, cert-manager) are added when their manifests are in the cache; the
output says which were counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iml4e.installer.compose import Object
from iml4e.installer.render import containers, pod_specs

_SUFFIX = {
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
    "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "": 1,
}  # fmt: skip


def quantity_cpu(value: str) -> float:
    """A CPU quantity ('250m', '1', '0.5') in cores."""
    value = value.strip()
    if not value:
        return 0.0
    if value.endswith("m"):
        return float(value[:-1]) / 1000
    return float(value)


def quantity_memory(value: str) -> float:
    """A memory quantity ('512Mi', '1Gi', '1G', '128974848') in bytes."""
    match = re.fullmatch(r"([0-9.]+)([KMGT]i?|k)?", value.strip())
    if not match:
        return 0.0
    return float(match.group(1)) * _SUFFIX[match.group(2) or ""]


@dataclass(frozen=True)
class RequestTotals:
    cpu: float
    memory: float
    pods: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "cpu_cores": round(self.cpu, 3),
            "memory_mib": round(self.memory / 1024**2),
            "pods": self.pods,
        }


def _replicas(obj: Object) -> int:
    if obj.get("kind") in ("Deployment", "StatefulSet"):
        return int((obj.get("spec") or {}).get("replicas", 1))
    if obj.get("kind") in ("Pod", "DaemonSet"):
        return 1
    return 0  # Jobs finish; ServingRuntimes and others start no pod by themselves


def _pods(obj: Object) -> list[tuple[int, list[dict[str, Any]]]]:
    """(replicas, containers) of each kind of Pod that `obj` keeps running."""
    if obj.get("kind") == "RayCluster":
        spec = obj.get("spec") or {}
        replicas = [1] + [int(g.get("replicas", 1)) for g in spec.get("workerGroupSpecs") or []]
        return [
            (count, [*(pod.get("initContainers") or []), *(pod.get("containers") or [])])
            for count, pod in zip(replicas, pod_specs(obj), strict=True)
        ]
    return [(_replicas(obj), list(containers(obj)))]


def sum_requests(objects: list[Object]) -> RequestTotals:
    cpu = memory = 0.0
    pods = 0
    for obj in objects:
        for replicas, pod_containers in _pods(obj):
            if not replicas:
                continue
            pods += replicas
            for container in pod_containers:
                requested = (container.get("resources") or {}).get("requests") or {}
                cpu += replicas * quantity_cpu(str(requested.get("cpu", "0")))
                memory += replicas * quantity_memory(str(requested.get("memory", "0")))
    return RequestTotals(cpu, memory, pods)


def profile_requests(config: Any, cache: Path | None) -> tuple[RequestTotals, list[str]]:
    """Requests of a profile: our rendered objects plus every upstream part found in `cache`.

    Returns the totals and the names of the upstream parts that were counted.
    """
    from iml4e.installer.render import render_platform
    from iml4e.installer.upstream import cached_manifest, lock_for_config, read_manifest

    objects = list(render_platform(config).objects)
    counted = []
    if cache is not None:
        for entry in lock_for_config(config):
            manifest = cached_manifest(cache, entry)
            if manifest is not None:
                objects += read_manifest(manifest)
                counted.append(entry.name)
    return sum_requests(objects), counted


def main() -> None:
    from iml4e.console import print_table
    from iml4e.installer.config import PROFILES, PlatformConfig
    from iml4e.installer.render import render_platform

    rows = []
    for profile in PROFILES:
        totals = sum_requests(render_platform(PlatformConfig(profile=profile)).objects)
        rows.append((profile, f"{totals.cpu:.2f}", f"{totals.memory / 1024**3:.2f}", totals.pods))
    print_table(
        "requests of iml4e's own services (upstream not included)", ["profile", "CPU", "GiB", "pods"], rows
    )


if __name__ == "__main__":  # pragma: no cover
    main()
