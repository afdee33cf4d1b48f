"""`iml4e cluster create|delete`: a local kind cluster sized and configured for iml4e.

Needs `docker` (with a running engine) and `kind` on PATH; says exactly what is missing otherwise.
kind nodes share the host kernel, so inotify limits are checked on the host (they cannot be raised
from inside a node) and the command to raise them is printed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from iml4e.errors import ServiceError, UsageError
from iml4e.installer import versions

DEFAULT_NAME = "iml4e"
CREATE_TIMEOUT_SECONDS = 600


def kind_config(workers: int = 0) -> dict[str, object]:
    """kind cluster config: API on 127.0.0.1, one control plane (+ workers), a pinned node image."""
    control_plane: dict[str, object] = {
        "role": "control-plane",
        # The API server and port-forwards stay on the loopback interface.
        "kubeadmConfigPatches": [
            'kind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    max-pods: "250"\n'
        ],
    }
    nodes: list[dict[str, object]] = [control_plane] + [{"role": "worker"} for _ in range(workers)]
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"apiServerAddress": "127.0.0.1"},
        "nodes": nodes,
    }


def node_image() -> str:
    """The kind node image of the newest Kubernetes minor that has one."""
    return f"kindest/node:{versions.KIND_NODE_IMAGES[max(versions.KIND_NODE_IMAGES)]}"


def require_tools() -> tuple[str, str]:
    docker = shutil.which("docker")
    kind = shutil.which("kind")
    missing = [name for name, path in (("docker", docker), ("kind", kind)) if path is None]
    if missing:
        raise UsageError(
            f"'iml4e cluster create' needs {' and '.join(missing)} on PATH; install "
            + ", ".join(missing)
            + " (https://kind.sigs.k8s.io/docs/user/quick-start/) or use an existing cluster"
        )
    assert docker is not None and kind is not None
    probe = subprocess.run(
        [docker, "info", "--format", "{{.MemTotal}}"], capture_output=True, text=True, timeout=20
    )
    if probe.returncode != 0:
        raise ServiceError("docker is installed but its engine does not answer; start Docker and retry")
    return docker, kind


def docker_memory_bytes(docker: str) -> int:
    probe = subprocess.run(
        [docker, "info", "--format", "{{.MemTotal}}"], capture_output=True, text=True, timeout=20
    )
    try:
        return int(probe.stdout.strip())
    except ValueError:
        return 0


def create_cluster(name: str = DEFAULT_NAME, workers: int = 0) -> list[str]:
    """Create the kind cluster; returns warnings (memory, inotify) to show the user."""
    from iml4e.installer.doctor import check_inotify, read_host_sysctl

    docker, kind = require_tools()
    warnings = []
    inotify = check_inotify("kind", read_host_sysctl)
    if inotify.status != "pass":
        warnings.append(f"{inotify.detail}; fix: {inotify.fix}")
    memory = docker_memory_bytes(docker)
    if memory and memory < 8 * 1024**3:
        warnings.append(
            f"docker has {memory / 1024**3:.1f} GiB memory; the standard profile wants 8 GiB or more"
        )
    with tempfile.TemporaryDirectory(prefix="iml4e-kind-") as tmp:
        config_file = Path(tmp) / "kind.yaml"
        config_file.write_text(yaml.safe_dump(kind_config(workers), sort_keys=False), encoding="utf-8")
        result = subprocess.run(
            [
                kind,
                "create",
                "cluster",
                "--name",
                name,
                "--image",
                node_image(),
                "--config",
                str(config_file),
            ],
            capture_output=True,
            text=True,
            timeout=CREATE_TIMEOUT_SECONDS,
        )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ServiceError(
            f"kind create cluster failed: {last}; see 'kind create cluster' output with --verbose"
        )
    return warnings


def delete_cluster(name: str = DEFAULT_NAME) -> None:
    _, kind = require_tools()
    result = subprocess.run(
        [kind, "delete", "cluster", "--name", name], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ServiceError(f"kind delete cluster failed: {last}")
