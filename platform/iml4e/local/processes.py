"""Starting, probing and stopping detached service processes on loopback."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from iml4e.errors import ServiceError

# Port checks live in iml4e.ports (the installer needs them too); re-exported for the local services.
from iml4e.ports import free_port, port_is_free, require_free_port, require_port_in_range

__all__ = [
    "free_port",
    "http_ok",
    "is_alive",
    "port_is_free",
    "require_free_port",
    "require_port_in_range",
    "spawn",
    "start_fresh_log",
    "stop",
    "wait_http_ok",
]


#: Set in the environment of every service process (and so of the processes it starts, such as
#: MLflow's uvicorn worker): which service it belongs to, and under which state directory. A
#: process that outlived its leader or its record is still found by these.
SERVICE_ID_ENV = "IML4E_SERVICE_ID"
SERVICE_HOME_ENV = "IML4E_SERVICE_HOME"
#: A traceback's last line: the exception's type and message.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt): \S")
#: How far apart two readings of one process's start time may be (psutil rounds them).
_CREATE_TIME_SLACK = 0.05


def is_alive(pid: int, marker: str = "") -> bool:
    """Whether `pid` runs and (if given) its command line contains `marker`. A weak check, for
    records written before start times were recorded; prefer `is_same_process`."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return not marker or marker in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def start_time(pid: int) -> float:
    """When `pid` started, as the OS reports it; with the exact command line it tells the process
    from any later one that reuses the pid."""
    return float(psutil.Process(pid).create_time())


def is_suspended(pid: int) -> bool:
    """Whether `pid` is stopped (SIGSTOP): it runs, but will not answer until continued."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    except psutil.Error:
        return False


def is_same_process(pid: int, create_time: float, command: Sequence[str]) -> bool:
    """Whether `pid` still is the process recorded with this start time and exact command line."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - create_time) < _CREATE_TIME_SLACK and process.cmdline() == list(
            command
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def marked_processes(home: Path, service_id: str = "") -> list[psutil.Process]:
    """The running processes started as services of state directory `home` (only those of
    `service_id` when given), found by the markers in their environment."""
    found: list[psutil.Process] = []
    wanted_home = str(home.resolve())
    for process in psutil.process_iter():
        try:
            environment = process.environ()
            if environment.get(SERVICE_HOME_ENV) != wanted_home or not environment.get(SERVICE_ID_ENV):
                continue
            if service_id and environment[SERVICE_ID_ENV] != service_id:
                continue
            if process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.Error, OSError):
            continue  # gone, or another user's
    return found


def service_id_of(process: psutil.Process) -> str:
    try:
        return process.environ().get(SERVICE_ID_ENV, "")
    except (psutil.Error, OSError):
        return ""


def stop_processes(members: Sequence[psutil.Process], timeout: float = 15.0) -> None:
    """SIGTERM each of `members` (and its process group when it leads one), then SIGKILL whatever
    still runs after `timeout` seconds."""
    for member in members:
        try:
            if os.getpgid(member.pid) == member.pid:
                os.killpg(member.pid, signal.SIGTERM)
                os.killpg(member.pid, signal.SIGCONT)  # a stopped (SIGSTOP) one handles it too
            else:
                member.terminate()
                member.resume()
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    _, alive = psutil.wait_procs(list(members), timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=5)


def spawn(
    command: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> int:
    """Start `command` detached in its own session, output appended to `log_path`; returns the pid.
    The process creates owner-only files (umask 077): it writes into the state directory."""
    from iml4e_components.output_files import PRIVATE_UMASK, open_private_append

    with open(open_private_append(log_path), "ab") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            umask=PRIVATE_UMASK,
        )
    return process.pid


def stop(pid: int, timeout: float = 15.0) -> None:
    """Stop the process group led by `pid`: SIGTERM, then SIGKILL after `timeout` seconds."""
    try:
        process = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    group = [process, *process.children(recursive=True)]
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        for member in group:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.terminate()
    _, alive = psutil.wait_procs(group, timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=5)


def wait_http_ok(url: str, timeout: float, pid: int, log_path: Path, what: str) -> None:
    """Poll `url` until it answers 200, the process dies, or `timeout` passes (bounded). A failure is
    one line: what happened, the log's last line (the log holds this start only) and the log's path."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise ServiceError(
                f"{what} exited during start-up{_last_said(log_path)}; read its log {log_path}"
            )
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ServiceError(
        f"{what} did not become healthy within {timeout:.0f} s{_last_said(log_path)}; read its log {log_path}"
    )


def start_fresh_log(log_path: Path) -> None:
    """Keep the previous start's log beside `log_path` (`NAME.previous.log`), so the log a start
    writes holds nothing older and a failure never quotes an earlier one."""
    if log_path.exists():
        os.replace(log_path, log_path.with_name(f"{log_path.stem}.previous.log"))


def _last_said(log_path: Path, limit: int = 300) -> str:
    """': <why>' from the end of the log: its last 'error: ...' line (our servers' message), else the
    last exception line of a traceback ('SomeError: ...'), shortened to `limit` characters; or ''."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log_path.stat().st_size - 16384))
            lines = [line.strip() for line in log.read().decode("utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    said = next((line.removeprefix("error: ") for line in reversed(lines) if line.startswith("error: ")), "")
    said = said or next((line for line in reversed(lines) if _EXCEPTION_LINE.match(line)), "")
    if len(said) > limit:
        said = said[: limit - 3] + "..."
    return f": {said}" if said else ""


def http_ok(url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
