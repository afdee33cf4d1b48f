"""A recorded service is its pid plus start time plus exact command line, and its processes carry a
marker: a decoy with "mlflow" in its command line is neither reported nor stopped (real processes)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from iml4e.local import processes
from iml4e.local.services import is_running, stop_service, stop_unrecorded
from iml4e.local.state import PlatformState, ServiceRecord, load_state_or_set_aside

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)", "mlflow", "server"]


@pytest.fixture
def decoy() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(SLEEPER)
    yield process
    process.kill()
    process.wait()


def _record(pid: int, create_time: float, command: list[str], service_id: str = "") -> ServiceRecord:
    return ServiceRecord(
        name="mlflow",
        pid=pid,
        port=1,
        log="/dev/null",
        started_at=time.time(),
        create_time=create_time,
        command=command,
        service_id=service_id,
        extra={"marker": "mlflow"},
    )


def test_a_decoy_reusing_the_pid_is_not_the_recorded_service(
    decoy: subprocess.Popen[bytes], isolated_state: Path
) -> None:
    create_time, command = processes.start_time(decoy.pid), list(SLEEPER)
    assert is_running(_record(decoy.pid, create_time, command))
    # The recorded MLflow started earlier with another command line; the pid now belongs to the decoy.
    recorded = _record(decoy.pid, create_time - 30, [sys.executable, "-m", "mlflow", "server"])
    assert not is_running(recorded)
    assert not is_running(_record(decoy.pid, create_time, [*command, "--other"]))
    state = PlatformState(services={"mlflow": recorded})
    assert stop_service("mlflow", state, isolated_state) is False
    assert decoy.poll() is None, "down must not kill a process it did not start"


def test_unrecorded_marked_processes_are_found_and_stopped_and_others_left(isolated_state: Path) -> None:
    marked = processes.spawn(
        SLEEPER,
        isolated_state / "marked.log",
        env={processes.SERVICE_ID_ENV: "lost", processes.SERVICE_HOME_ENV: str(isolated_state.resolve())},
    )
    other_home = processes.spawn(
        SLEEPER,
        isolated_state / "other.log",
        env={processes.SERVICE_ID_ENV: "x", processes.SERVICE_HOME_ENV: str(isolated_state / "elsewhere")},
    )
    try:
        assert [p.pid for p in processes.marked_processes(isolated_state)] == [marked]
        assert stop_unrecorded(PlatformState(), isolated_state) == [marked]
        assert not psutil.pid_exists(marked) or psutil.Process(marked).status() == psutil.STATUS_ZOMBIE
        assert psutil.Process(other_home).is_running()
    finally:
        processes.stop(marked)
        processes.stop(other_home)


def test_a_corrupt_state_file_is_set_aside_with_the_pids_it_shows(isolated_state: Path) -> None:
    (isolated_state / "state.json").write_text('{"services": {"mlflow": {"pid": 4242, "port": 5')
    state, note = load_state_or_set_aside(isolated_state)
    assert state.services == {} and "4242" in note and "moved it to" in note
    aside = list(isolated_state.glob("state.json.corrupt-*"))
    assert len(aside) == 1 and not (isolated_state / "state.json").exists()
