"""Tasks forked from the preloaded task server: isolated from each other, same results as kfp's path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iml4e.errors import PipelineError
from iml4e.local.pipeline_runner import run_pipeline
from iml4e.local.preloaded_tasks import ENABLE_ENV, stop_task_server

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pipeline_runner")]

PIPELINE = '''\
from kfp import dsl

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def probe(tag: str) -> str:
    """Leave a mark in a module every task imports, and report what this task sees."""
    import json
    import os

    seen_before = getattr(json, "iml4e_probe_mark", "")
    json.iml4e_probe_mark = tag
    return json.dumps(
        {"pid": os.getpid(), "seen_before": seen_before, "env": os.environ.get("IML4E_PROBE", ""), "cwd": os.getcwd()}
    )


@iml4e_component
def combine(first: str, second: str, fail: bool) -> str:
    import json

    if fail:
        raise ValueError("probe failure 4711")
    return json.dumps([json.loads(first), json.loads(second)])


@iml4e_component
def preloaded() -> str:
    """Which modules the task process had before its own imports ran."""
    import sys

    before = sorted(m for m in ("pandas", "kfp.dsl.executor_main") if m in sys.modules)
    import json

    import pandas

    return json.dumps({"before": before, "rows": len(pandas.DataFrame({"a": [1, 2]}))})


@dsl.pipeline(name="preload-check")
def preload_check() -> str:
    return preloaded().output


@iml4e_component
def touch(folder: str, item: int) -> None:
    import pathlib
    import time

    time.sleep(0.2)  # overlap with the sibling iterations
    (pathlib.Path(folder) / f"item-{item}").write_text(str(item))


@dsl.pipeline(name="fan-out")
def fan_out(folder: str) -> None:
    with dsl.ParallelFor(items=[1, 2, 3, 4]) as item:
        touch(folder=folder, item=item)


@iml4e_component
def where() -> str:
    """The state directory, tracking URI and run id this task was given."""
    import json
    import os

    keys = ("IML4E_HOME", "MLFLOW_TRACKING_URI", "IML4E_PIPELINE_RUN_ID")
    return json.dumps({key: os.environ.get(key, "") for key in keys})


@dsl.pipeline(name="where-check")
def where_check() -> str:
    return where().output


@dsl.pipeline(name="probe-pipeline")
def probe_pipeline(fail: bool = False) -> str:
    one = probe(tag="one")
    two = probe(tag="two").after(one)
    return combine(first=one.output, second=two.output, fail=fail).output
'''


@pytest.fixture
def pipeline_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IML4E_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IML4E_PROBE", "from-the-runner")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "probe_pipeline.py"
    path.write_text(PIPELINE)
    yield path
    stop_task_server()


def run(path: Path, *pairs: str) -> list[dict]:  # type: ignore[type-arg]
    result = run_pipeline(f"{path}:probe_pipeline", list(pairs), tracking_uri="http://127.0.0.1:9")
    assert result.status == "SUCCESS"
    return result.output  # type: ignore[no-any-return]


def test_tasks_are_isolated_processes_with_the_runner_environment(pipeline_file: Path) -> None:
    first, second = run(pipeline_file)
    assert first["pid"] != second["pid"] and os.getpid() not in {first["pid"], second["pid"]}
    assert first["seen_before"] == "" and second["seen_before"] == "", (
        "a task saw another task's module state"
    )
    assert first["env"] == second["env"] == "from-the-runner"
    assert first["cwd"] == second["cwd"] == str(pipeline_file.parent)


def test_environment_changes_between_runs_reach_the_tasks(
    pipeline_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(pipeline_file)
    monkeypatch.setenv("IML4E_PROBE", "changed")
    first, _ = run(pipeline_file)  # same task server, new environment
    assert first["env"] == "changed"


def test_same_results_as_kfp_subprocess_path(pipeline_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preloaded = run(pipeline_file)
    monkeypatch.setenv(ENABLE_ENV, "0")
    plain = run(pipeline_file)
    strip = [{k: v for k, v in task.items() if k != "pid"} for task in preloaded]
    assert strip == [{k: v for k, v in task.items() if k != "pid"} for task in plain]


def test_failing_task_stops_the_run_with_its_message(pipeline_file: Path) -> None:
    with pytest.raises(PipelineError, match=r"failed at step 'combine': ValueError: probe failure 4711"):
        run(pipeline_file, "fail=true")


def test_parallel_iterations_all_run(pipeline_file: Path, tmp_path: Path) -> None:
    """kfp.local runs ParallelFor iterations in threads; a busy server hands tasks to kfp's own path."""
    folder = tmp_path / "out"
    folder.mkdir()
    result = run_pipeline(f"{pipeline_file}:fan_out", [f"folder={folder}"], tracking_uri="http://127.0.0.1:9")
    assert result.status == "SUCCESS"
    assert sorted(p.name for p in folder.iterdir()) == ["item-1", "item-2", "item-3", "item-4"]


def test_dead_server_falls_back_to_kfp_path(pipeline_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from iml4e.local import preloaded_tasks

    def server_gone(self: preloaded_tasks.TaskServer, *args: object) -> int:
        raise BrokenPipeError("task server exited")

    monkeypatch.setattr(preloaded_tasks.TaskServer, "run", server_gone)
    first, second = run(pipeline_file)
    assert first["env"] == "from-the-runner" and second["seen_before"] == ""


def test_component_imports_are_preloaded(pipeline_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = f"{pipeline_file}:preload_check"
    result = run_pipeline(reference, [], tracking_uri="http://127.0.0.1:9")
    assert result.output == {"before": ["kfp.dsl.executor_main", "pandas"], "rows": 2}
    monkeypatch.setenv(ENABLE_ENV, "0")
    plain = run_pipeline(reference, [], tracking_uri="http://127.0.0.1:9")
    assert plain.output == {"before": [], "rows": 2}


def test_two_runs_in_one_process_keep_their_own_state_and_leave_nothing_behind(
    pipeline_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`monitor --on-drift` runs pipelines in a loop in one process: no run may leak into the next."""
    import sys

    from kfp.local import config as local_config

    seen = []
    for home, uri in ((tmp_path / "a", "http://127.0.0.1:9"), (tmp_path / "b", "http://127.0.0.1:10")):
        monkeypatch.setenv("IML4E_HOME", str(home))
        before = dict(os.environ)
        config_before, stdout_before = local_config.LocalExecutionConfig.instance, sys.stdout
        result = run_pipeline(f"{pipeline_file}:where_check", [], tracking_uri=uri)
        assert dict(os.environ) == before  # every variable the run set is put back
        assert local_config.LocalExecutionConfig.instance is config_before
        assert sys.stdout is stdout_before
        assert result.output == {
            "IML4E_HOME": str(home.resolve()),
            "MLFLOW_TRACKING_URI": uri,
            "IML4E_PIPELINE_RUN_ID": result.run_id,
        }
        seen.append(result.run_id)
        assert [p.stem for p in (home / "runs").glob("*.json")] == [result.run_id]  # recorded here only
    assert seen[0] != seen[1]
