"""Schema validation: check a table against a declared schema and report violations per column.

A schema is a mapping (JSON or YAML):

```yaml
columns:
  age: {type: integer, min: 18, max: 100, nullable: false}
  contract: {type: string, allowed: [month-to-month, one-year, two-year]}
max_violation_rate: 0.1   # fail when any column has more violating rows than this share
```

Types: `integer`, `number`, `string`, `boolean`. Every declared column must exist. Values that are
not of the declared type are counted as violations and become missing in the typed output, so the
steps after validation get the declared types (range and allowed-value violations are kept for
error detection to find).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iml4e_components.datasets.core import require_columns
from iml4e_components.errors import ComponentError
from iml4e_components.structured_files import load_structured_file, parse_structured_text

TYPES = ("integer", "number", "string", "boolean")
RULE_KEYS = frozenset({"type", "min", "max", "allowed", "nullable"})
DEFAULT_MAX_VIOLATION_RATE = 0.1
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


@dataclass(frozen=True)
class ColumnRule:
    name: str
    type: str | None = None
    min: float | None = None
    max: float | None = None
    allowed: list[Any] | None = None
    nullable: bool = True


@dataclass(frozen=True)
class Schema:
    columns: list[ColumnRule]
    max_violation_rate: float = DEFAULT_MAX_VIOLATION_RATE


@dataclass
class ColumnReport:
    column: str
    rows: int
    wrong_type: int = 0
    missing: int = 0
    below_min: int = 0
    above_max: int = 0
    not_allowed: int = 0
    violating_rows: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.violating_rows / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class ValidationReport:
    rows: int
    columns: list[ColumnReport]
    max_violation_rate: float

    @property
    def failing(self) -> list[ColumnReport]:
        return [c for c in self.columns if c.rate > self.max_violation_rate]

    @property
    def violating_rows(self) -> int:
        return sum(c.violating_rows for c in self.columns)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "max_violation_rate": self.max_violation_rate,
            "passed": not self.failing,
            "columns": [{**asdict(c), "rate": round(c.rate, 6)} for c in self.columns],
        }

    def metrics(self) -> dict[str, float]:
        values = {f"schema_violation_rate__{c.column}": c.rate for c in self.columns}
        values["schema_violating_cells"] = float(self.violating_rows)
        return values


def parse_schema(spec: dict[str, Any]) -> Schema:
    """A `Schema` from its mapping form; errors name the column and key to fix."""
    if not isinstance(spec, dict) or not isinstance(spec.get("columns"), dict) or not spec["columns"]:
        raise ComponentError("schema must be a mapping with a non-empty 'columns' mapping (column -> rules)")
    unknown_top = sorted(set(spec) - {"columns", "max_violation_rate"})
    if unknown_top:
        raise ComponentError(
            f"unknown schema key(s) {', '.join(unknown_top)}; use 'columns' and 'max_violation_rate'"
        )
    rate = spec.get("max_violation_rate", DEFAULT_MAX_VIOLATION_RATE)
    if not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise ComponentError(f"schema max_violation_rate must be a share between 0 and 1, got {rate!r}")
    rules = []
    for name, raw in spec["columns"].items():
        raw = raw or {}
        if not isinstance(raw, dict):
            raise ComponentError(f"schema rules for column '{name}' must be a mapping, got {raw!r}")
        unknown = sorted(set(raw) - RULE_KEYS)
        if unknown:
            raise ComponentError(
                f"schema column '{name}' has unknown rule(s) {', '.join(unknown)}; allowed: {', '.join(sorted(RULE_KEYS))}"
            )
        if raw.get("type") is not None and raw["type"] not in TYPES:
            raise ComponentError(
                f"schema column '{name}' has type '{raw['type']}'; choose one of: {', '.join(TYPES)}"
            )
        if raw.get("allowed") is not None and not isinstance(raw["allowed"], list):
            raise ComponentError(f"schema column '{name}': 'allowed' must be a list of values")
        rules.append(
            ColumnRule(
                name=str(name),
                type=raw.get("type"),
                min=raw.get("min"),
                max=raw.get("max"),
                allowed=raw.get("allowed"),
                nullable=bool(raw.get("nullable", True)),
            )
        )
    return Schema(columns=rules, max_violation_rate=float(rate))


def load_schema(text: str) -> Schema:
    """A schema from JSON text or from a `.json`/`.yaml`/`.yml` file path."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return parse_schema(parse_structured_text(stripped, "schema", as_json=True))
    path = Path(stripped)
    if not path.is_file():
        raise ComponentError(
            f"schema file not found: {stripped}; pass a JSON/YAML file or the schema as JSON text"
        )
    content = load_structured_file(path, "schema file")
    return parse_schema(content)


def _missing(series: pd.Series) -> pd.Series:
    return series.isna() | series.astype(str).str.strip().eq("")


def _typed(series: pd.Series, kind: str | None) -> tuple[pd.Series, pd.Series]:
    """(values converted to `kind`, mask of present values that are not of that kind)."""
    present = ~_missing(series)
    if kind in ("integer", "number"):
        numbers = pd.to_numeric(series.where(present), errors="coerce")
        bad = present & numbers.isna()
        if kind == "integer":
            fractional = numbers.notna() & (np.floor(numbers) != numbers)
            bad |= fractional
            numbers = numbers.where(~fractional)
            # Whole numbers stay int64 unless a value is missing (then float64 with NaN, which
            # every scikit-learn step accepts, unlike pandas' nullable Int64).
            return (numbers.astype("int64") if numbers.notna().all() else numbers.astype(float)), bad
        return numbers.astype(float), bad
    if kind == "boolean":
        mapped = series.map(lambda v: v if isinstance(v, bool) else _BOOLEANS.get(str(v).strip().lower()))
        bad = present & mapped.isna()
        return (mapped.astype(bool) if mapped.notna().all() else mapped.astype(float)), bad
    if kind == "string":
        return series.where(present).astype(object).where(present, None), pd.Series(False, index=series.index)
    return series, pd.Series(False, index=series.index)


def validate(
    frame: pd.DataFrame, schema: Schema, max_examples: int = 3
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check `frame` against `schema`: returns the table with declared types and the report.

    Missing columns and an empty table fail at once (ComponentError); value violations are
    counted per column and fail only above `schema.max_violation_rate` (see `check`).
    """
    if frame.empty:
        raise ComponentError("dataset is empty; it needs a header row and at least one data row")
    require_columns(frame, [rule.name for rule in schema.columns], "dataset (declared in the schema)")
    typed = frame.copy()
    reports = []
    for rule in schema.columns:
        column = frame[rule.name]
        values, wrong = _typed(column, rule.type)
        missing = _missing(column)
        report = ColumnReport(column=rule.name, rows=len(frame), wrong_type=int(wrong.sum()))
        violating = wrong.copy()
        if not rule.nullable:
            report.missing = int(missing.sum())
            violating |= missing
        numeric = pd.to_numeric(values, errors="coerce") if rule.type in ("integer", "number") else None
        if numeric is not None and rule.min is not None:
            low = numeric < rule.min
            report.below_min = int(low.sum())
            violating |= low.fillna(False).astype(bool)
        if numeric is not None and rule.max is not None:
            high = numeric > rule.max
            report.above_max = int(high.sum())
            violating |= high.fillna(False).astype(bool)
        if rule.allowed is not None:
            allowed = {str(v) for v in rule.allowed}
            outside = ~missing & ~wrong & ~column.astype(str).isin(allowed)
            report.not_allowed = int(outside.sum())
            violating |= outside
        report.violating_rows = int(violating.sum())
        report.examples = [str(v) for v in column[violating & ~missing].head(max_examples)]
        reports.append(report)
        typed[rule.name] = values
    return typed, ValidationReport(
        rows=len(frame), columns=reports, max_violation_rate=schema.max_violation_rate
    )


def check(report: ValidationReport) -> None:
    """Fail (ComponentError) when a column's violating share is above the schema's threshold."""
    failing = report.failing
    if failing:
        worst = ", ".join(
            f"'{c.column}' {c.rate:.1%} ({c.violating_rows} rows, e.g. {', '.join(c.examples) or 'missing values'})"
            for c in sorted(failing, key=lambda c: -c.rate)
        )
        raise ComponentError(
            f"schema violations above {report.max_violation_rate:.1%} of rows in column(s) {worst}; "
            "fix the data or relax the schema (max_violation_rate)"
        )


def basic_checks(frame: pd.DataFrame, target: str) -> None:
    """What holds for every dataset even without a declared schema."""
    if frame.empty:
        raise ComponentError("dataset is empty; it needs a header row and at least one data row")
    if target:
        require_columns(frame, [target], "dataset")


def resolve_schema(text: str, attached: str | None) -> Schema | None:
    """The schema to use: `text` (JSON or a file) if given, else the one the dataset carries."""
    if text.strip():
        return load_schema(text)
    if attached:
        return parse_schema(json.loads(attached))
    return None


def validate_table(
    frame: pd.DataFrame, schema: Schema | None, target: str = ""
) -> tuple[pd.DataFrame, ValidationReport | None]:
    """Basic checks, then (with a schema) `validate` and `check`: the typed table and the report."""
    basic_checks(frame, target)
    if schema is None:
        return frame, None
    typed, report = validate(frame, schema)
    check(report)
    return typed, report
