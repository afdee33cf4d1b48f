"""`dsl.If` conditions in kfp.local: the evaluator on compiler output, and real local runs.

No `from __future__ import annotations` here: KFP reads the components' annotations.
"""

from pathlib import Path

import pytest
from kfp import dsl, local
from kfp.local.io import IOStore

from iml4e.local.kfp_conditions import (
    UnresolvedChannel,
    evaluate_condition,
    local_conditions,
    resolve_channel,
)


def _values(mapping: dict[str, object]):  # type: ignore[no-untyped-def]
    return lambda channel: mapping[channel]


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        (
            "inputs.parameter_values['pipelinechannel--deploy'] == true",
            {"pipelinechannel--deploy": True},
            True,
        ),
        (
            "inputs.parameter_values['pipelinechannel--deploy'] == true",
            {"pipelinechannel--deploy": False},
            False,
        ),
        ("!(inputs.parameter_values['pipelinechannel--x'] == 'foo')", {"pipelinechannel--x": "foo"}, False),
        (
            "!(inputs.parameter_values['pipelinechannel--a'] == true) && inputs.parameter_values['pipelinechannel--b'] != 'x'",
            {"pipelinechannel--a": False, "pipelinechannel--b": "y"},
            True,
        ),
        (
            "int(inputs.parameter_values['pipelinechannel--n']) > 3 || false",
            {"pipelinechannel--n": "5"},
            True,
        ),
        # A value is data, never code: it cannot close its quotes and change the expression.
        (
            "inputs.parameter_values['pipelinechannel--s'] == 'a'",
            {"pipelinechannel--s": "x' or True or 'x"},
            False,
        ),
    ],
)
def test_compiled_conditions(condition: str, values: dict[str, object], expected: bool) -> None:
    assert evaluate_condition(condition, _values(values)) is expected


def test_channels_resolve_to_pipeline_inputs_and_named_task_outputs() -> None:
    store = IOStore()
    store.put_parent_input("deploy", True)
    store.put_task_output("decide-retraining", "retrain", False)
    assert resolve_channel("pipelinechannel--deploy", store) is True
    assert resolve_channel("pipelinechannel--decide-retraining-retrain", store) is False
    with pytest.raises(UnresolvedChannel, match="pipelinechannel--nope"):
        resolve_channel("pipelinechannel--nope", store)


@dsl.component(install_kfp_package=False)
def _flag(value: bool) -> bool:
    return value


@dsl.component(install_kfp_package=False)
def _mark(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


@dsl.pipeline(name="branches")
def _branches(go: bool, path: str) -> None:
    decided = _flag(value=go)
    _mark(path=path, text="always ")
    with dsl.If(decided.output == True):  # noqa: E712  # a KFP condition
        _mark(path=path, text="if ")


@pytest.mark.parametrize(("go", "expected"), [(True, "always if "), (False, "always ")])
def test_branches_run_locally(go: bool, expected: str, tmp_path: Path) -> None:
    marks = tmp_path / "marks.txt"
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(tmp_path / "root"),
        raise_on_error=True,
    )
    with local_conditions():
        _branches(go=go, path=str(marks))
    assert marks.read_text() == expected
