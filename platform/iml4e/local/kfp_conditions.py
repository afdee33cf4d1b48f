"""Correct `dsl.If`/`dsl.Else` conditions for `kfp.local` runs.

kfp 2.16's local orchestrator splices resolved values into the compiled CEL text and hands it to
`eval`, so every condition the compiler emits (`inputs.parameter_values['pipelinechannel--x'] ==
true`) fails to evaluate and the branch is silently skipped; it also cannot find task outputs
other than `Output`. `local_conditions()` replaces that evaluation while a pipeline runs: each
channel is resolved (pipeline input or any task's named output) and bound as an opaque value, and
the CEL subset the compiler emits (`==`, `!=`, `<`, `>`, `&&`, `||`, `!`, `true`, `false`,
`int(...)`, string and number literals) is evaluated with no builtins.

Limit kept by kfp.local itself: only conditions of tasks in the root DAG (a `dsl.If` at pipeline
level) are honoured; `dsl.If`/`dsl.Else` groups and `dsl.OneOf` are not supported locally, so
iml4e pipelines use a top-level `dsl.If` for optional branches whose outputs nothing consumes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_CHANNEL = re.compile(r"inputs\.parameter_values\[\s*['\"](pipelinechannel--[A-Za-z0-9_\-]+)['\"]\s*\]")
_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|&&|\|\||!=|!|\btrue\b|\bfalse\b|\bnull\b")
_CEL_TO_PYTHON = {"&&": " and ", "||": " or ", "!": " not ", "true": "True", "false": "False", "null": "None"}
_ALLOWED = {"__builtins__": {}, "int": int, "float": float, "str": str, "bool": bool}


class UnresolvedChannel(LookupError):
    """A condition names a value no upstream step or pipeline input provides."""


def evaluate_condition(condition: str, resolve: Callable[[str], Any]) -> bool:
    """Evaluate a compiled KFP trigger condition; `resolve(channel)` returns a channel's value."""
    if not condition.strip():
        return True
    values: dict[str, Any] = {}

    def bind(match: re.Match[str]) -> str:
        name = f"_value{len(values)}"
        values[name] = resolve(match.group(1))
        return name

    expression = _CHANNEL.sub(bind, condition)
    python = _TOKEN.sub(lambda m: _CEL_TO_PYTHON.get(m.group(0), m.group(0)), expression)
    tree = _checked_expression(python, condition, set(values))
    # Values are bound as names, never spliced in, and the tree holds only the CEL subset (checked above):
    # no attribute, subscript or call other than the conversions, so a crafted pipeline file cannot reach
    # Python's internals through its conditions.
    return bool(eval(compile(tree, "<condition>", "eval"), dict(_ALLOWED), values))  # nosec B307


_CONDITION_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Eq,
    ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Name, ast.Load, ast.Constant, ast.Call,
)  # fmt: skip


def _checked_expression(python: str, condition: str, bound: set[str]) -> ast.Expression:
    """The parsed condition, when it holds only the CEL subset the KFP compiler emits."""
    refused = ValueError(f"pipeline condition {condition!r} is not the CEL subset KFP's compiler emits")
    try:
        tree = ast.parse(python.strip(), mode="eval")
    except SyntaxError:
        raise refused from None
    for node in ast.walk(tree):
        if not isinstance(node, _CONDITION_NODES):
            raise refused
        if isinstance(node, ast.Name) and node.id not in bound and node.id not in _ALLOWED:
            raise refused
        if isinstance(node, ast.Call) and (
            node.keywords or not isinstance(node.func, ast.Name) or node.func.id not in _ALLOWED
        ):
            raise refused
    return tree


def resolve_channel(channel: str, io_store: Any) -> Any:
    """A channel's value from a kfp.local IOStore: a pipeline input, or `<task>-<output>`."""
    for key in (channel, channel.removeprefix("pipelinechannel--")):
        try:
            return io_store.get_parent_input(key)
        except ValueError:
            pass
    reference = channel.removeprefix("pipelinechannel--")
    for cut in [i for i, char in enumerate(reference) if char == "-"]:
        task, output = reference[:cut], reference[cut + 1 :]
        try:
            return io_store.get_task_output(task, output)
        except ValueError:
            continue
    raise UnresolvedChannel(
        f"condition input '{channel}' is neither a pipeline input nor an upstream task output"
    )


@contextmanager
def local_conditions() -> Iterator[None]:
    """While active, kfp.local evaluates `dsl.If` conditions with `evaluate_condition`."""
    from kfp.local.orchestrator import enhanced_dag_orchestrator

    evaluator = enhanced_dag_orchestrator.ConditionEvaluator
    # The raw class attribute (a staticmethod), not the function it unwraps to: restoring the
    # function would leave a plain method behind that binds `self` when called on an instance.
    original = vars(evaluator)["evaluate_condition"]

    def patched(condition: str, io_store: Any) -> bool:
        return evaluate_condition(condition, lambda channel: resolve_channel(channel, io_store))

    evaluator.evaluate_condition = staticmethod(patched)
    try:
        yield
    finally:
        evaluator.evaluate_condition = original
