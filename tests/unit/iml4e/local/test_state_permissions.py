"""The state directory holds served inputs, labels, lineage and the MLflow database: it is created
owner-only (0700) and every file iml4e or its services create in it is 0600."""

from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.local.processes import spawn
from iml4e.local.state import ensure_state_dir
from iml4e_components.lineage.store import append_event
from iml4e_components.serving.request_log import RequestLogWriter


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_directory_is_created_0700_and_an_older_0755_one_is_narrowed(tmp_path: Path) -> None:
    root = ensure_state_dir(tmp_path / "fresh")
    assert mode(root) == 0o700 and all(mode(sub) == 0o700 for sub in root.iterdir())
    older = tmp_path / "older"
    older.mkdir(mode=0o755)
    older.chmod(0o755)
    assert mode(ensure_state_dir(older)) == 0o700


def test_labels_request_logs_and_lineage_events_are_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("IML4E_HOME", str(home))
    monkeypatch.delenv("IML4E_REQUEST_LOG_BUCKET", raising=False)
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nreq-1,1\n")
    assert CliRunner().invoke(app, ["label", "models:/churn/1", "--labels", str(labels)]).exit_code == 0
    assert mode(home) == 0o700
    writer = RequestLogWriter(home, "churn")
    writer.offer("v1", {"income": np.array([1.0])}, np.array([0]), 1_000.0, "req-1")
    writer.close()
    append_event({"eventType": "START"}, home / "lineage" / "events.jsonl")
    written = [p for p in home.rglob("*") if p.is_file()]
    assert {p.name.split("-")[0] for p in written} >= {"labels", "requests", "events.jsonl"}
    assert {p.name: oct(mode(p)) for p in written} == {p.name: oct(0o600) for p in written}


def test_spawned_services_create_owner_only_files(tmp_path: Path) -> None:
    """MLflow and the model server are spawned this way: the sqlite database they create is 0600."""
    database, log = tmp_path / "mlflow.db", tmp_path / "logs" / "service.log"
    pid = spawn(
        [
            sys.executable,
            "-c",
            f"import sqlite3; sqlite3.connect({str(database)!r}).execute('create table t (x)')",
        ],
        log,
    )
    deadline = time.monotonic() + 30
    while not database.exists() or _alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert mode(database) == 0o600 and mode(log) == 0o600


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
