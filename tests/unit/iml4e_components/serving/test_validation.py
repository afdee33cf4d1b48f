"""Request bodies checked against the model signature: typed columns, or a 4xx with a message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from iml4e_components.serving.validation import BadRequest, columns_from_signature, decode_v1, decode_v2

SPECS = columns_from_signature([("age", "long"), ("income", "double"), ("region", "string")])


def _v2(**overrides: Any) -> dict[str, Any]:
    tensors = {
        "age": {"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 40]},
        "income": {"name": "income", "shape": [2, 1], "datatype": "FP64", "data": [[1.5], [2.0]]},
        "region": {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["n", "s"]},
    }
    for name, tensor in overrides.items():
        if tensor is None:
            tensors.pop(name)
        else:
            tensors[name] = {**tensors[name], **tensor}
    return {"inputs": list(tensors.values())}


def test_v1_records_become_typed_columns() -> None:
    columns, rows = decode_v1({"instances": [{"age": 30, "income": 2, "region": "n", "extra": 1}]}, SPECS)
    assert rows == 1
    assert columns["age"].dtype == np.int64
    assert columns["income"].dtype == np.float64 and columns["income"][0] == 2.0
    assert columns["region"].dtype == object and columns["region"].tolist() == ["n"]


def test_v1_lists_follow_signature_order() -> None:
    columns, rows = decode_v1({"instances": [[30, 1.0, "n"], [31, 2.5, "s"]]}, SPECS)
    assert rows == 2
    assert columns["region"].tolist() == ["n", "s"]


def test_v2_tensors_become_typed_columns() -> None:
    columns, rows = decode_v2(_v2(), SPECS)
    assert rows == 2
    assert columns["income"].tolist() == [1.5, 2.0]
    assert columns["age"].dtype == np.int64


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({"instances": []}, "non-empty"),
        ({"instances": [{"age": 30, "income": 1.0}]}, "instance 0 lacks input 'region'"),
        ({"instances": [{"age": "x", "income": 1.0, "region": "n"}]}, "input 'age' takes integer"),
        ({"instances": [{"age": 3.5, "income": 1.0, "region": "n"}]}, "got decimal numbers"),
        ({"instances": [{"age": None, "income": 1.0, "region": "n"}]}, "nulls or mixed types"),
        ({"instances": [{"age": 1, "income": 1.0, "region": 7}]}, "input 'region' takes text"),
        ({"instances": [[1, 2.0]]}, "must hold 3 values"),
        ({"instances": ["x"]}, "each instance must be"),
    ],
)
def test_bad_v1_requests_name_the_problem(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        decode_v1(body, SPECS)
    assert 400 <= caught.value.status < 500


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": "x"}, 'non-empty "inputs" list'),
        (_v2(region=None), "missing input\\(s\\) region"),
        (_v2(age={"datatype": "FP32"}), "datatype FP32 but the model takes long; send it as INT64"),
        (_v2(age={"shape": [3]}), "has 2 values but its shape \\[3\\] needs 3"),
        (_v2(age={"shape": [2, 2]}), "takes shape \\[n\\] or \\[n, 1\\]"),
        (_v2(age={"shape": "2"}), "needs a shape"),
        (_v2(age={"data": [1, 2, 3], "shape": [3]}), "input 'income' has 2 rows but 'age' has 3"),
        (_v2(income={"data": [[1.0], [2.0, 3.0]]}), "nested lists of different lengths"),
        (_v2(region={"data": ["n", 5]}), "input 'region' takes text"),
        ({"inputs": [{"name": "age"}, {"name": "age"}]}, "given twice"),
    ],
)
def test_bad_v2_requests_name_the_problem(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        decode_v2(body, SPECS)
