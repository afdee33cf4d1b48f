"""State file: atomic writes, round trips, and a clear error on corruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from iml4e.errors import StateError
from iml4e.local.state import PlatformState, ServiceRecord, load_state, save_state
from iml4e.paths import manifests_dir, state_dir
from iml4e_components.output_files import write_text_atomically


def test_round_trip(isolated_state: Path) -> None:
    state = PlatformState()
    state.services["mlflow"] = ServiceRecord(name="mlflow", pid=123, port=5000, log="x.log", started_at=1.0)
    save_state(state, isolated_state)
    loaded = load_state(isolated_state)
    assert loaded.services["mlflow"].url == "http://127.0.0.1:5000"


def test_corrupted_state_file_is_reported(isolated_state: Path) -> None:
    (isolated_state / "state.json").write_text('{"version": 1, "services": {"mlflow": ')
    with pytest.raises(StateError, match="corrupted"):
        load_state(isolated_state)


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_text_atomically(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_state_dir_follows_env(isolated_state: Path) -> None:
    assert state_dir() == isolated_state.resolve()


def test_manifests_dir_is_found() -> None:
    assert manifests_dir().name == "manifests"
    assert manifests_dir().is_dir()


def test_a_port_whose_server_stopped_is_free_despite_time_wait() -> None:
    """After `down`, the stopped server's connections linger in TIME_WAIT on its port; `up` must still
    see the port as free, or MLflow moves to a new port and every printed URL goes stale."""
    import socket

    from iml4e.ports import port_is_free

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert not port_is_free(port)  # listening: taken
    accepted.close()  # the server closes first, as a stopped server does: TIME_WAIT on its port
    client.close()
    server.close()
    assert port_is_free(port)


def test_status_after_down_names_what_up_starts_again(isolated_state: Path) -> None:
    from typer.testing import CliRunner

    from iml4e.cli.app import app

    state = PlatformState()
    for name in ("mlflow", "serve:churn"):
        state.stopped[name] = ServiceRecord(name=name, pid=1, port=5000, log="x.log", started_at=1.0)
    save_state(state, isolated_state)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0
    assert "not running" in result.stderr and "'iml4e up'" in result.stderr
    assert "stopped: mlflow, serve:churn" in result.stderr
