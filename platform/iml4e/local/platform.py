"""The local platform's lifecycle: `up`, `status`, `down`, and the MLflow tracking server."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from iml4e.local import processes
from iml4e.local.services import (
    ServiceSpec,
    ServiceStatus,
    all_statuses,
    start_service,
    state_lock,
    status_of,
    stop_service,
)
from iml4e.local.state import load_state

MLFLOW = "mlflow"
PORT_ENV = "IML4E_MLFLOW_PORT"


@dataclass(frozen=True)
class UpResult:
    status: ServiceStatus
    started: bool  # False when it was already running


def mlflow_spec(root: Path, port: int) -> ServiceSpec:
    """MLflow tracking server: sqlite backend, proxied local artifacts, loopback, one worker."""
    data = root / "mlflow"
    artifacts = data / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{data / 'mlflow.db'}",
        "--artifacts-destination", str(artifacts),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    return ServiceSpec(
        name=MLFLOW,
        command=command,
        port=port,
        health_path="/health",
        marker="mlflow",
        data_dir=data,
        extra={"ui": f"http://127.0.0.1:{port}"},
        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )


def up(port: int | None = None) -> UpResult:
    """Start the MLflow server unless it already runs, then restart recorded model servers that died."""
    result = _up_mlflow(port)
    from iml4e.local.serving import restart_dead_servers

    restart_dead_servers(result.status.record.url)
    return result


def _up_mlflow(port: int | None) -> UpResult:
    """Start the MLflow server unless it already runs; a dead one is restarted on the same data."""
    with state_lock() as root:
        state = load_state(root)
        record = state.services.get(MLFLOW)
        if record is not None:
            current = status_of(record)
            if current.running and (port is None or port == record.port):
                return UpResult(status=current, started=False)
            stop_service(MLFLOW, state, root)  # stale pid, or asked for another port
        chosen = (
            port
            or _configured_port()
            or (
                record.port
                if record is not None and processes.port_is_free(record.port)
                else processes.free_port()
            )
        )
        started = start_service(mlflow_spec(root, chosen), state, root)
        return UpResult(status=status_of(started), started=True)


def _configured_port() -> int | None:
    value = os.environ.get(PORT_ENV)
    if not value:
        return None
    from iml4e.errors import UsageError

    if not value.isdigit():
        raise UsageError(f"{PORT_ENV}={value!r} is not a port number; set it to a number such as 5000")
    return int(value)


def down() -> list[str]:
    """Stop every recorded service (data stays); returns the names that were running."""
    with state_lock() as root:
        state = load_state(root)
        return [name for name in list(state.services) if stop_service(name, state, root)]


def status() -> list[ServiceStatus]:
    return all_statuses()


def tracking_uri() -> str:
    """The running local MLflow server's URI, starting the platform on demand."""
    return _up_mlflow(None).status.record.url


def use_tracking_server() -> str:
    """Point MLflow at `MLFLOW_TRACKING_URI`, else at the local platform (started if needed); returns the URI."""
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri()
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    return os.environ["MLFLOW_TRACKING_URI"]
