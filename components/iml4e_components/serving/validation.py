"""Reading V1 and Open Inference Protocol (V2) request bodies into typed columns, checked against the model signature.

Every problem becomes a `BadRequest` with an HTTP status (4xx) and a one-line message naming the
input and what to send instead. Checks run per column on numpy arrays, not per value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: MLflow signature types -> (what the column holds, numpy dtype to predict with).
_MLFLOW_TYPES: dict[str, tuple[str, str]] = {
    "double": ("number", "float64"),
    "float": ("number", "float32"),
    "long": ("integer", "int64"),
    "integer": ("integer", "int32"),
    "boolean": ("boolean", "bool"),
    "string": ("string", "object"),
    # tensor-based schemas (e.g. an output signature) name numpy dtypes instead
    "float64": ("number", "float64"),
    "float32": ("number", "float32"),
    "int64": ("integer", "int64"),
    "int32": ("integer", "int32"),
    "bool": ("boolean", "bool"),
    "object": ("string", "object"),
}
#: V2 datatypes each column kind accepts.
_V2_ACCEPTS: dict[str, frozenset[str]] = {
    "number": frozenset(
        {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
    ),
    "integer": frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}),
    "boolean": frozenset({"BOOL"}),
    "string": frozenset({"BYTES"}),
}
#: numpy kinds each column kind accepts.
_NUMPY_KINDS: dict[str, str] = {"number": "iuf", "integer": "iu", "boolean": "b", "string": "U"}
_V2_DEFAULT: dict[str, str] = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}


class BadRequest(Exception):
    """A request the server refuses: HTTP `status` (4xx) and a message for the client."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ColumnSpec:
    """One model input: its name, what it holds, the dtype it is predicted with, its V2 datatype."""

    name: str
    kind: str
    dtype: str
    v2_datatype: str
    mlflow_type: str


def columns_from_signature(inputs: Sequence[tuple[str, str]]) -> list[ColumnSpec]:
    """Column specs from (name, MLflow type) pairs of a model signature's input schema."""
    specs = []
    for name, mlflow_type in inputs:
        kind, dtype = _MLFLOW_TYPES.get(mlflow_type, ("any", "object"))
        specs.append(
            ColumnSpec(
                name=name,
                kind=kind,
                dtype=dtype,
                v2_datatype=_V2_DEFAULT.get(kind, "BYTES"),
                mlflow_type=mlflow_type,
            )
        )
    return specs


def v2_datatype_of(values: np.ndarray[Any, Any]) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return f"{'U' if kind == 'u' else ''}INT{values.dtype.itemsize * 8}"
    if kind == "f":
        return f"FP{values.dtype.itemsize * 8}"
    return "BYTES"


Columns = dict[str, np.ndarray[Any, Any]]


def decode_v1(body: Any, specs: Sequence[ColumnSpec]) -> tuple[Columns, int]:
    """`{"instances": [...]}`: each instance a {column: value} object or a list in signature order."""
    if not isinstance(body, dict):
        raise BadRequest('a V1 request body must be a JSON object like {"instances": [{...}, ...]}')
    instances = body.get("instances", body.get("inputs"))
    if not isinstance(instances, list) or not instances:
        raise BadRequest(
            'a V1 request needs a non-empty "instances" list, e.g. {"instances": [{"age": 40, ...}]}'
        )
    first = instances[0]
    names = [s.name for s in specs]
    if isinstance(first, dict):
        if not all(isinstance(i, dict) for i in instances):
            raise BadRequest(
                "mix of object and non-object instances; send every instance as a {column: value} object"
            )
        for spec in specs:
            if not all(spec.name in i for i in instances):
                row = next(n for n, i in enumerate(instances) if spec.name not in i)
                raise BadRequest(
                    f"instance {row} lacks input '{spec.name}'; the model takes: {', '.join(names)}"
                )
        raw = {spec.name: [i[spec.name] for i in instances] for spec in specs}
    elif isinstance(first, list):
        width = len(specs)
        if not all(isinstance(i, list) and len(i) == width for i in instances):
            raise BadRequest(
                f"every list instance must hold {width} values in this order: {', '.join(names)}"
            )
        raw = {
            spec.name: list(values) for spec, values in zip(specs, zip(*instances, strict=True), strict=True)
        }
    else:
        raise BadRequest(
            "each instance must be a {column: value} object or a list of values in signature order"
        )
    columns = {spec.name: _typed_column(spec, raw[spec.name]) for spec in specs}
    return columns, len(instances)


def decode_v2(body: Any, specs: Sequence[ColumnSpec]) -> tuple[Columns, int]:
    """`{"inputs": [{"name", "shape", "datatype", "data"}, ...]}` with one tensor per model input."""
    if not isinstance(body, dict):
        raise BadRequest('a V2 inference request must be a JSON object with an "inputs" list')
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise BadRequest('a V2 inference request needs a non-empty "inputs" list of tensors')
    by_name: dict[str, Mapping[str, Any]] = {}
    names = [s.name for s in specs]
    for position, tensor in enumerate(tensors):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequest(
                f'input {position} must be an object with "name", "shape", "datatype" and "data"'
            )
        name = tensor["name"]
        if name in by_name:
            raise BadRequest(f"input '{name}' is given twice; send each model input once")
        by_name[name] = tensor
    missing = [n for n in names if n not in by_name]
    if missing:
        raise BadRequest(
            f"missing input(s) {', '.join(missing)}; send one tensor per model input: {', '.join(names)}"
        )
    columns: Columns = {}
    rows: int | None = None
    for spec in specs:
        tensor = by_name[spec.name]
        values = _v2_tensor_values(spec, tensor)
        if rows is None:
            rows = len(values)
        elif len(values) != rows:
            raise BadRequest(
                f"input '{spec.name}' has {len(values)} rows but '{specs[0].name}' has {rows}; send equal row counts"
            )
        columns[spec.name] = values
    assert rows is not None
    if rows == 0:
        raise BadRequest("the inputs hold no rows; send at least one")
    return columns, rows


def _v2_tensor_values(spec: ColumnSpec, tensor: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    shape = tensor.get("shape")
    datatype = tensor.get("datatype")
    data = tensor.get("data")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) or not shape:
        raise BadRequest(f"input '{spec.name}' needs a shape such as [n] or [n, 1] (non-negative integers)")
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise BadRequest(f"input '{spec.name}' has shape {shape}; a column input takes shape [n] or [n, 1]")
    if not isinstance(datatype, str):
        raise BadRequest(f"input '{spec.name}' needs a datatype, e.g. \"{spec.v2_datatype}\"")
    accepted = _V2_ACCEPTS.get(spec.kind)
    if accepted is not None and datatype not in accepted:
        raise BadRequest(
            f"input '{spec.name}' has datatype {datatype} but the model takes {spec.mlflow_type}; "
            f"send it as {spec.v2_datatype}"
        )
    if not isinstance(data, list):
        raise BadRequest(f"input '{spec.name}' needs its values in a \"data\" list")
    values = _typed_column(spec, data, flatten=True)
    if len(values) != math.prod(shape):
        raise BadRequest(
            f"input '{spec.name}' has {len(values)} values but its shape {shape} needs {math.prod(shape)}"
        )
    return values


def _typed_column(spec: ColumnSpec, values: list[Any], flatten: bool = False) -> np.ndarray[Any, Any]:
    """The values as one numpy array of the column's dtype, or a BadRequest saying what is wrong."""
    try:
        array = np.asarray(values)
    except ValueError:
        raise BadRequest(
            f"input '{spec.name}' has nested lists of different lengths; send a flat list"
        ) from None
    if flatten and array.ndim > 1:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise BadRequest(f"input '{spec.name}' must be a list of scalar values")
    kind = array.dtype.kind
    accepted = _NUMPY_KINDS.get(spec.kind)
    if accepted is None or len(array) == 0:
        return array
    if kind not in accepted:
        raise BadRequest(f"input '{spec.name}' takes {_describe(spec)} values, got {_describe_values(array)}")
    if spec.kind == "string":
        items = [x for v in values for x in (v if isinstance(v, list) else [v])]
        if not all(isinstance(v, str) for v in items):
            raise BadRequest(f"input '{spec.name}' takes text values, got numbers or other values")
        return array.astype(object)
    return array.astype(spec.dtype, copy=False)


def _describe(spec: ColumnSpec) -> str:
    return {"number": "numeric", "integer": "integer", "boolean": "true/false", "string": "text"}.get(
        spec.kind, spec.mlflow_type
    ) + f" ({spec.mlflow_type})"


def _describe_values(array: np.ndarray[Any, Any]) -> str:
    kind = array.dtype.kind
    if kind == "O":
        return "nulls or mixed types"
    return {"U": "text", "f": "decimal numbers", "i": "integers", "u": "integers", "b": "true/false"}.get(
        kind, str(array.dtype)
    )
