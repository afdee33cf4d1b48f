"""Guards for the places where iml4e replaces or reads private internals of kfp and mlflow.

pyproject.toml caps kfp and mlflow below their next minor release. Before raising a cap, run these
tests against the new release: each names the upstream attribute a patch replaces and fails when it
moves, changes its signature or is no longer looked up where the patch expects; where it is cheap,
a test also fails when upstream starts doing what the patch adds, so the patch can be dropped.

No `from __future__ import annotations` here: KFP reads the annotations of the components defined here.
"""

import importlib.util
import inspect
import re
import types
from pathlib import Path

import pytest
from kfp import dsl, local
from kfp.local.io import IOStore

from iml4e.local import pipeline_runner
from iml4e.local.kfp_conditions import evaluate_condition, resolve_channel
from iml4e.local.preloaded_tasks import lightweight_task
from iml4e_components.kfp_component import iml4e_component


def _global_names(function: types.FunctionType) -> set[str]:
    """The names `function` looks up at call time (globals and attributes)."""
    return set(function.__code__.co_names)


# --- iml4e.local.kfp_conditions replaces ConditionEvaluator.evaluate_condition ------------------------


def test_kfp_condition_evaluator_is_a_static_method_taking_condition_and_io_store() -> None:
    from kfp.local.orchestrator import enhanced_dag_orchestrator

    evaluator = enhanced_dag_orchestrator.ConditionEvaluator
    assert isinstance(inspect.getattr_static(evaluator, "evaluate_condition"), staticmethod)
    assert list(inspect.signature(evaluator.evaluate_condition).parameters) == ["condition", "io_store"]


@dsl.component(install_kfp_package=False)
def _echo(value: bool) -> bool:
    return value


@dsl.pipeline(name="condition-on-an-input")
def _condition_on_an_input(flag: bool) -> None:
    with dsl.If(flag == True):  # noqa: E712  # a KFP condition
        _echo(value=flag)


def test_kfp_own_evaluator_still_skips_a_compiled_condition_that_holds() -> None:
    from kfp.local.orchestrator import enhanced_dag_orchestrator

    tasks = _condition_on_an_input.pipeline_spec.root.dag.tasks
    condition = next(
        task.trigger_policy.condition for task in tasks.values() if task.trigger_policy.condition
    )
    store = IOStore()
    store.put_parent_input("flag", True)

    assert evaluate_condition(condition, lambda channel: resolve_channel(channel, store)) is True
    # When this fails, kfp evaluates the compiler's conditions itself: drop iml4e.local.kfp_conditions.
    assert enhanced_dag_orchestrator.ConditionEvaluator.evaluate_condition(condition, store) is False


def test_a_condition_outside_the_compilers_cel_subset_is_refused_before_it_runs() -> None:
    store = IOStore()
    store.put_parent_input("flag", 3)
    channel = "inputs.parameter_values['pipelinechannel--flag']"
    assert evaluate_condition(f"int({channel}) > 2 && !false", lambda c: resolve_channel(c, store))
    crafted = "().__class__.__base__.__subclasses__() != 0"  # a classic escape from empty builtins
    for condition in (crafted, f"{channel}.real == 3", "__import__('os').system('true') == 0", "[1][0] == 1"):
        with pytest.raises(ValueError, match="not the CEL subset"):
            evaluate_condition(condition, lambda c: resolve_channel(c, store))


# --- iml4e.local.preloaded_tasks replaces subprocess_task_handler.run_local_subprocess ---------------


def test_kfp_subprocess_handler_calls_run_local_subprocess_through_its_module() -> None:
    from kfp.local import subprocess_task_handler

    signature = inspect.signature(subprocess_task_handler.run_local_subprocess)
    assert list(signature.parameters) == ["full_command"]
    assert signature.return_annotation is int
    # The handler looks the function up in its module at call time, so replacing the attribute works.
    assert "run_local_subprocess" in _global_names(subprocess_task_handler.SubprocessTaskHandler.run)


def test_kfp_task_command_is_still_what_the_task_server_reproduces() -> None:
    @iml4e_component
    def double(x: int) -> int:
        return 2 * x

    container = next(iter(double.pipeline_spec.deployment_spec["executors"].values()))["container"]
    command = [*container["command"], *container["args"]]
    assert lightweight_task(command) is not None
    # preloaded_tasks._execute_task does the same in a forked process: sets _KFP_RUNTIME=true, writes the
    # source to ephemeral_component.py and runs the executor with that path and the command's arguments.
    assert re.search(
        r"_KFP_RUNTIME=true python3 -m kfp\.dsl\.executor_main[\s\\]+--component_module_path[\s\\]+"
        r'"\$program_path/ephemeral_component\.py"[\s\\]+"\$@"',
        command[2],
    )


# --- pipeline_runner reads task progress from kfp.local's log lines --------------------------------


@dsl.pipeline(name="one-task")
def _one_task() -> None:
    _echo(value=True)


def test_kfp_local_log_lines_still_match_the_progress_patterns(tmp_path: Path) -> None:
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=True,
    )
    lines: list[str] = []
    with pipeline_runner._captured(tmp_path / "run.log", lines.append):
        _one_task()

    started = [m.group(1) for line in lines if (m := pipeline_runner._TASK_START.search(line))]
    ended = [m.groups() for line in lines if (m := pipeline_runner._TASK_END.search(line))]
    assert started == ["echo"]
    assert ended == [("echo", "SUCCESS")]


# --- iml4e_components.mlflow_plugins replaces mlflow.utils.plugins._get_entry_points -----------------
# Whether the patch is still needed (Feast still registers an MLflow request-header provider) is
# checked in tests/unit/iml4e_components/mlflow_plugins/test_mlflow_plugins.py.


def _mlflow_plugins_as_shipped() -> types.ModuleType:
    """A fresh copy of `mlflow.utils.plugins`: importing iml4e_components wraps the imported one."""
    imported = importlib.util.find_spec("mlflow.utils.plugins")
    assert imported is not None and imported.origin is not None
    spec = importlib.util.spec_from_file_location("mlflow_plugins_as_shipped", imported.origin)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlflow_looks_up_entry_points_through_the_private_function() -> None:
    from mlflow.tracking.request_header.registry import RequestHeaderProviderRegistry

    shipped = _mlflow_plugins_as_shipped()
    assert list(inspect.signature(shipped._get_entry_points).parameters) == ["group"]
    # get_entry_points resolves _get_entry_points in its module at call time, so replacing it works.
    assert "_get_entry_points" in _global_names(shipped.get_entry_points)
    assert "get_entry_points" in _global_names(RequestHeaderProviderRegistry.register_entrypoints)


def test_the_condition_patch_puts_back_kfp_s_own_staticmethod() -> None:
    from kfp.local.orchestrator import enhanced_dag_orchestrator

    from iml4e.local.kfp_conditions import local_conditions

    evaluator = enhanced_dag_orchestrator.ConditionEvaluator
    before = inspect.getattr_static(evaluator, "evaluate_condition")
    with local_conditions():
        assert inspect.getattr_static(evaluator, "evaluate_condition") is not before
    assert inspect.getattr_static(evaluator, "evaluate_condition") is before
