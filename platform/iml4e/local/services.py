"""Local services: start one detached, record it in the state file, report and stop it.

Every service the local platform runs (the MLflow server, model servers) goes through here, so
`iml4e up`, `status` and `down` treat them alike.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iml4e.errors import StateError
from iml4e.local import processes
from iml4e.local.state import PlatformState, ServiceRecord, ensure_state_dir, load_state, save_state
from iml4e.paths import state_dir


@dataclass(frozen=True)
class ServiceSpec:
    """How to start one service and how to tell that it is healthy."""

    name: str
    command: list[str]
    port: int
    health_path: str
    marker: str  # a string in its command line, to tell it from a process that reused the pid
    data_dir: Path
    host: str = "127.0.0.1"
    startup_timeout: float = 90.0
    env: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceStatus:
    record: ServiceRecord
    running: bool
    healthy: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.record.name,
            "url": self.record.url,
            "pid": self.record.pid,
            "port": self.record.port,
            "running": self.running,
            "healthy": self.healthy,
            "data_dir": self.record.data_dir,
            "log": self.record.log,
            **self.record.extra,
        }


@contextmanager
def state_lock(root: Path | None = None) -> Iterator[Path]:
    """Serialise changes to the state file between concurrent iml4e processes."""
    root = ensure_state_dir(root)
    try:
        handle = open(root / ".lock", "w")  # noqa: SIM115 - held for the duration of the block
    except OSError as exc:
        raise StateError(f"cannot lock state directory {root}: {exc.strerror}") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield root
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def status_of(record: ServiceRecord) -> ServiceStatus:
    marker = str(record.extra.get("marker", ""))
    running = processes.is_alive(record.pid, marker)
    health_path = str(record.extra.get("health_path", "/"))
    healthy = running and processes.http_ok(record.url + health_path)
    return ServiceStatus(record=record, running=running, healthy=healthy)


def start_service(spec: ServiceSpec, state: PlatformState, root: Path) -> ServiceRecord:
    """Start `spec` (its port must be free), wait until healthy, record it in `state`."""
    processes.require_free_port(spec.port, spec.host, spec.name)
    log_path = root / "logs" / f"{spec.name.replace(':', '-')}.log"
    pid = processes.spawn(spec.command, log_path, env=spec.env)
    try:
        processes.wait_http_ok(
            f"http://{spec.host}:{spec.port}{spec.health_path}",
            spec.startup_timeout,
            pid,
            log_path,
            spec.name,
        )
    except BaseException:
        processes.stop(pid)
        raise
    record = ServiceRecord(
        name=spec.name,
        pid=pid,
        port=spec.port,
        host=spec.host,
        log=str(log_path),
        data_dir=str(spec.data_dir),
        started_at=time.time(),
        extra={**spec.extra, "marker": spec.marker, "health_path": spec.health_path},
    )
    state.services[spec.name] = record
    save_state(state, root)
    return record


def stop_service(name: str, state: PlatformState, root: Path, remember: bool = False) -> bool:
    """Stop a recorded service by its recorded pid only; returns whether it was running.

    With `remember`, its record moves to `state.stopped` for the next `iml4e up` to start again."""
    record = state.services.pop(name, None)
    if record is None:
        return False
    if remember:
        state.stopped[name] = record
    was_running = processes.is_alive(record.pid, str(record.extra.get("marker", "")))
    if was_running:
        processes.stop(record.pid)
    save_state(state, root)
    return was_running


def all_statuses(root: Path | None = None) -> list[ServiceStatus]:
    state = load_state(root or state_dir())
    return [status_of(record) for record in state.services.values()]
