"""Pre-flight checks before an install: each passes, warns or fails, and says how to fix it.

Checks read the cluster through `ClusterApi` (nodes, StorageClasses) plus local facts (free
ports, tools on PATH); each is a plain function so tests can feed recorded API objects.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from iml4e.installer import versions
from iml4e.installer.cluster import ClusterApi, ClusterInfo
from iml4e.installer.compose import Object
from iml4e.installer.requests import quantity_cpu, quantity_memory
from iml4e.ports import port_is_free

Status = Literal["pass", "warn", "fail"]

#: Local ports `iml4e open` forwards to (mlflow, kfp, grafana).
FORWARD_PORTS = {"mlflow": 5000, "kfp": 8080, "grafana": 3000}

#: Architectures every image in the version matrix is published for.
SUPPORTED_ARCHITECTURES = ("amd64", "arm64")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def cluster_flavour(info: ClusterInfo, nodes: list[Object]) -> str:
    """kind, minikube, k3s or generic: from the context name, node names and the server's version."""
    names = [str(node.get("metadata", {}).get("name", "")) for node in nodes]
    if info.context.startswith("kind-") or any(name.endswith("-control-plane") for name in names):
        return "kind"
    if "minikube" in info.context or any(name.startswith("minikube") for name in names):
        return "minikube"
    if "+k3s" in info.git_version or "k3d" in info.context:
        return "k3s"
    return "generic"


def check_reachable(info: ClusterInfo) -> Check:
    return Check("kube context", "pass", f"context '{info.context}' answers at {info.server}")


def check_version(info: ClusterInfo) -> Check:
    low, high = versions.KUBERNETES_MIN, versions.KUBERNETES_MAX
    supported = f"{low[0]}.{low[1]}-{high[0]}.{high[1]}"
    if info.version < low:
        return Check(
            "kubernetes version",
            "fail",
            f"{info.git_version} is older than {supported}",
            "upgrade the cluster",
        )
    if info.version > high:
        return Check(
            "kubernetes version",
            "warn",
            f"{info.git_version} is newer than the tested range {supported}",
            "it will probably work; report problems",
        )
    return Check("kubernetes version", "pass", f"{info.git_version} (supported {supported})")


def _allocatable(nodes: list[Object]) -> tuple[float, float]:
    cpu = sum(quantity_cpu(str(n.get("status", {}).get("allocatable", {}).get("cpu", "0"))) for n in nodes)
    memory = sum(
        quantity_memory(str(n.get("status", {}).get("allocatable", {}).get("memory", "0"))) for n in nodes
    )
    return cpu, memory


#: Taints that keep new Pods off a node (a node controller sets the first two on unhealthy nodes).
_BLOCKING_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")


def schedulable_nodes(nodes: list[Object]) -> list[Object]:
    """Nodes new Pods can land on: Ready, not cordoned, not tainted unreachable or not-ready."""

    def usable(node: Object) -> bool:
        spec = node.get("spec") or {}
        if spec.get("unschedulable"):
            return False
        if any(t.get("key") in _BLOCKING_TAINTS for t in spec.get("taints") or []):
            return False
        conditions = (node.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    return [node for node in nodes if usable(node)]


def check_nodes(nodes: list[Object]) -> Check:
    if not nodes:
        return Check(
            "nodes",
            "fail",
            "the cluster has no nodes: no Pod can be scheduled",
            "add worker nodes (or wait until they have joined), then re-run",
        )
    ready = schedulable_nodes(nodes)
    detail = f"{len(ready)} of {len(nodes)} nodes ready and schedulable"
    if not ready:
        return Check(
            "nodes", "fail", detail, "make a node Ready (kubectl describe node NAME) and uncordon it"
        )
    return Check("nodes", "pass" if len(ready) == len(nodes) else "warn", detail)


def check_capacity(nodes: list[Object], needed_cpu: float, needed_memory: float, profile: str) -> Check:
    """Allocatable CPU/memory of Ready, schedulable nodes against the profile's summed requests."""
    cpu, memory = _allocatable(schedulable_nodes(nodes))
    gib = 1024**3
    detail = (
        f"allocatable {cpu:.1f} CPU / {memory / gib:.1f} GiB; profile {profile} requests "
        f"{needed_cpu:.2f} CPU / {needed_memory / gib:.2f} GiB"
    )
    if cpu < needed_cpu or memory < needed_memory:
        return Check(
            "capacity", "fail", detail, "add nodes or resources, or use a smaller profile (--profile)"
        )
    if cpu < needed_cpu * 1.5 or memory < needed_memory * 1.5:
        return Check("capacity", "warn", detail, "little headroom for pipeline and model pods; add resources")
    return Check("capacity", "pass", detail)


def check_storage_class(storage_classes: list[Object], configured: str | None) -> Check:
    names = [str(sc.get("metadata", {}).get("name")) for sc in storage_classes]
    if configured:
        if configured in names:
            return Check("storage class", "pass", f"'{configured}' exists (from iml4e.yaml)")
        return Check(
            "storage class",
            "fail",
            f"'{configured}' does not exist",
            f"set storage.storage_class to one of {names}",
        )
    annotation = "storageclass.kubernetes.io/is-default-class"
    defaults = [
        str(sc["metadata"]["name"])
        for sc in storage_classes
        if (sc.get("metadata", {}).get("annotations") or {}).get(annotation) == "true"
    ]
    if defaults:
        return Check("storage class", "pass", f"default StorageClass '{defaults[0]}'")
    return Check(
        "storage class",
        "fail",
        "no default StorageClass; volumes of Postgres, the object store and Prometheus would stay Pending",
        "mark one default or set storage.storage_class in iml4e.yaml",
    )


def check_architectures(nodes: list[Object]) -> Check:
    if not nodes:
        return Check("node architecture", "fail", "no nodes to read an architecture from", "add nodes")
    arches = sorted({str(n.get("status", {}).get("nodeInfo", {}).get("architecture", "?")) for n in nodes})
    unsupported = [arch for arch in arches if arch not in SUPPORTED_ARCHITECTURES]
    if unsupported:
        return Check(
            "node architecture",
            "fail",
            f"nodes run {', '.join(unsupported)}; images exist for {', '.join(SUPPORTED_ARCHITECTURES)}",
            "add amd64 or arm64 nodes, or mirror images built for your architecture (images.registry_mirror)",
        )
    return Check("node architecture", "pass", ", ".join(arches))


def check_inotify(flavour: str, read_sysctl: Callable[[str], int | None]) -> Check:
    """kind nodes share the host kernel: Kubeflow's many watchers need raised inotify limits."""
    if flavour != "kind":
        return Check("inotify limits", "pass", f"not a kind cluster ({flavour})")
    watches = read_sysctl("fs.inotify.max_user_watches")
    instances = read_sysctl("fs.inotify.max_user_instances")
    if watches is None or instances is None:
        return Check(
            "inotify limits", "warn", "cannot read the host's inotify limits", "check them on the host"
        )
    if watches < 524288 or instances < 512:
        return Check(
            "inotify limits",
            "fail",
            f"max_user_watches={watches}, max_user_instances={instances} (pods fail: 'too many open files')",
            "sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512",
        )
    return Check("inotify limits", "pass", f"max_user_watches={watches}, max_user_instances={instances}")


def read_host_sysctl(name: str) -> int | None:
    try:
        with open("/proc/sys/" + name.replace(".", "/"), encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def check_ports(is_free: Callable[[int], bool] = port_is_free) -> Check:
    busy = [f"{name}:{port}" for name, port in FORWARD_PORTS.items() if not is_free(port)]
    if busy:
        return Check(
            "local ports",
            "warn",
            f"busy: {', '.join(busy)}",
            "'iml4e open' then picks a free port instead; stop what uses them to keep the usual URLs",
        )
    return Check("local ports", "pass", ", ".join(f"{n}:{p}" for n, p in FORWARD_PORTS.items()) + " free")


def check_kubectl(needs_kustomize_build: bool) -> Check:
    if shutil.which("kubectl"):
        return Check("kubectl", "pass", "found (used to build Kubeflow Pipelines' kustomize manifests)")
    if needs_kustomize_build:
        return Check(
            "kubectl",
            "fail",
            "not found; Kubeflow Pipelines' manifests are not cached yet",
            "install kubectl",
        )
    return Check("kubectl", "pass", "not needed: upstream manifests are cached")


def run_checks(
    cluster: ClusterApi,
    profile: str,
    requests: tuple[float, float],
    storage_class: str | None,
    needs_kustomize_build: bool,
    read_sysctl: Callable[[str], int | None] = read_host_sysctl,
    is_free: Callable[[int], bool] = port_is_free,
) -> list[Check]:
    nodes = cluster.list_objects("v1", "Node")
    storage_classes = cluster.list_objects("storage.k8s.io/v1", "StorageClass")
    flavour = cluster_flavour(cluster.info, nodes)
    checks = [
        check_reachable(cluster.info),
        Check("cluster type", "pass", flavour),
        check_version(cluster.info),
        check_nodes(nodes),
        check_capacity(nodes, requests[0], requests[1], profile),
        check_storage_class(storage_classes, storage_class),
        check_architectures(nodes),
        check_inotify(flavour, read_sysctl),
        check_ports(is_free),
        check_kubectl(needs_kustomize_build),
    ]
    return checks


def summary(checks: list[Check]) -> dict[str, Any]:
    failed = [c.name for c in checks if c.status == "fail"]
    return {"ok": not failed, "failed": failed, "checks": [c.as_dict() for c in checks]}
