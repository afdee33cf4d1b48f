"""Local services: start one detached, record it in the state file, report and stop it.

Every service the local platform runs (the MLflow server, model servers) goes through here, so
`iml4e up`, `status` and `down` treat them alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from iml4e.errors import StateError
from iml4e.local import processes
from iml4e.local.state import PlatformState, ServiceRecord, ensure_state_dir, load_state, save_state
from iml4e.paths import state_dir

#: Seconds a service has to answer its health check after it was started.
DEFAULT_STARTUP_TIMEOUT = 90.0


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
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    env: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceStatus:
    record: ServiceRecord
    running: bool
    healthy: bool
    #: Why a service that answers is still not healthy (such as a read-only store), with the fix.
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.record.name,
            "url": self.record.url,
            "pid": self.record.pid,
            "port": self.record.port,
            "running": self.running,
            "healthy": self.healthy,
            "problem": self.problem or None,
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


def is_running(record: ServiceRecord) -> bool:
    """Whether the recorded process still runs: same pid, start time and exact command line (a
    record from before start times were kept: its command line still holds the service's marker)."""
    if record.create_time:
        return processes.is_same_process(record.pid, record.create_time, record.command)
    return processes.is_alive(record.pid, str(record.extra.get("marker", "")))


def status_of(record: ServiceRecord) -> ServiceStatus:
    running = is_running(record)
    health_path = str(record.extra.get("health_path", "/"))
    healthy = running and processes.http_ok(record.url + health_path)
    return ServiceStatus(record=record, running=running, healthy=healthy)


def start_service(spec: ServiceSpec, state: PlatformState, root: Path) -> ServiceRecord:
    """Start `spec` (its port must be free), record it in `state` at once, then wait until healthy.

    The process leads its own process group and carries the service's markers in its environment,
    which its children inherit; its record (pid, start time, exact command line, marker) is saved
    before the health wait, so a `kill -9` of this process at any point leaves nothing the next
    `up` or `down` cannot find."""
    processes.require_free_port(spec.port, spec.host, spec.name)
    log_path = root / "logs" / f"{spec.name.replace(':', '-')}.log"
    processes.start_fresh_log(log_path)
    service_id = uuid.uuid4().hex
    markers = {processes.SERVICE_ID_ENV: service_id, processes.SERVICE_HOME_ENV: str(root.resolve())}
    pid = processes.spawn(spec.command, log_path, env={**spec.env, **markers})
    try:
        create_time = processes.start_time(pid)
    except psutil.NoSuchProcess:
        create_time = 0.0  # already gone: the health wait says why
    record = ServiceRecord(
        name=spec.name,
        pid=pid,
        port=spec.port,
        host=spec.host,
        log=str(log_path),
        data_dir=str(spec.data_dir),
        started_at=time.time(),
        create_time=create_time,
        command=list(spec.command),
        service_id=service_id,
        extra={**spec.extra, "marker": spec.marker, "health_path": spec.health_path},
    )
    state.services[spec.name] = record
    save_state(state, root)
    try:
        processes.wait_http_ok(
            f"http://{spec.host}:{spec.port}{spec.health_path}",
            spec.startup_timeout,
            pid,
            log_path,
            spec.name,
        )
    except BaseException:
        _stop_record(record, root)
        state.services.pop(spec.name, None)
        save_state(state, root)
        raise
    return record


def wait_until_healthy(record: ServiceRecord, timeout: float) -> ServiceStatus:
    """The status of a recorded service that runs but does not answer yet (still starting, e.g. its
    `up` was killed during the health wait), once it answers or `timeout` passed. A stopped process
    (SIGSTOP) is not waited for."""
    deadline = time.monotonic() + timeout
    while True:
        current = status_of(record)
        if current.healthy or not current.running or processes.is_suspended(record.pid):
            return current
        if time.monotonic() > deadline:
            return current
        time.sleep(0.5)


def _stop_record(record: ServiceRecord, root: Path) -> bool:
    """Stop the recorded process with its process group and every process carrying its marker
    (children that outlived it); returns whether any of them ran."""
    members = {
        p.pid: p for p in (processes.marked_processes(root, record.service_id) if record.service_id else [])
    }
    if record.pid not in members and is_running(record):
        with contextlib.suppress(psutil.NoSuchProcess):
            members[record.pid] = psutil.Process(record.pid)
    if not members:
        return False
    processes.stop_processes(list(members.values()))
    return True


def unowned_processes(state: PlatformState, root: Path) -> list[psutil.Process]:
    """The running service processes of state directory `root` that no record in `state` owns."""
    owned = {record.service_id for record in state.services.values() if record.service_id}
    return [p for p in processes.marked_processes(root) if processes.service_id_of(p) not in owned]


def stop_unrecorded(state: PlatformState, root: Path) -> list[int]:
    """Stop the processes started as services of `root` that no record in `state` owns (left by a
    killed `up`, a corrupt state file, a leader killed with -9); returns their pids."""
    orphans = unowned_processes(state, root)
    processes.stop_processes(orphans)
    return sorted(process.pid for process in orphans)


def stop_service(name: str, state: PlatformState, root: Path, remember: bool = False) -> bool:
    """Stop a recorded service: its process (if it still is the recorded one), its process group
    and every process carrying its marker; returns whether any of them ran. Nothing else is touched.

    With `remember`, its record moves to `state.stopped` for the next `iml4e up` to start again."""
    record = state.services.pop(name, None)
    if record is None:
        return False
    if remember:
        state.stopped[name] = record
    was_running = _stop_record(record, root)
    save_state(state, root)
    return was_running


def all_statuses(root: Path | None = None) -> list[ServiceStatus]:
    state = load_state(root or state_dir())
    return [status_of(record) for record in state.services.values()]
