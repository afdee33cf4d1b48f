"""Commands that read MLflow, run with the platform down and no MLFLOW_TRACKING_URI, never fall back to
MLflow's default store (`sqlite:///mlflow.db`, `./mlruns`) in the working directory (issue 18, item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app


@pytest.mark.parametrize(
    "command",
    [
        ["models", "list"],
        ["models", "show", "churn"],
        ["lineage", "show", "models:/churn@champion"],
        ["lineage", "export", "models:/churn@champion", "-o", "bundle"],
        ["serve", "models:/churn@champion", "--detach"],
        ["assess", "--evidence", "--no-input", "--json"],
    ],
    ids=" ".join,
)
def test_no_mlflow_store_appears_in_the_working_directory(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, command)
    if command[0] != "assess":  # the others need the server and say how to start it
        assert result.exit_code != 0 and "iml4e up" in result.stderr, result.stderr
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert not (tmp_path / "bundle").exists()
