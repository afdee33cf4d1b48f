"""The local platform for real: MLflow server, a kfp.local pipeline run, down/up, crash recovery."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import mlflow
import psutil
import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.errors import ServiceError
from iml4e.local import platform

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("platform")]
runner = CliRunner()


def cli_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def running_platform(isolated_state: Path):  # type: ignore[no-untyped-def]
    yield isolated_state
    platform.down()


def test_pipeline_run_survives_down_and_up(running_platform: Path) -> None:
    started = cli_json("up")
    assert started["started"] is True and started["healthy"] is True
    again = cli_json("up")
    assert again["started"] is False and again["pid"] == started["pid"], "a second up must start nothing"

    run = cli_json("run", "tabular_training", "--param", "model_name=it-churn")
    registration = run["output"]
    assert run["status"] == "SUCCESS"
    assert registration["champion_uri"] == "models:/it-churn@champion"
    assert registration["promoted"] is True

    client = mlflow.MlflowClient(started["url"])
    mlflow_run = client.get_run(registration["run_id"])
    assert mlflow_run.info.status == "FINISHED"
    assert {"accuracy", "f1", "roc_auc"} <= set(mlflow_run.data.metrics)
    assert client.get_model_version_by_alias("it-churn", "champion").version == registration["version"]

    # A record of the run is kept in the state directory.
    records = list((running_platform / "runs").glob("*.json"))
    assert len(records) == 1

    assert cli_json("down")["stopped"] == ["mlflow"]
    assert (
        not psutil.pid_exists(started["pid"])
        or psutil.Process(started["pid"]).status() == psutil.STATUS_ZOMBIE
    )
    restarted = cli_json("up")
    client = mlflow.MlflowClient(restarted["url"])
    assert client.get_run(registration["run_id"]).data.metrics["f1"] == pytest.approx(registration["value"])
    assert client.get_model_version_by_alias("it-churn", "champion").version == registration["version"]

    # Champion moves only to a strictly better challenger (checked on the registry core against the
    # same live server; a second pipeline run would only repeat the steps above).
    from iml4e_components.registry.core import register

    model_uri = client.get_model_version("it-churn", registration["version"]).source
    os.environ["MLFLOW_TRACKING_URI"] = restarted["url"]
    try:
        worse = register(model_uri, "it-churn", "f1", registration["value"] - 0.1)
        assert (worse.version, worse.promoted) == ("2", False)
        assert client.get_model_version_by_alias("it-churn", "challenger").version == "2"
        assert client.get_model_version_by_alias("it-churn", "champion").version == registration["version"]
        better = register(model_uri, "it-churn", "f1", registration["value"] + 0.1)
        assert (better.version, better.promoted) == ("3", True)
        assert client.get_model_version_by_alias("it-churn", "champion").version == "3"
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]


def test_killed_server_is_reported_down_and_recovered(running_platform: Path) -> None:
    first = cli_json("up")
    client = mlflow.MlflowClient(first["url"])
    experiment = client.create_experiment("survives-a-crash")
    os.killpg(first["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and platform.status()[0].running:
        time.sleep(0.2)

    status = cli_json("status")["services"][0]
    assert status["running"] is False and status["healthy"] is False

    recovered = cli_json("up")
    assert recovered["started"] is True and recovered["pid"] != first["pid"]
    assert mlflow.MlflowClient(recovered["url"]).get_experiment(experiment).name == "survives-a-crash"


def test_mlflow_failing_to_start_shows_its_log(running_platform: Path) -> None:
    # A directory where the sqlite database file should be makes the server fail at start-up.
    (running_platform / "mlflow").mkdir(parents=True, exist_ok=True)
    (running_platform / "mlflow" / "mlflow.db").mkdir()
    with pytest.raises(ServiceError, match=r"mlflow exited during start-up|did not become healthy"):
        platform.up()
    assert platform.status() == []
