"""The cluster's MLflow Deployment gives the database URI (with the Postgres password) through
MLFLOW_BACKEND_STORE_URI, not an argument (manifests/base/mlflow). This runs the MLflow release in the
image (uv.lock) the same way on loopback, with a sqlite URI standing in for Postgres, and checks that
the server uses the store from the environment and that no process it starts shows the URI in its
command line (/proc/PID/cmdline is readable by every user on a node)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from iml4e.ports import free_port

pytestmark = [pytest.mark.integration]


def _command_lines(group: int) -> list[str]:
    lines = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != group:
                continue
            lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return lines


def test_mlflow_server_takes_its_store_from_the_environment_and_not_its_arguments(tmp_path: Path) -> None:
    store = tmp_path / "from-environment.db"
    uri = f"sqlite:///{store}"
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_BACKEND_STORE_URI": uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        healthy = False
        for _ in range(240):  # a bound on attempts, not a timed assertion
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                healthy = False
            if healthy or server.poll() is not None:
                break
            time.sleep(0.5)
        assert healthy, "mlflow server did not come up"
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/create",
            json={"name": "from-env"},
            timeout=10,
        )
        assert created.status_code == 200, created.text
        assert store.is_file() and store.stat().st_size > 0  # the store named by the environment
        assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
        lines = _command_lines(server.pid)
        assert len(lines) >= 2  # the CLI and its uvicorn worker at least
        assert not [line for line in lines if str(store) in line or "backend-store-uri" in line]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
