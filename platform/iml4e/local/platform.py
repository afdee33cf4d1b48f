"""The local platform's lifecycle: `up`, `status`, `down`, and the MLflow tracking server."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from iml4e.errors import ServiceError, UsageError
from iml4e.local import processes
from iml4e.local.services import (
    DEFAULT_STARTUP_TIMEOUT,
    ServiceSpec,
    ServiceStatus,
    all_statuses,
    start_service,
    state_lock,
    status_of,
    stop_service,
    stop_unrecorded,
    unowned_processes,
    wait_until_healthy,
)
from iml4e.local.state import PlatformState, ServiceRecord, load_state, load_state_or_set_aside

MLFLOW = "mlflow"
PORT_ENV = "IML4E_MLFLOW_PORT"


@dataclass(frozen=True)
class UpResult:
    status: ServiceStatus
    started: bool  # False when it was already running
    restarted: list[str] = field(default_factory=list)  # served models started again
    failed: dict[str, str] = field(default_factory=dict)  # served models that did not start: their log
    unrecorded: list[int] = field(default_factory=list)  # pids of unrecorded service processes stopped


def mlflow_spec(root: Path, port: int) -> ServiceSpec:
    """MLflow tracking server: sqlite backend, proxied local artifacts, loopback, one worker.

    It answers only requests addressed to a loopback name (MLflow's security middleware with
    `--allowed-hosts`; its default would also accept private addresses such as 192.168.*), so a
    web page cannot reach it through DNS rebinding. MLflow's default CORS setting already refuses
    browser requests from origins other than loopback ones."""
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
        "--allowed-hosts", loopback_hosts(port),
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


def mlflow_store_problem(data: Path) -> str:
    """Why the MLflow server could not write its store under `data` (the sqlite database, its folder
    for sqlite's journal, the artifact root), with the fix; '' when it can. Asks the OS only
    (access(2), which also answers for a read-only mount): nothing in the store is written."""
    for path in (data / "mlflow.db", data, data / "artifacts"):
        if path.exists() and not os.access(path, os.W_OK):
            return (
                f"the MLflow store at {path} is read-only; make it writable (chmod u+w {path}) "
                "and run 'iml4e up'"
            )
    return ""


def mlflow_status(record: ServiceRecord) -> ServiceStatus:
    """The MLflow server's status: answering its health check and able to write its store."""
    current = status_of(record)
    problem = mlflow_store_problem(Path(record.data_dir)) if current.running else ""
    if not problem:
        return current
    return dataclasses.replace(current, healthy=False, problem=problem)


def loopback_hosts(port: int) -> str:
    """MLflow's `--allowed-hosts` value: the loopback names, with and without the port."""
    names = ("localhost", "127.0.0.1", "[::1]")
    return ",".join([*names, *(f"{name}:{port}" for name in names)])


def up(port: int | None = None) -> UpResult:
    """Start the MLflow server unless it already runs, then the served models that `down` stopped
    or that died, each on its recorded port when that is free."""
    result = _up_mlflow(port)
    from iml4e.local.serving import restart_served_models

    restarted, failed = restart_served_models(result.status.record.url)
    return UpResult(
        status=result.status,
        started=result.started,
        restarted=restarted,
        failed=failed,
        unrecorded=result.unrecorded,
    )


def _up_mlflow(port: int | None) -> UpResult:
    """Start the MLflow server unless it already runs; a dead or stopped one starts again on the same
    data and, when it is free, the same port. A port asked for is checked before anything is stopped."""
    wanted = port or _configured_port()
    if wanted is not None:
        processes.require_port_in_range(wanted, "the MLflow server")
    with state_lock() as root:
        problem = mlflow_store_problem(root / "mlflow")
        if problem:  # a (re)started server could not write either: leave everything as it is
            raise UsageError(problem)
        state, unrecorded = _state_with_orphans_stopped(root)
        record = state.services.get(MLFLOW)
        if record is not None:
            current = status_of(record)
            if current.running and not current.healthy:
                current = wait_until_healthy(record, DEFAULT_STARTUP_TIMEOUT)
            if current.healthy and (port is None or port == record.port):
                return UpResult(status=current, started=False, unrecorded=unrecorded)
            if not current.healthy:
                # Dead (its worker may still serve and hold the port), stopped (SIGSTOP) or hung:
                # stop all of it first.
                stop_service(MLFLOW, state, root)
        if wanted is not None:
            processes.require_free_port(wanted, "127.0.0.1", "the MLflow server")
        earlier = record or state.stopped.get(MLFLOW)
        if wanted is None and earlier is not None and processes.port_is_free(earlier.port):
            wanted = earlier.port
        if MLFLOW in state.services:
            stop_service(MLFLOW, state, root)  # asked for another (free) port
        state.stopped.pop(MLFLOW, None)
        started = start_service(mlflow_spec(root, wanted or processes.free_port()), state, root)
        return UpResult(status=status_of(started), started=True, unrecorded=unrecorded)


def _state_with_orphans_stopped(root: Path) -> tuple[PlatformState, list[int]]:
    """The state file's services, after setting a corrupt file aside and stopping the service
    processes of this state directory that no record owns (each said on stderr)."""
    from iml4e import console

    state, note = load_state_or_set_aside(root)
    if note:
        console.warn(note)
    orphans = stop_unrecorded(state, root)
    if orphans:
        console.warn(
            f"stopped {len(orphans)} unrecorded service process(es) of {root} (pids "
            f"{', '.join(map(str, orphans))}): left by a killed 'iml4e up' or server, or a lost state file"
        )
    return state, orphans


def _configured_port() -> int | None:
    value = os.environ.get(PORT_ENV)
    if not value:
        return None
    if not value.isdigit():
        raise UsageError(f"{PORT_ENV}={value!r} is not a port number; set it to a number such as 5000")
    return int(value)


def down() -> list[str]:
    """Stop every recorded service (data stays); returns the names that were running. Their records
    stay in the state file, so `up` starts them again on the same ports."""
    with state_lock() as root:
        state, orphans = _state_with_orphans_stopped(root)
        stopped = [name for name in list(state.services) if stop_service(name, state, root, remember=True)]
        return stopped + [f"unrecorded process {pid}" for pid in orphans]


def status() -> list[ServiceStatus]:
    return [
        mlflow_status(current.record) if current.record.name == MLFLOW else current
        for current in all_statuses()
    ]


def unrecorded() -> list[int]:
    """Pids of service processes of this state directory that no record owns (`up` and `down`
    stop them)."""
    from iml4e.paths import state_dir

    root = state_dir()
    return sorted(process.pid for process in unowned_processes(load_state(root), root))


def stopped() -> list[str]:
    """The services `down` stopped, which the next `up` starts again."""
    return list(load_state().stopped)


def tracking_uri() -> str:
    """The running local MLflow server's URI, starting the platform (and saying so) when it is down.

    Only for commands whose job includes starting it (`run`, `demo`); the others use
    `running_tracking_uri`."""
    result = _up_mlflow(None)
    if result.started:
        from iml4e import console

        console.info(
            f"the local platform was not running: started MLflow at {result.status.record.url} "
            "('iml4e down' stops it)"
        )
    return result.status.record.url


def running_tracking_uri(needed_by: str) -> str:
    """The running local MLflow server's URI; when it is down, an error that says how to start it."""
    record = load_state().services.get(MLFLOW)
    if record is None or not status_of(record).healthy:
        raise ServiceError(
            f"{needed_by} needs the local MLflow server, and the local platform is not running; "
            "start it with 'iml4e up' (or set MLFLOW_TRACKING_URI to another server)"
        )
    return record.url


def tracking_uri_for_model(model_uri: str) -> str | None:
    """The MLflow server a model URI is resolved against: `MLFLOW_TRACKING_URI`, else the running
    local platform for `models:/` and `runs:/` URIs (an error saying how to start it when it is
    down), else none (a path)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    if model_uri.startswith(("models:/", "runs:/")):
        return running_tracking_uri(f"serving {model_uri}")
    return None


def use_tracking_server(needed_by: str) -> str:
    """Point MLflow at `MLFLOW_TRACKING_URI`, else at the running local platform; returns the URI.

    Never starts the platform: when it is down, the error names `needed_by` and 'iml4e up'."""
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = running_tracking_uri(needed_by)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    return os.environ["MLFLOW_TRACKING_URI"]
