"""Process ownership for real: after `kill -9` of the MLflow leader, of `iml4e up` midway, or a
corrupt state file, one `up` and one `down` leave no MLflow process behind; MLflow answers only
loopback Host names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from iml4e.local import platform, processes
from iml4e.local.state import load_state

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("platform")]


def _mlflow_processes(home: Path) -> list[psutil.Process]:
    """Every process serving this home's MLflow database, however it was started or re-parented."""
    database = str(home / "mlflow" / "mlflow.db")
    found = {process.pid: process for process in processes.marked_processes(home)}
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and database in " ".join(process.cmdline()):
                found[process.pid] = process
        except psutil.Error:
            continue
    return list(found.values())


def _wait_until(condition, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def home(isolated_state: Path):  # type: ignore[no-untyped-def]
    yield isolated_state
    platform.down()
    for process in _mlflow_processes(isolated_state):  # never leave one behind, even on failure
        process.kill()


def test_kill_9_of_the_mlflow_leader_then_up_and_down_leave_nothing(home: Path) -> None:
    first = platform.up().status.record
    workers = psutil.Process(first.pid).children(recursive=True)
    assert workers, "MLflow serves from a worker process"
    assert first.create_time and first.command[:4] == [sys.executable, "-m", "mlflow", "server"]

    os.kill(first.pid, signal.SIGKILL)
    assert _wait_until(
        lambda: not psutil.pid_exists(first.pid) or psutil.Process(first.pid).status() == "zombie"
    )
    assert any(w.is_running() for w in workers), "the worker outlives its leader (re-parented)"

    second = platform.up()
    assert second.started and second.status.healthy
    assert second.status.record.port == first.port, (
        "the leftover worker was stopped before the port was chosen"
    )
    assert not any(w.is_running() and w.status() != "zombie" for w in workers)
    platform.down()
    assert _mlflow_processes(home) == []


def test_mlflow_refuses_a_foreign_host_name(home: Path) -> None:
    url = platform.up().status.record.url
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
    assert httpx.get(search).status_code == 200
    assert httpx.get(search.replace("127.0.0.1", "localhost")).status_code == 200
    assert httpx.get(search, headers={"host": "evil.example"}).status_code == 403
    assert httpx.get(search, headers={"host": "192.168.1.5"}).status_code == 403  # MLflow's default allows it


def test_kill_9_of_up_midway_then_up_and_down_leave_nothing(home: Path) -> None:
    up = subprocess.Popen(
        [sys.executable, "-m", "iml4e", "up"],
        env={**os.environ, "IML4E_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Killed as soon as MLflow is started and recorded: before it is healthy.
        assert _wait_until(lambda: "mlflow" in load_state(home).services, timeout=60)
        healthy_when_killed = platform.status()[0].healthy
        up.send_signal(signal.SIGKILL)
    finally:
        up.wait(timeout=10)
    assert not healthy_when_killed, "the record is written before the health wait"

    result = platform.up()
    assert result.status.healthy
    assert len([p for p in _mlflow_processes(home) if "mlflow" in " ".join(p.cmdline()[:4])]) == 1
    platform.down()
    assert _mlflow_processes(home) == []


def test_a_corrupt_state_file_still_lets_down_stop_the_servers(home: Path) -> None:
    record = platform.up().status.record
    state_file = home / "state.json"
    state_file.write_text('{"version": 1, "services": {"mlflow": {"pid": ' + str(record.pid) + ", garbage")

    stopped = platform.down()
    assert stopped and all(name.startswith("unrecorded process") for name in stopped)
    assert _mlflow_processes(home) == []
    aside = list(home.glob("state.json.corrupt-*"))
    assert len(aside) == 1 and str(record.pid) in aside[0].read_text()
    assert not state_file.exists() or json.loads(state_file.read_text())["services"] == {}


def test_up_restarts_a_stopped_mlflow_instead_of_reporting_it_running(home: Path) -> None:
    first = platform.up().status.record
    os.killpg(first.pid, signal.SIGSTOP)
    status = platform.status()[0]
    assert status.running and not status.healthy

    second = platform.up()
    assert second.started and second.status.healthy and second.status.record.pid != first.pid
    assert not psutil.pid_exists(first.pid) or psutil.Process(first.pid).status() == psutil.STATUS_ZOMBIE
    platform.down()
    assert _mlflow_processes(home) == []
