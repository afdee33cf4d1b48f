"""Which pipeline to run and with what: resolve a name or a Python file, check `key=value` arguments.

Shared by the local runner (`iml4e run`), the cluster runner (`iml4e run --cluster`) and the drift
monitor's `--on-drift`, so a bad pipeline or parameter is refused the same way before any work.
"""

from __future__ import annotations

import importlib.util
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iml4e.errors import UsageError

_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "String": str,
    "Integer": int,
    "Float": float,
    "Boolean": lambda v: {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[
        v.lower()
    ],
    "List": json.loads,
    "Dict": json.loads,
}
_TYPE_WORDS = {
    "String": "text",
    "Integer": "an integer",
    "Float": "a number",
    "Boolean": "true or false",
    "List": "a JSON list",
    "Dict": "a JSON object",
}
#: Parameters whose values name a local file that must exist before anything runs.
_PATH_PARAMETERS = ("dataset", "reference", "current")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any
    required: bool


def resolve_pipeline(reference: str) -> tuple[str, Any]:
    """A pipeline by registered name, or from a Python file (`file.py` or `file.py:function`)."""
    from iml4e_pipelines import PIPELINES, load_pipeline

    if reference in PIPELINES:
        return reference, load_pipeline(reference)
    path_text, _, attribute = reference.partition(":")
    path = Path(path_text)
    if path.suffix != ".py":
        raise UsageError(
            f"unknown pipeline '{reference}'; run 'iml4e run --list' for the available pipelines "
            "or pass a Python file (path/to/pipeline.py[:function])"
        )
    if not path.is_file():
        raise UsageError(f"pipeline file not found: {path}")
    spec = importlib.util.spec_from_file_location(f"iml4e_user_pipeline_{uuid.uuid4().hex[:8]}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import pipeline file {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise UsageError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    from kfp.dsl.graph_component import GraphComponent

    found = {name: obj for name, obj in vars(module).items() if isinstance(obj, GraphComponent)}
    if attribute:
        if attribute not in found:
            raise UsageError(
                f"{path} has no pipeline named '{attribute}'; pipelines there: {', '.join(found) or 'none'}"
            )
        return attribute, found[attribute]
    if len(found) != 1:
        raise UsageError(
            f"{path} defines {len(found)} pipelines ({', '.join(found) or 'none'}); "
            f"name one as {path}:PIPELINE"
        )
    name, pipeline = next(iter(found.items()))
    return name, pipeline


def pipeline_parameters(pipeline: Any) -> list[Parameter]:
    inputs = pipeline.component_spec.inputs or {}
    return [
        Parameter(name=name, type=str(spec.type), default=spec.default, required=not spec.optional)
        for name, spec in inputs.items()
    ]


def _check_rollout(known: dict[str, Parameter], values: dict[str, Any]) -> None:
    """A pipeline that deploys with a rollout mode gets a known mode and a 0-100 traffic share."""
    if "rollout" not in known or "canary_traffic" not in known:
        return
    from iml4e_components.deployment.core import check_rollout
    from iml4e_components.errors import ComponentError

    rollout = values.get("rollout", known["rollout"].default)
    traffic = values.get("canary_traffic", known["canary_traffic"].default)
    try:
        check_rollout(str(rollout), int(traffic))
    except ComponentError as exc:
        raise UsageError(f"parameter {exc}") from None


def parse_parameters(pipeline: Any, pairs: list[str]) -> dict[str, Any]:
    """Turn `key=value` strings into typed arguments, checked against the pipeline's signature."""
    known = {p.name: p for p in pipeline_parameters(pipeline)}
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"malformed --param '{pair}'; write it as key=value, e.g. --param seed=7")
        if key not in known:
            raise UsageError(
                f"unknown parameter '{key}'; this pipeline takes: {', '.join(known) or 'no parameters'}"
            )
        if key in values:
            raise UsageError(f"parameter '{key}' is given twice; give each --param once")
        kind = known[key].type
        try:
            values[key] = _CONVERTERS.get(kind, str)(raw)
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            raise UsageError(f"parameter '{key}' must be {_TYPE_WORDS.get(kind, kind)}, got '{raw}'") from exc
    missing = [p.name for p in known.values() if p.required and p.name not in values]
    if missing:
        raise UsageError(f"missing required parameter(s): {', '.join(missing)}; pass --param NAME=VALUE")
    _check_rollout(known, values)
    for key in _PATH_PARAMETERS:
        value = values.get(key)
        if isinstance(value, str) and value and not re.match(r"^[a-z][a-z0-9+.-]*:", value):
            path = Path(value).expanduser()
            if not path.is_file():
                raise UsageError(
                    f"dataset file not found: {value} (parameter '{key}'); pass an existing CSV or Parquet file"
                )
            values[key] = str(path.resolve())
    return values
