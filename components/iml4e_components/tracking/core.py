"""MLflow tracking: one MLflow run per pipeline run, shared by its steps through the run id."""

from __future__ import annotations

from typing import Any

from iml4e_components.errors import ComponentError


def start_run(experiment: str, run_name: str = "", tags: dict[str, str] | None = None) -> str:
    """Create an MLflow run in `experiment` (created if missing) and return its id.

    The tracking server comes from `MLFLOW_TRACKING_URI`, which the platform sets.
    """
    import mlflow

    if not experiment.strip():
        raise ComponentError("experiment name must not be empty")
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=run_name or None, tags=tags or {})
    return str(run.info.run_id)


def log_to_run(
    run_id: str, metrics: dict[str, float] | None = None, params: dict[str, Any] | None = None
) -> None:
    """Log metrics and params to an existing run without ending it, in batches."""
    import time

    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    param_list = [Param(key, str(value)) for key, value in (params or {}).items()]
    metric_list = [Metric(key, float(number), now, 0) for key, number in (metrics or {}).items()]
    # MLflow's batch limits: 100 params and 1000 metrics per request.
    for start in range(0, len(param_list), 100):
        client.log_batch(run_id, params=param_list[start : start + 100])
    for start in range(0, len(metric_list), 1000):
        client.log_batch(run_id, metrics=metric_list[start : start + 1000])


def finish_run(run_id: str, status: str = "FINISHED") -> None:
    import mlflow

    mlflow.MlflowClient().set_terminated(run_id, status=status)
