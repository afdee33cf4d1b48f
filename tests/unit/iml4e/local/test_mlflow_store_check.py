"""The MLflow store check: a store the server cannot write (here a fake access(2) answer; the
integration suite mounts a real read-only store) makes MLflow unhealthy with the reason, and `up`
refuses in one line before it touches anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.errors import UsageError
from iml4e.local import platform
from iml4e.local.services import ServiceStatus
from iml4e.local.state import PlatformState, ServiceRecord, save_state


def _store(home: Path) -> Path:
    store = home / "mlflow"
    (store / "artifacts").mkdir(parents=True)
    (store / "mlflow.db").write_bytes(b"SQLite format 3\0")
    return store


def _read_only(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    real = os.access

    def access(path: os.PathLike[str] | str, mode: int) -> bool:
        if mode == os.W_OK and Path(path) in paths:
            return False
        return real(path, mode)

    monkeypatch.setattr(platform.os, "access", access)


@pytest.mark.parametrize("part", ["mlflow.db", ".", "artifacts"])
def test_each_unwritable_part_of_the_store_is_named_with_the_fix(
    isolated_state: Path, monkeypatch: pytest.MonkeyPatch, part: str
) -> None:
    store = _store(isolated_state)
    assert platform.mlflow_store_problem(store) == ""
    target = (store / part) if part != "." else store
    _read_only(monkeypatch, target)
    assert platform.mlflow_store_problem(store) == (
        f"the MLflow store at {target} is read-only; make it writable (chmod u+w {target}) and run 'iml4e up'"
    )


def test_a_missing_store_is_no_problem(isolated_state: Path) -> None:
    assert platform.mlflow_store_problem(isolated_state / "mlflow") == ""


def _answering_mlflow(home: Path, monkeypatch: pytest.MonkeyPatch) -> ServiceRecord:
    record = ServiceRecord(
        name="mlflow",
        pid=os.getpid(),
        port=5999,
        log=str(home / "logs" / "mlflow.log"),
        data_dir=str(home / "mlflow"),
        started_at=0.0,
    )
    save_state(PlatformState(services={"mlflow": record}), home)
    answering = ServiceStatus(record=record, running=True, healthy=True)
    monkeypatch.setattr(platform, "status_of", lambda _: answering)
    monkeypatch.setattr("iml4e.local.services.status_of", lambda _: answering)
    return record


def test_status_shows_an_answering_mlflow_on_a_read_only_store_as_unhealthy_with_the_reason(
    isolated_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(isolated_state)
    _answering_mlflow(isolated_state, monkeypatch)
    monkeypatch.setattr(platform, "unrecorded", lambda: [])
    _read_only(monkeypatch, store / "mlflow.db")
    (status,) = platform.status()
    assert (status.running, status.healthy) == (True, False)
    assert status.problem.startswith(f"the MLflow store at {store / 'mlflow.db'} is read-only")
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0
    (shown,) = json.loads(result.stdout)["services"]
    assert shown["healthy"] is False and shown["problem"] == status.problem
    table = CliRunner().invoke(app, ["status"])
    assert "unhealthy" in table.stdout and f"mlflow is unhealthy: {status.problem}" in table.stderr


def test_up_on_a_read_only_store_refuses_before_it_stops_or_starts_anything(
    isolated_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(isolated_state)
    _read_only(monkeypatch, store)

    def touched(*args: object, **kwargs: object) -> None:
        raise AssertionError("up changed a service")

    for name in ("start_service", "stop_service", "stop_unrecorded"):
        monkeypatch.setattr(platform, name, touched)
    with pytest.raises(UsageError, match=f"the MLflow store at {store} is read-only"):
        platform.up()
    result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: {platform.mlflow_store_problem(store)}"]
