from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from iml4e_components.datasets.core import CHURN_SCHEMA, generate_dirty_churn
from iml4e_components.errors import ComponentError
from iml4e_components.validation.core import (
    load_schema,
    parse_schema,
    resolve_schema,
    validate,
    validate_table,
)

SCHEMA = {
    "columns": {
        "age": {"type": "integer", "min": 18, "max": 100, "nullable": False},
        "plan": {"type": "string", "allowed": ["a", "b"]},
        "paid": {"type": "boolean"},
    },
    "max_violation_rate": 0.5,
}


def test_violations_are_counted_per_column_and_kind() -> None:
    frame = pd.DataFrame(
        {
            "age": ["20", "x", "300", None, "4.5", "30"],
            "plan": ["a", "b", "z", "a", "", "b"],
            "paid": [1, 0, "yes", "no", "?", 1],
        }
    )
    typed, report = validate(frame, parse_schema(SCHEMA))
    age, plan, paid = report.columns
    assert (age.wrong_type, age.missing, age.above_max, age.violating_rows) == (2, 1, 1, 4)
    assert "x" in age.examples and "300" in age.examples
    assert (plan.not_allowed, plan.violating_rows) == (1, 1)
    assert paid.wrong_type == 1
    # Values of the wrong type become missing; the rest keep the declared type.
    assert typed["age"].tolist()[:3] == [20.0, None, 300.0] or pd.isna(typed["age"][1])
    assert typed["age"].dtype.kind == "f" and typed.loc[0, "age"] == 20
    assert [c.column for c in report.failing] == ["age"]


def test_threshold_fails_naming_the_columns() -> None:
    frame = pd.DataFrame({"age": ["x", "y", "20", "21"], "plan": ["a"] * 4, "paid": [True] * 4})
    with pytest.raises(ComponentError, match=r"'age' 50.0% \(2 rows, e.g. x, y\)"):
        validate_table(frame, parse_schema({**SCHEMA, "max_violation_rate": 0.25}))


def test_missing_columns_and_empty_tables_fail_at_once() -> None:
    with pytest.raises(ComponentError, match="no column 'plan', 'paid'"):
        validate(pd.DataFrame({"age": [20]}), parse_schema(SCHEMA))
    with pytest.raises(ComponentError, match="empty"):
        validate_table(pd.DataFrame({"age": []}), None)
    with pytest.raises(ComponentError, match="no column 'label'"):
        validate_table(pd.DataFrame({"age": [1]}), None, target="label")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"columns": {}}, "non-empty 'columns'"),
        ({"columns": {"a": {"type": "float"}}}, "column 'a' has type 'float'"),
        ({"columns": {"a": {"minimum": 1}}}, "column 'a' has unknown rule"),
        ({"columns": {"a": {}}, "max_violation_rate": 2}, "max_violation_rate"),
        ({"columns": {"a": {}}, "strict": True}, "unknown schema key"),
    ],
)
def test_bad_schemas_name_the_key(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ComponentError, match=message):
        parse_schema(spec)


def test_schema_from_json_text_yaml_file_or_the_dataset(tmp_path: Path) -> None:
    file = tmp_path / "schema.yaml"
    file.write_text("columns:\n  age: {type: integer}\n")
    assert load_schema(str(file)).columns[0].type == "integer"
    assert load_schema(json.dumps(SCHEMA)).max_violation_rate == 0.5
    assert resolve_schema("", json.dumps(CHURN_SCHEMA)) is not None
    assert resolve_schema("", None) is None
    with pytest.raises(ComponentError, match="schema file not found"):
        load_schema(str(tmp_path / "missing.yaml"))
    with pytest.raises(ComponentError, match="not valid JSON"):
        load_schema("{oops")


def test_the_dirty_sample_passes_its_schema_with_reported_violations() -> None:
    pytest.importorskip("iml4e_components.error_detection.injection")  # the error generator (its own issue)
    dirty, clean = generate_dirty_churn(n_rows=300, seed=1)
    typed, report = validate_table(dirty, parse_schema(CHURN_SCHEMA), "churned")
    assert report is not None and 0 < report.violating_rows < 0.1 * 300 * 8
    assert dict(zip(clean["customer_id"], clean["churned"], strict=True)) == dict(
        zip(dirty["customer_id"], dirty["churned"], strict=True)
    )
    assert typed["age"].dtype.kind == "f" and typed["support_calls"].dtype.kind in "fi"
