"""`iml4e open`: port-forward a platform service to 127.0.0.1 and print its URL."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from iml4e.errors import UsageError

FORWARD_START_SECONDS = 10.0


@dataclass(frozen=True)
class Target:
    namespace: str
    service: str
    port: int
    local_port: int
    path: str = "/"


TARGETS = {
    "mlflow": Target("iml4e", "iml4e-mlflow", 5000, 5000),
    "kfp": Target("kubeflow", "ml-pipeline-ui", 80, 8080),
    "grafana": Target("iml4e-monitoring", "iml4e-grafana", 3000, 3000),
    "prometheus": Target("iml4e-monitoring", "iml4e-prometheus", 9090, 9090),
    "alertmanager": Target("iml4e-monitoring", "iml4e-alertmanager", 9093, 9093),
    "kfp-api": Target("kubeflow", "ml-pipeline", 8888, 8888),
}


def resolve_target(name: str) -> Target:
    if name not in TARGETS:
        raise UsageError(f"unknown service '{name}'; use one of {', '.join(TARGETS)}")
    return TARGETS[name]


def pick_local_port(preferred: int) -> int:
    from iml4e.ports import free_port, port_is_free

    return preferred if port_is_free(preferred) else int(free_port())


def port_forward_command(
    target: Target, local_port: int, kubeconfig: str | None, context: str | None
) -> list[str]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise UsageError("'iml4e open' needs kubectl for the port-forward; install kubectl")
    command = [kubectl]
    if kubeconfig:
        command += ["--kubeconfig", kubeconfig]
    if context:
        command += ["--context", context]
    return [
        *command,
        "port-forward",
        "--address",
        "127.0.0.1",
        "-n",
        target.namespace,
        f"svc/{target.service}",
        f"{local_port}:{target.port}",
    ]


def start_port_forward(
    target: Target, kubeconfig: str | None, context: str | None
) -> tuple[subprocess.Popen[str], str]:
    """Start `kubectl port-forward` and wait until it listens; returns the process and the URL."""
    import time

    from iml4e.errors import ServiceError
    from iml4e.ports import port_is_free

    local_port = pick_local_port(target.local_port)
    process = subprocess.Popen(
        port_forward_command(target, local_port, kubeconfig, context),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + FORWARD_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            reason = (process.stderr.read() if process.stderr else "").strip().splitlines()
            raise ServiceError(
                f"port-forward to {target.namespace}/{target.service} failed: "
                f"{reason[-1] if reason else 'exited'}; check 'iml4e status --cluster'"
            )
        if not port_is_free(local_port):
            return process, f"http://127.0.0.1:{local_port}{target.path}"
        time.sleep(0.2)
    process.terminate()
    raise ServiceError(
        f"port-forward to {target.namespace}/{target.service} silent for {FORWARD_START_SECONDS:.0f} s; "
        "check 'iml4e status --cluster'"
    )
