"""The local lifecycle for real: `down` then `up` keeps MLflow's URL and brings served models back; a
bad `up --port` leaves the running platform alone; a command that needs MLflow after `down` says so and
starts nothing; a foreground `serve` stops its model server on SIGINT and SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from platform_environment import without_platform_environment
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.local import platform, processes
from iml4e.local.services import status_of
from iml4e.local.state import load_state

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("platform")]
runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def cli_json(*args: str) -> dict:  # type: ignore[type-arg]
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture
def platform_home(isolated_state: Path):  # type: ignore[no-untyped-def]
    yield isolated_state
    platform.down()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logistic regression saved as an MLflow model directory: served by path, no registry needed."""
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)})
    model = LogisticRegression().fit(features, (features["x"] > 0).astype(int))
    path = tmp_path_factory.mktemp("tiny") / "model"
    mlflow.sklearn.save_model(
        model,
        path,
        signature=infer_signature(features, model.predict(features)),
        pip_requirements=["scikit-learn"],  # no slow requirement inference
    )
    return path


def _v2_answers(url: str, name: str) -> bool:
    body = {
        "inputs": [
            {"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]},
            {"name": "y", "shape": [1], "datatype": "FP64", "data": [0.0]},
        ]
    }
    return httpx.post(f"{url}/v2/models/{name}/infer", json=body, timeout=30).status_code == 200


def test_down_then_up_keeps_the_mlflow_url_and_serves_the_model_again(
    platform_home: Path, tiny_model: Path
) -> None:
    first = cli_json("up")
    served = cli_json("serve", str(tiny_model), "--name", "tiny", "--detach")
    assert sorted(cli_json("down")["stopped"]) == ["mlflow", "serve:tiny"]
    assert not processes.is_alive(served["pid"])

    again = cli_json("up")
    assert again["started"] is True
    assert again["url"] == first["url"], "MLflow must come back on its recorded port"
    assert again["restarted"] == ["serve:tiny"] and again["failed"] == {}
    record = load_state(platform_home).services["serve:tiny"]
    assert record.port == served["port"] and record.extra["model_uri"] == str(tiny_model)
    assert _v2_answers(record.url, "tiny")

    # `serve --stop NAME` takes no model URI, and a stopped model is not started by the next `up`.
    assert cli_json("serve", "--stop", "tiny") == {"name": "tiny", "stopped": True}
    cli("down")
    assert cli_json("up")["restarted"] == []


@pytest.mark.parametrize("port", ["70000", "taken"])
def test_a_bad_port_leaves_the_running_platform_up(platform_home: Path, port: str) -> None:
    running = cli_json("up")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        asked = port if port != "taken" else str(holder.getsockname()[1])
        code, _, err = cli("up", "--port", asked)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and asked in lines[0]
    (status,) = cli_json("status")["services"]
    assert (status["pid"], status["healthy"]) == (running["pid"], True)


def test_a_command_needing_mlflow_after_down_says_so_and_starts_nothing(platform_home: Path) -> None:
    cli_json("up")
    cli_json("down")
    code, _, err = cli("lineage", "show", "models:/churn-classifier@champion")
    assert code == 1
    assert "not running" in err and "iml4e up" in err and "Traceback" not in err
    assert cli_json("status")["services"] == []
    code, _, err = cli("serve", "models:/churn-classifier@champion", "--detach")
    assert code == 1 and "iml4e up" in err
    assert cli_json("status")["services"] == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_foreground_serve_stops_its_model_server_on(
    platform_home: Path, tiny_model: Path, sig: signal.Signals
) -> None:
    command = [sys.executable, "-m", "iml4e", "serve", str(tiny_model), "--name", "fg"]
    foreground = subprocess.Popen(
        command, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 180
        record = None
        # The record is written as the server starts; wait until it answers (serving in the foreground).
        while time.monotonic() < deadline and foreground.poll() is None:
            time.sleep(0.5)
            record = load_state(platform_home).services.get("serve:fg")
            if record is not None and status_of(record).healthy:
                break
        assert record is not None, foreground.stderr.read() if foreground.stderr else ""
        foreground.send_signal(sig)
        _, err = foreground.communicate(timeout=60)
    finally:
        foreground.kill()
    assert "stopped 'fg'" in err
    assert not processes.is_alive(record.pid), "the model server outlived its foreground command"
    assert "serve:fg" not in load_state(platform_home).services


@dataclass(frozen=True)
class TinyPlatform:
    home: Path
    tracking: str
    run_id: str
    served_url: str


@pytest.fixture(scope="module")
def tiny_platform(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[TinyPlatform]:
    """One platform for the module's fault tests that need a registry: the tiny model logged in a run
    and registered as `tiny` (alias champion) on the real MLflow server, and served as `tiny`."""
    import mlflow

    home = tmp_path_factory.mktemp("tiny-platform")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IML4E_HOME", str(home))
        without_platform_environment(patch)
        try:
            tracking = cli_json("up")["url"]
            client = mlflow.MlflowClient(tracking, registry_uri=tracking)
            run = client.create_run(client.create_experiment("tiny"))
            client.log_artifacts(run.info.run_id, str(tiny_model), "model")  # a run-artifact model
            client.create_registered_model("tiny")
            version = client.create_model_version("tiny", f"{run.info.artifact_uri}/model", run.info.run_id)
            client.set_registered_model_alias("tiny", "champion", version.version)
            served = cli_json("serve", "models:/tiny@champion", "--name", "tiny", "--detach")
            yield TinyPlatform(home, tracking, run.info.run_id, served["url"])
        finally:
            platform.down()


@pytest.fixture
def on_tiny_platform(tiny_platform: TinyPlatform, monkeypatch: pytest.MonkeyPatch) -> TinyPlatform:
    monkeypatch.setenv("IML4E_HOME", str(tiny_platform.home))
    without_platform_environment(monkeypatch)
    return tiny_platform


def test_serve_with_a_bad_model_uri_is_one_line_exit_2_and_leaves_the_running_server_alone(
    on_tiny_platform: TinyPlatform, tmp_path: Path
) -> None:
    run_id, url = on_tiny_platform.run_id, on_tiny_platform.served_url
    before = load_state(on_tiny_platform.home).services["serve:tiny"]
    log = Path(before.log).read_text()
    cases = [
        ("models:/tiny@challenger", "model 'tiny' has no alias 'challenger' in the registry at http://127.0.0.1:"),
        ("models:/nothing@champion", "no registered model 'nothing' in the registry"),
        ("models:/tiny/99", "model 'tiny' has no version 99"),
        ("runs:/0123456789abcdef0123456789abcdef/model", "no run '0123456789abcdef0123456789abcdef'"),
        (f"runs:/{run_id}/elsewhere", f"run {run_id} has no model at 'elsewhere'"),
        (str(tmp_path / "missing"), "does not exist"),
        (str(tmp_path), "holds no MLmodel file"),
        ("ftp-ish://host/model", "scheme 'ftp-ish'"),
    ]  # fmt: skip
    for uri, expected in cases:
        for canary in (False, True):
            args = ["models:/tiny@champion", "--canary", uri] if canary else [uri]
            code, _, err = cli("serve", *args, "--name", "tiny", "--detach")
            lines = err.strip().splitlines()
            assert code == 2, (uri, canary, err)
            assert len(lines) == 1 and expected in lines[0], (uri, canary, err)
            assert lines[0].startswith("error: canary " if canary else "error: "), err
    after = load_state(on_tiny_platform.home).services["serve:tiny"]
    assert (after.pid, after.create_time) == (before.pid, before.create_time)
    assert Path(after.log).read_text() == log, "no server was started"
    assert _v2_answers(url, "tiny")
    from iml4e.local.model_uri_check import check_model_uri

    check_model_uri(f"runs:/{run_id}/model", on_tiny_platform.tracking)  # a good run URI passes


def test_a_model_server_that_fails_to_start_is_one_line_naming_its_fresh_log(
    platform_home: Path, tmp_path: Path
) -> None:
    """A directory that looks like a model (it holds MLmodel) but does not load: the check passes, the
    server exits, and the message is one line with the server's reason and its log, which holds
    nothing of an earlier start."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors: [not closed\n")
    log = platform_home / "logs" / "serve-broken.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("error: a stale line from an earlier start\n")
    code, _, err = cli("serve", str(broken), "--name", "broken", "--detach")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert "serve:broken exited during start-up: yaml" in lines[0] and lines[0].endswith(str(log)), err
    assert "stale" not in lines[0] and "stale" not in log.read_text()
    assert "stale" in (log.parent / "serve-broken.previous.log").read_text()
    assert "serve:broken" not in load_state(platform_home).services


def _read_only_mount(path: Path) -> bool:
    """Bind-mount `path` read-only onto itself (needs root or CAP_SYS_ADMIN); whether it worked."""
    if os.geteuid() != 0 or not (shutil.which("mount") and shutil.which("umount")):
        return False
    mounted = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True).returncode == 0
    if not mounted:
        return False
    if subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", str(path)], check=False)
        return False
    return True


def test_a_read_only_mlflow_store_is_unhealthy_and_up_says_so_without_touching_it(
    on_tiny_platform: TinyPlatform,
) -> None:
    import mlflow

    running = cli_json("up")
    client = mlflow.MlflowClient(running["url"], registry_uri=running["url"])
    store = on_tiny_platform.home / "mlflow"
    database = (store / "mlflow.db").read_bytes()
    if not _read_only_mount(store):
        pytest.skip("a read-only bind mount needs root with CAP_SYS_ADMIN (unit tests cover the check)")
    try:
        (status,) = [s for s in cli_json("status")["services"] if s["name"] == "mlflow"]
        expected = f"the MLflow store at {store / 'mlflow.db'} is read-only; make it writable"
        assert (status["running"], status["healthy"]) == (True, False)
        assert status["problem"].startswith(expected) and "iml4e up" in status["problem"]
        code, out, err = cli("up")
        assert code == 2 and out == "" and err.strip().splitlines() == [f"error: {status['problem']}"]
        assert (store / "mlflow.db").read_bytes() == database, "the check writes nothing"
    finally:  # lazily when a connection MLflow opened meanwhile keeps the mount busy
        if subprocess.run(["umount", str(store)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(store)], check=True)
    again = cli_json("up")
    assert (again["started"], again["pid"], again["healthy"]) == (False, running["pid"], True)
    assert client.get_run(on_tiny_platform.run_id).info.status == "RUNNING"  # runs, models, aliases kept
    assert client.get_model_version_by_alias("tiny", "champion").version == "1"
