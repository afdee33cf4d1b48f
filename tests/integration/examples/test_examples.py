"""Every example runs by its one command on small data against a real local platform (MLflow, kfp.local, Feast)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("examples")]

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One state directory (and one MLflow server) shared by the examples, stopped afterwards."""
    root = tmp_path_factory.mktemp("examples-home")
    saved = os.environ.get("IML4E_HOME")
    os.environ["IML4E_HOME"] = str(root)
    yield root
    from iml4e.local import platform

    platform.down()
    if saved is None:
        os.environ.pop("IML4E_HOME", None)
    else:
        os.environ["IML4E_HOME"] = saved


def run_example(home: Path, script: str, summary: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IML4E_HOME": str(home), "IML4E_EXAMPLE_SMALL": "1"}
    if summary is not None:
        env["IML4E_EXAMPLE_SUMMARY"] = str(summary)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_quickstart_trains_and_registers_a_champion(home: Path) -> None:
    summary = json.loads(run_example(home, "quickstart/run.py").stdout)
    assert summary["status"] == "SUCCESS"
    assert summary["model"] == "quickstart-churn version 1"
    assert summary["promoted_to_champion"] is True and summary["gate_metric"] == "f1"
    assert 0.0 < summary["value"] <= 1.0


def test_energy_forecast_error_falls_as_history_grows(home: Path, tmp_path: Path) -> None:
    summary_file = tmp_path / "energy.json"
    result = run_example(home, "energy-forecasting/run.py", summary_file)
    summary = json.loads(summary_file.read_text())
    months = summary["months"]
    maes = [row["mae"] for row in months]
    assert len(months) == 4
    assert all(later < earlier for earlier, later in itertools.pairwise(maes)), maes
    assert maes[-1] < 0.5 * maes[0]
    # Each better model was promoted by the registry's champion/challenger rule.
    assert [row["promoted"] for row in months] == [True] * 4
    assert "forecast MAE on the backtest month fell from" in result.stdout
    # The KFP run registered one more version, judged by the same rule against the champion.
    pipeline = summary["pipeline"]
    assert pipeline["version"] == "5" and pipeline["metric"] == "mae"
    assert pipeline["promoted"] == (pipeline["value"] < maes[-1])

    import mlflow

    client = mlflow.MlflowClient(summary["mlflow"])
    experiment = client.get_experiment_by_name("energy-forecasting")
    assert experiment is not None
    sweep = client.search_runs(
        [experiment.experiment_id], filter_string="attributes.run_name = 'history-sweep'"
    )
    history = client.get_metric_history(sweep[0].info.run_id, "backtest_mae")
    assert [round(point.value, 3) for point in sorted(history, key=lambda p: p.step)] == maes
    champion = client.get_model_version_by_alias("energy-forecaster", "champion")
    expected = "5" if pipeline["promoted"] else str(months[-1]["version"])
    assert champion.version == expected


def test_feature_store_serves_training_and_online_features(home: Path, tmp_path: Path) -> None:
    summary_file = tmp_path / "feature-store.json"
    run_example(home, "feature-store/run.py", summary_file)
    summary = json.loads(summary_file.read_text())
    assert summary["materialized"]["feature_views"] == ["account_activity"]
    assert summary["training_rows"] == 150  # one point-in-time row per label
    assert summary["metrics"]["roc_auc"] > 0.75
    assert [row["customer_id"] for row in summary["online"]] == [0, 1, 2]
    assert all(0.0 <= row["churn_probability"] <= 1.0 for row in summary["online"])
