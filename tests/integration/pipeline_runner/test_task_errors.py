"""Why a task failed reaches `iml4e run` as data (the task's error record), not from its log text;
`--verbose` adds the failed task's output and traceback (real kfp.local runs, a real MLflow server on
loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.errors import PipelineError
from iml4e.local import platform
from iml4e.local.pipeline_runner import run_pipeline
from iml4e.local.preloaded_tasks import ENABLE_ENV

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("platform")]
runner = CliRunner()

PIPELINE = '''\
from kfp import dsl

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def check_rows(rows: int) -> str:
    """Our own error for too few rows; a bug (KeyError) for 13, after a line that looks like an error."""
    from iml4e_components.errors import ComponentError
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step("check_rows"):
        if rows < 10:
            raise ComponentError(f"the table has {rows} rows; at least 10 are needed, pass more rows")
        if rows == 13:
            print("ComponentError: a line in the task's output that only looks like an error")
            return {}["unlucky"]
        return "enough rows"


@iml4e_component
def bare(rows: int) -> str:
    """Not wrapped in lineage_step: only the task process can record its error."""
    from iml4e_components.errors import ComponentError

    raise ComponentError(f"bare step refuses {rows} rows; pass none")


@dsl.pipeline(name="row-check")
def row_check(rows: int = 3) -> str:
    return check_rows(rows=rows).output


@dsl.pipeline(name="bare-check")
def bare_check(rows: int = 3) -> str:
    return bare(rows=rows).output
'''
TOO_FEW = "the table has 3 rows; at least 10 are needed, pass more rows"


@pytest.fixture(scope="module")
def pipeline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("task-errors") / "row_check.py"
    path.write_text(PIPELINE)
    return path


@pytest.fixture
def tracking_uri(isolated_state: Path) -> Iterator[str]:
    yield platform.up().status.record.url
    platform.down()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_component_error_reaches_iml4e_run_as_its_message_in_one_line(
    pipeline_file: Path, tracking_uri: str
) -> None:
    result = runner.invoke(app, ["run", f"{pipeline_file}:row_check", "--param", "rows=3"])
    assert result.exit_code == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith(f"error: pipeline 'row_check' failed at step 'check-rows': {TOO_FEW} (full log: ")
    assert "Traceback" not in result.stderr and "Executing task" not in result.stderr


def test_verbose_adds_the_failed_tasks_output_and_traceback(pipeline_file: Path, tracking_uri: str) -> None:
    result = runner.invoke(app, ["--verbose", "run", f"{pipeline_file}:row_check", "--param", "rows=3"])
    assert result.exit_code == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert TOO_FEW in line
    output = result.stderr[result.stderr.index("--- the last ") : result.stderr.index("--- the traceback")]
    assert "Executing task 'check-rows'" in output and '"rows": 3' in output
    traceback = result.stderr[result.stderr.index("--- the traceback of task 'check-rows' ---") :]
    assert 'raise ComponentError(f"the table has {rows} rows' in traceback
    assert f"iml4e_components.errors.ComponentError: {TOO_FEW}" in traceback


def test_an_unexpected_exception_is_reported_with_its_class_not_a_lookalike_log_line(
    pipeline_file: Path, tracking_uri: str
) -> None:
    with pytest.raises(PipelineError) as raised:
        run_pipeline(f"{pipeline_file}:row_check", ["rows=13"], tracking_uri)
    assert "failed at step 'check-rows': KeyError: 'unlucky' (full log: " in str(raised.value)
    assert "looks like an error" not in str(raised.value)
    assert raised.value.details.rstrip().endswith("KeyError: 'unlucky'")


@pytest.mark.parametrize("preloaded", ["1", "0"])
def test_each_task_path_records_the_error(
    pipeline_file: Path, tracking_uri: str, preloaded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preloaded task process records any component's error; on kfp's own subprocess path
    (ParallelFor iterations, IML4E_RUNNER_PRELOADED=0) lineage_step records an iml4e component's."""
    monkeypatch.setenv(ENABLE_ENV, preloaded)
    with pytest.raises(PipelineError, match=f"failed at step 'check-rows': {TOO_FEW} "):
        run_pipeline(f"{pipeline_file}:row_check", ["rows=3"], tracking_uri)
    with pytest.raises(PipelineError) as raised:
        run_pipeline(f"{pipeline_file}:bare_check", ["rows=3"], tracking_uri)
    if preloaded == "1":
        assert "failed at step 'bare': bare step refuses 3 rows; pass none" in str(raised.value)
    else:  # no record: kfp's own message names the task
        assert "failed at step 'bare': " in str(raised.value) and "refuses" not in str(raised.value)
