"""MLflow tracking: one MLflow run per pipeline run, shared by its steps through the run id."""

from __future__ import annotations

from typing import Any

from iml4e_components.errors import ComponentError

#: Tag on an MLflow run naming the pipeline run that opened it, so the runner can end it when a
#: step fails (`fail_pipeline_runs`).
PIPELINE_RUN_TAG = "iml4e.pipeline_run_id"
#: Environment variables that name the pipeline run (the local runner's, then KFP's).
_PIPELINE_RUN_ENV = ("IML4E_PIPELINE_RUN_ID", "KFP_RUN_ID")


def start_run(experiment: str, run_name: str = "", tags: dict[str, str] | None = None) -> str:
    """Create an MLflow run in `experiment` (created if missing) and return its id.

    The tracking server comes from `MLFLOW_TRACKING_URI`, which the platform sets. The run is
    tagged with the pipeline run it belongs to (`PIPELINE_RUN_TAG`) when the environment names one.
    """
    import os

    import mlflow

    if not experiment.strip():
        raise ComponentError("experiment name must not be empty")
    pipeline_run = next((os.environ[key] for key in _PIPELINE_RUN_ENV if os.environ.get(key)), "")
    all_tags = {**(tags or {}), **({PIPELINE_RUN_TAG: pipeline_run} if pipeline_run else {})}
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name=run_name or None, tags=all_tags)
    return str(run.info.run_id)


def fail_pipeline_runs(tracking_uri: str, pipeline_run: str) -> list[str]:
    """Mark FAILED the MLflow runs that pipeline run `pipeline_run` opened and left RUNNING (a step
    failed before the last one could finish them); returns their ids."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = client.search_runs(
        experiments,
        filter_string=f"tags.`{PIPELINE_RUN_TAG}` = '{pipeline_run}' and attributes.status = 'RUNNING'",
    )
    for run in running:
        client.set_terminated(run.info.run_id, status="FAILED")
    return [run.info.run_id for run in running]


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
