"""Which task commands the preloaded task server takes over, and which stay on kfp's own path."""

# No `from __future__ import annotations`: KFP reads the annotations of the components defined here.

from typing import Any

from kfp import dsl

from iml4e.local.preloaded_tasks import imported_modules, lightweight_task, pipeline_modules
from iml4e_components.kfp_component import iml4e_component


def full_command(component: Any) -> list[str]:
    container = next(iter(component.pipeline_spec.deployment_spec["executors"].values()))["container"]
    return [*container["command"], *container["args"]]


def test_iml4e_component_command_is_taken_over() -> None:
    @iml4e_component
    def double(x: int) -> int:
        return 2 * x

    parsed = lightweight_task(full_command(double))
    assert parsed is not None
    source, arguments = parsed
    assert "def double(x: int) -> int:" in source
    assert arguments == ["--executor_input", "{{$}}", "--function_to_execute", "double"]


def test_component_that_installs_packages_keeps_kfp_path() -> None:
    @dsl.component(base_image="python:3.11")
    def double(x: int) -> int:
        return 2 * x

    command = full_command(double)
    assert "pip install" in " ".join(command)
    assert lightweight_task(command) is None


def test_other_commands_keep_kfp_path() -> None:
    assert lightweight_task(["python", "-c", "print(1)"]) is None
    assert lightweight_task(["sh", "-ec", "echo hi", "x"]) is None


def test_imported_modules_found_anywhere_in_the_source() -> None:
    source = (
        "from __future__ import annotations\nimport kfp\nfrom kfp import dsl\n"
        "def f():\n    import pandas as pd, json\n    from iml4e_components.training.core import train\n"
        "    from . import sibling\n"
    )
    assert imported_modules(source) == ["kfp", "pandas", "json", "iml4e_components.training.core"]
    assert imported_modules("def broken(:\n") == []


def test_pipeline_modules_collects_every_component_import() -> None:
    @iml4e_component
    def uses_pandas(x: int) -> int:
        import pandas

        return int(pandas.Series([x]).sum())

    @iml4e_component
    def uses_json(x: int) -> int:
        import json

        return int(json.loads(str(x)))

    @dsl.pipeline(name="two")
    def two(x: int = 1) -> int:
        return uses_json(x=uses_pandas(x=x).output).output  # type: ignore[no-any-return]

    modules = pipeline_modules(two)
    assert {"pandas", "json", "kfp"} <= set(modules)
