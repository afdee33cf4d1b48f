"""Loopback ports: find a free one, check one before a server binds it.

Used by the local platform (MLflow, the model server, the metrics endpoint) and by the installer
(`iml4e open` port-forwards, the doctor's port check).
"""

from __future__ import annotations

import socket

from iml4e.errors import UsageError


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `port` now. Like the servers themselves (uvicorn sets
    SO_REUSEADDR), connections of a stopped server lingering in TIME_WAIT do not count as taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def require_port_in_range(port: int, what: str) -> None:
    if not 0 < port < 65536:
        raise UsageError(f"port {port} for {what} is out of range; choose a port between 1 and 65535")


def require_free_port(port: int, host: str, what: str) -> None:
    require_port_in_range(port, what)
    if not port_is_free(port, host):
        raise UsageError(
            f"port {port} on {host} is already taken, so {what} cannot start; "
            "stop whatever uses it or choose another port"
        )
