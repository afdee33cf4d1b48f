"""A failed pipeline ends its MLflow run as FAILED, and a step facing a dead MLflow gives up soon,
in one line naming the server (real kfp.local runs, a real MLflow server on loopback)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iml4e.errors import PipelineError
from iml4e.local import platform, processes
from iml4e.local.pipeline_runner import MLFLOW_CLIENT_BOUNDS, run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("platform")]

PIPELINE = """\
from kfp import dsl

from iml4e_components.kfp_component import iml4e_component
from iml4e_components.tracking.component import start_tracking


@iml4e_component
def fail_after(run_id: str) -> str:
    raise ValueError("planned failure 4242 after run " + run_id)


@dsl.pipeline(name="fails-after-tracking")
def fails_after_tracking() -> str:
    tracking = start_tracking(experiment="failing-runs", pipeline_name="fails_after_tracking")
    return fail_after(run_id=tracking.output).output
"""


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Iterator[Path]:
    """The failing pipeline; the MLflow client bounds the runner sets for its run are undone after."""
    saved = {key: os.environ.get(key) for key in MLFLOW_CLIENT_BOUNDS}
    path = tmp_path / "failing.py"
    path.write_text(PIPELINE)
    yield path
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_a_failed_step_marks_the_pipelines_mlflow_run_failed(
    isolated_state: Path, pipeline_file: Path
) -> None:
    import mlflow

    tracking_uri = platform.up().status.record.url
    try:
        with pytest.raises(PipelineError, match="planned failure 4242") as raised:
            run_pipeline(str(pipeline_file), [], tracking_uri)
        assert "fail-after" in str(raised.value)
        client = mlflow.MlflowClient(tracking_uri)
        experiment = client.get_experiment_by_name("failing-runs")
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        assert [run.info.status for run in runs] == ["FAILED"]
        assert runs[0].data.tags["iml4e.pipeline_run_id"]
    finally:
        platform.down()


def test_a_step_facing_a_dead_mlflow_fails_within_30_s_in_one_line(pipeline_file: Path) -> None:
    dead = f"http://127.0.0.1:{processes.free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(PipelineError) as raised:
        run_pipeline(str(pipeline_file), [], dead)
    elapsed = time.monotonic() - started
    message = str(raised.value)
    assert len(message.splitlines()) == 1
    assert f"the MLflow server at {dead} did not answer" in message and "'iml4e up'" in message
    assert "start-tracking" in message
    # The step's own bound is about 30 s (MLFLOW_CLIENT_BOUNDS); the rest is the tasks' start-up.
    assert elapsed < 60, f"took {elapsed:.0f} s"
