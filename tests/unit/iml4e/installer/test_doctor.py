"""Doctor checks against recorded cluster objects (fixtures/), local ports and sysctls."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from iml4e.installer import doctor
from iml4e.installer.cluster import ClusterInfo

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture(name: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))
    return loaded


def _info(
    context: str = "kind-iml4e", version: tuple[int, int] = (1, 33), git: str = "v1.33.1"
) -> ClusterInfo:
    return ClusterInfo(context, "https://127.0.0.1:6443", version, git)


def test_cluster_flavours_are_recognised() -> None:
    kind_nodes = _fixture("nodes-kind.yaml")
    assert doctor.cluster_flavour(_info("kind-iml4e"), kind_nodes) == "kind"
    assert doctor.cluster_flavour(_info("minikube"), _fixture("nodes-small-arm.yaml")) == "minikube"
    assert (
        doctor.cluster_flavour(_info("default", git="v1.33.1+k3s1"), [{"metadata": {"name": "srv"}}]) == "k3s"
    )
    assert doctor.cluster_flavour(_info("gke_prod"), [{"metadata": {"name": "gke-pool-1"}}]) == "generic"


@pytest.mark.parametrize(
    ("version", "status"), [((1, 28), "fail"), ((1, 30), "pass"), ((1, 36), "pass"), ((1, 37), "warn")]
)
def test_kubernetes_version_range(version: tuple[int, int], status: str) -> None:
    check = doctor.check_version(_info(version=version, git=f"v{version[0]}.{version[1]}.0"))
    assert check.status == status
    assert check.status == "pass" or check.fix


def test_capacity_against_profile_requests() -> None:
    gib = 1024**3
    kind_nodes = _fixture("nodes-kind.yaml")
    assert doctor.check_capacity(kind_nodes, 1.0, 2 * gib, "standard").status == "pass"
    assert doctor.check_capacity(kind_nodes, 3.0, 2 * gib, "standard").status == "warn"
    small = doctor.check_capacity(_fixture("nodes-small-arm.yaml"), 2.0, 1 * gib, "full")
    assert small.status == "fail"  # the cordoned 8-CPU node does not count
    assert "1.5 CPU" in small.detail and "--profile" in small.fix


def test_storage_class_default_or_configured() -> None:
    classes = _fixture("storageclasses.yaml")
    assert doctor.check_storage_class(classes, None).detail == "default StorageClass 'standard'"
    assert doctor.check_storage_class(classes, "fast").status == "pass"
    missing = doctor.check_storage_class(classes, "ssd")
    assert missing.status == "fail" and "fast" in missing.fix
    none = doctor.check_storage_class([classes[1]], None)
    assert none.status == "fail" and "storage.storage_class" in none.fix


def test_architectures() -> None:
    assert doctor.check_architectures(_fixture("nodes-kind.yaml")).status == "pass"
    check = doctor.check_architectures(_fixture("nodes-small-arm.yaml"))
    assert check.status == "fail" and "s390x" in check.detail


def test_inotify_only_matters_on_kind() -> None:
    low = {"fs.inotify.max_user_watches": 8192, "fs.inotify.max_user_instances": 128}
    high = {"fs.inotify.max_user_watches": 524288, "fs.inotify.max_user_instances": 512}
    assert doctor.check_inotify("kind", low.get).status == "fail"
    assert "sysctl" in doctor.check_inotify("kind", low.get).fix
    assert doctor.check_inotify("kind", high.get).status == "pass"
    assert doctor.check_inotify("minikube", low.get).status == "pass"
    assert doctor.check_inotify("kind", lambda name: None).status == "warn"


def test_busy_forward_ports_warn() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        assert not doctor.port_is_free(busy)
    assert doctor.check_ports(lambda port: True).status == "pass"
    check = doctor.check_ports(lambda port: port != 5000)
    assert check.status == "warn" and "mlflow:5000" in check.detail
