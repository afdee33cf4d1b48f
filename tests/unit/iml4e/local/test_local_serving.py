"""Local serving records: names from URIs, the server command, CLI refusals (no server started)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.errors import UsageError
from iml4e.local.serving import check_name, default_name, server_spec, stop_serving
from iml4e.local.state import PlatformState, ServiceRecord, load_state, save_state


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("models:/churn@champion", "churn"),
        ("models:/Churn_Model/3", "churn_model"),
        ("runs:/0123456789abcdef/model", "model-01234567"),
        ("/tmp/some dir/My Model/", "my-model"),
    ],
)
def test_default_names_come_from_the_uri(uri: str, name: str) -> None:
    assert default_name(uri) == name


def test_names_that_break_paths_are_refused() -> None:
    with pytest.raises(UsageError, match="endpoint path"):
        check_name("a/b")


def test_server_binds_loopback_and_logs_to_the_state_dir(tmp_path: Path) -> None:
    spec = server_spec(
        tmp_path, "models:/churn@champion", "churn", 8123, "127.0.0.1", "http://127.0.0.1:5000", 0.5
    )
    assert spec.name == "serve:churn" and spec.host == "127.0.0.1"
    command = " ".join(spec.command)
    assert "-m iml4e_components.serving" in command and "--host 127.0.0.1" in command
    assert f"--state-dir {tmp_path}" in command and "--log-sample-rate 0.5" in command
    assert spec.health_path == "/v2/models/churn/ready"
    assert spec.env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"
    assert spec.extra["v2"] == "http://127.0.0.1:8123/v2/models/churn/infer"


def test_stopping_an_unknown_model_says_what_is_served() -> None:
    with pytest.raises(UsageError, match="no served model named 'nope'"):
        stop_serving("nope")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "models:/x@a", "--name", "A/B", "--detach"], "endpoint path"),
        (["serve", "models:/x@a", "--log-sample-rate", "3", "--detach"], "out of range"),
        (["serve"], "name a model URI to serve"),
        (["serve", "models:/x@a", "--stop", "x"], "takes no model URI"),
        (["serve", "--stop", "nope"], "no served model named 'nope'"),
        (["monitor", "models:/x@a", "--reference", "sample:churn", "--window", "soon"], "not a duration"),
        (["monitor", "models:/x@a", "--reference", "sample:churn", "--once"], "no request log for model 'x'"),
        (["monitor", "models:/x@a", "--reference", "sample:churn", "--on-drift", "nope"], "nope"),
        (
            [
                "monitor",
                "models:/x@a",
                "--reference",
                "x.csv",
                "--on-drift",
                "continuous_training",
                "--on-drift-param",
                "unknown=1",
            ],
            "unknown",
        ),
    ],
)
def test_cli_refuses_bad_input_with_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_serve_stop_takes_a_name_and_forgets_a_model_that_down_stopped(isolated_state: Path) -> None:
    state = PlatformState()
    state.stopped["serve:tiny"] = ServiceRecord(
        name="serve:tiny", pid=1, port=8123, log="x.log", started_at=1.0, extra={"model_uri": "/m"}
    )
    save_state(state, isolated_state)
    result = CliRunner().invoke(app, ["serve", "--stop", "tiny"])
    assert result.exit_code == 0, result.output
    assert "'tiny' was not running" in result.stderr
    assert load_state(isolated_state).stopped == {}  # so the next `up` does not start it again


def test_serving_a_registered_model_while_the_platform_is_down_says_how_to_start_it(
    isolated_state: Path,
) -> None:
    result = CliRunner().invoke(app, ["serve", "models:/churn@champion", "--detach"])
    assert result.exit_code == 1
    assert "not running" in result.stderr and "'iml4e up'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert load_state(isolated_state).services == {}  # MLflow was not started behind the user's back
