"""`iml4e open` (kubectl port-forward) and `iml4e cluster create` pieces that run without a cluster."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import yaml

from iml4e.errors import ServiceError, UsageError
from iml4e.installer import access, kind_cluster, versions


def test_unknown_service_names_the_choices() -> None:
    with pytest.raises(UsageError, match="use one of mlflow, kfp, grafana"):
        access.resolve_target("jupyter")


def test_port_forward_command_binds_loopback_and_uses_the_context() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    command = access.port_forward_command(access.TARGETS["mlflow"], 5000, "/k/config", "kind-iml4e")
    assert command[1:] == [
        "--kubeconfig", "/k/config", "--context", "kind-iml4e", "port-forward", "--address", "127.0.0.1",
        "-n", "iml4e", "svc/iml4e-mlflow", "5000:5000",
    ]  # fmt: skip


def test_a_busy_preferred_port_is_replaced_by_a_free_one() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        chosen = access.pick_local_port(busy)
    assert chosen != busy


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_port_forward_to_an_unreachable_cluster_fails_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ServiceError, match="port-forward to iml4e/iml4e-mlflow failed") as raised:
        access.start_port_forward(access.TARGETS["mlflow"], str(kubeconfig), None)
    assert "\n" not in str(raised.value)


def test_kind_config_keeps_the_api_on_loopback_and_pins_the_node_image() -> None:
    config = kind_cluster.kind_config(workers=2)
    assert config["networking"] == {"apiServerAddress": "127.0.0.1"}
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]  # type: ignore[attr-defined]
    major, minor = max(versions.KIND_NODE_IMAGES)
    assert (major, minor) <= versions.KUBERNETES_MAX
    assert kind_cluster.node_image().startswith(f"kindest/node:v{major}.{minor}.")
