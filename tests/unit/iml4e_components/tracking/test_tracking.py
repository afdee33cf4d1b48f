from __future__ import annotations

from pathlib import Path

import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.tracking.core import finish_run, log_to_run, start_run


def test_one_run_shared_by_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = start_run("exp", run_name="tabular_training", tags={"iml4e.pipeline": "tabular_training"})
    log_to_run(run_id, metrics={"f1": 0.5}, params={"estimator": "ridge"})
    log_to_run(run_id, metrics={"accuracy__region:north": 0.75})
    finish_run(run_id)
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.data.metrics == {"f1": 0.5, "accuracy__region:north": 0.75}
    assert run.data.params == {"estimator": "ridge"} and run.info.status == "FINISHED"
    assert run.data.tags["iml4e.pipeline"] == "tabular_training"
    assert start_run("exp") != run_id  # the experiment is reused, the run is new
    with pytest.raises(ComponentError, match="experiment name"):
        start_run(" ")


def test_many_values_go_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = start_run("batches")
    log_to_run(
        run_id, metrics={f"m{i}": float(i) for i in range(1200)}, params={f"p{i}": i for i in range(150)}
    )
    data = mlflow.MlflowClient().get_run(run_id).data
    assert len(data.metrics) == 1200 and data.metrics["m1199"] == 1199.0
    assert len(data.params) == 150 and data.params["p149"] == "149"
