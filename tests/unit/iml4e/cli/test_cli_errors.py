"""The CLI's error boundary: bad input gets one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, stderr: str, expected_code: int, *fragments: str) -> None:
    assert code == expected_code, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {stderr!r}"
    assert lines[0].startswith("error:")
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_pipeline() -> None:
    code, _, err = invoke("run", "no_such_pipeline")
    assert_one_line_error(code, err, 2, "unknown pipeline 'no_such_pipeline'", "iml4e run --list")


def test_malformed_param() -> None:
    code, _, err = invoke("run", "tabular_training", "--param", "seed7")
    assert_one_line_error(code, err, 2, "malformed --param 'seed7'", "key=value")


def test_unknown_param_lists_known_ones() -> None:
    code, _, err = invoke("run", "tabular_training", "--param", "colour=blue")
    assert_one_line_error(code, err, 2, "unknown parameter 'colour'", "target")


def test_param_of_wrong_type() -> None:
    code, _, err = invoke("run", "tabular_training", "--param", "seed=seven")
    assert_one_line_error(code, err, 2, "parameter 'seed' must be an integer", "seven")


def test_param_given_twice() -> None:
    code, _, err = invoke("run", "tabular_training", "-p", "seed=1", "-p", "seed=2")
    assert_one_line_error(code, err, 2, "parameter 'seed' is given twice")


@pytest.mark.parametrize("pipeline", ["tabular_training", "continuous_training"])
@pytest.mark.parametrize(
    ("param", "fragments"),
    [
        ("canary_traffic=150", ("canary_traffic=150 is not a traffic share", "0 to 100")),
        ("canary_traffic=-5", ("canary_traffic=-5 is not a traffic share", "0 to 100")),
        ("rollout=blue-green", ("rollout='blue-green' is not a rollout mode", "replace, canary")),
    ],
)
def test_a_bad_rollout_is_refused_before_anything_runs(
    pipeline: str, param: str, fragments: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IML4E_HOME", str(tmp_path / "state"))
    code, _, err = invoke("run", pipeline, "-p", param)
    assert_one_line_error(code, err, 2, *fragments)
    assert not (tmp_path / "state").exists()


def test_missing_dataset_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    code, _, err = invoke("run", "tabular_training", "--param", f"dataset={missing}")
    assert_one_line_error(code, err, 2, "dataset file not found", str(missing))


def test_pipeline_file_with_two_pipelines_needs_a_name(tmp_path: Path) -> None:
    source = tmp_path / "two.py"
    source.write_text(
        "from kfp import dsl\n"
        "@dsl.component\ndef noop() -> None:\n    pass\n"
        "@dsl.pipeline\ndef first() -> None:\n    noop()\n"
        "@dsl.pipeline\ndef second() -> None:\n    noop()\n"
    )
    code, _, err = invoke("run", str(source))
    assert_one_line_error(code, err, 2, "defines 2 pipelines", f"{source}:PIPELINE")


def test_state_dir_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("IML4E_HOME", str(blocker / "state"))
    code, _, err = invoke("up")
    assert_one_line_error(code, err, 1, "is not writable", "IML4E_HOME")


def test_port_already_taken() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, _, err = invoke("up", "--port", str(port))
    assert_one_line_error(code, err, 2, f"port {port}", "already taken")


def test_verbose_shows_the_traceback() -> None:
    result = runner.invoke(app, ["--verbose", "run", "no_such_pipeline"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "unknown pipeline" in result.stderr


def test_list_pipelines_as_json() -> None:
    import json

    code, out, err = invoke("run", "--list", "--json")
    assert code == 0, err
    listing = {item["name"]: item for item in json.loads(out)}
    params = {p["name"]: p for p in listing["tabular_training"]["parameters"]}
    assert params["seed"]["type"] == "Integer"
    assert params["dataset"]["default"].startswith("sample:")


def test_status_when_nothing_runs_is_empty_json() -> None:
    import json

    code, out, _ = invoke("status", "--json")
    assert code == 0
    assert json.loads(out)["services"] == []


def test_real_process_bad_input_exit_code_and_message() -> None:
    """The installed console script, as a user runs it."""
    completed = subprocess.run(
        [sys.executable, "-m", "iml4e", "run", "tabular_training", "--param", "test_size=big"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.strip().splitlines() == [
        "error: parameter 'test_size' must be a number, got 'big'"
    ]


def test_an_unexpected_error_keeps_its_traceback_in_a_crash_log(
    isolated_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (here a conformance-spec loader that breaks) exits 1 with one line naming the crash log,
    which holds the traceback down to the failing frame."""

    def broken_loader(name: str) -> None:
        raise RuntimeError("spec loader exploded\nsecond line")

    monkeypatch.setattr("iml4e_components.model_card.spec.load_spec", broken_loader)
    code, _, err = invoke("card", "check", "any-card.yaml")
    assert_one_line_error(code, err, 1, "unexpected RuntimeError: spec loader exploded", "crash-")
    logs = list((isolated_state / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    kept = logs[0].read_text()
    assert kept.startswith("Traceback") and "broken_loader" in kept and "second line" in kept
    assert oct(logs[0].stat().st_mode & 0o777) == oct(0o600)
