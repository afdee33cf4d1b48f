"""Starting, probing and stopping detached service processes on loopback."""

from __future__ import annotations

import contextlib
import os
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
    "log_tail",
    "port_is_free",
    "require_free_port",
    "require_port_in_range",
    "spawn",
    "stop",
    "wait_http_ok",
]


def is_alive(pid: int, marker: str = "") -> bool:
    """Whether `pid` runs and (if given) its command line contains `marker` (guards pid reuse)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return not marker or marker in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


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
    """Poll `url` until it answers 200, the process dies, or `timeout` passes (bounded)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise ServiceError(f"{what} exited during start-up; last log lines:\n{log_tail(log_path)}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ServiceError(
        f"{what} did not become healthy within {timeout:.0f} s; last log lines:\n{log_tail(log_path)}"
    )


def http_ok(url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
