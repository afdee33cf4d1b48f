"""The error generator: corrupt a clean table with known errors (for testing pipelines and for the
default knowledge base).

Kinds: `typo` (one character substituted, inserted, deleted or transposed), `missing` (empty cell),
`placeholder` (N/A, NULL, ?, ...), `format` (same value written differently: case, spacing, separators,
decimals, units), `outlier` (numbers scaled far out of range; typos for text), `swap` (the value of
another column of the same row), `rule` (a value of the same column taken from another row, which
breaks functional dependencies such as zip -> city).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from iml4e_components.error_detection.tables import as_string_frame
from iml4e_components.errors import ComponentError

ERROR_KINDS = ("typo", "missing", "placeholder", "format", "outlier", "swap", "rule")
_PLACEHOLDER_VALUES = ("N/A", "NULL", "?", "-", "unknown", "none", "empty", "n/a", "NaN")
_UNITS = (" kg", " oz", " %", " USD", " units")

Corrupt = Callable[[str, int, int, np.random.Generator], str]


def _typo(value: str, row: int, column: int, rng: np.random.Generator) -> str:
    if not value:
        return rng.choice(list(string.ascii_lowercase))  # type: ignore[no-any-return]  # numpy types choice() as Any
    position = int(rng.integers(len(value)))
    original = value[position]
    if original.isdigit():
        pool = string.digits
    elif original.isupper():
        pool = string.ascii_uppercase
    else:
        pool = string.ascii_lowercase
    replacement = str(rng.choice([c for c in pool if c != original] or list(pool)))
    operation = int(rng.integers(4))
    if operation == 0 or len(value) < 2:
        return value[:position] + replacement + value[position + 1 :]
    if operation == 1:
        return value[:position] + replacement + value[position:]
    if operation == 2:
        return value[:position] + value[position + 1 :]
    position = min(position, len(value) - 2)
    return value[:position] + value[position + 1] + value[position] + value[position + 2 :]


def _missing(value: str, row: int, column: int, rng: np.random.Generator) -> str:
    return ""


def _placeholder(value: str, row: int, column: int, rng: np.random.Generator) -> str:
    return str(rng.choice(_PLACEHOLDER_VALUES))


def _as_number(value: str) -> float | None:
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _format(value: str, row: int, column: int, rng: np.random.Generator) -> str:
    number = _as_number(value)
    options: list[str] = []
    if number is not None:
        options += [f"{number:.1f}", f"{number:,.2f}", value + str(rng.choice(_UNITS)), f"{number:.3e}"]
    if any(c.isalpha() for c in value):
        options += [value.upper(), value.lower(), value.title(), value.replace(" ", "_")]
    for old, new in (("-", "/"), ("/", "-"), (":", "."), (".", ","), (" ", "  ")):
        if old in value:
            options.append(value.replace(old, new))
    options += [f" {value}", f"{value} ", f'"{value}"']
    changed = [o for o in options if o != value]
    return str(rng.choice(changed))


def _outlier(value: str, row: int, column: int, rng: np.random.Generator) -> str:
    number = _as_number(value)
    if number is None:
        return _typo(value, row, column, rng)
    factor = float(rng.choice([10.0, 100.0, 1000.0, -1.0, 0.01]))
    scaled = number * factor if number != 0 else float(rng.integers(1000, 100000))
    decimals = len(value.split(".")[1]) if "." in value else 0
    return f"{scaled:.{decimals}f}"


def inject_errors(
    clean: pd.DataFrame, rate: float, kinds: Sequence[str], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (dirty, mask): a copy of `clean` (as strings) with about `rate` of its cells corrupted.

    Cells are picked uniformly at random and each gets one of `kinds` (uniformly); `mask` is a boolean
    frame that is True exactly where dirty differs from clean. Deterministic given `seed`.
    """
    unknown = sorted(set(kinds) - set(ERROR_KINDS))
    if unknown or not kinds:
        raise ComponentError(
            f"unknown error kinds {unknown or '(none given)'}; choose from {', '.join(ERROR_KINDS)}"
        )
    if not 0.0 < rate <= 1.0:
        raise ComponentError(f"error rate must be in (0, 1], got {rate}; for example --rate 0.05")
    table = as_string_frame(clean)
    if table.empty:
        raise ComponentError("the clean table is empty; it needs at least one row and one column")
    values = table.to_numpy(dtype=object)
    original = values.copy()
    n_rows, n_columns = values.shape
    rng = np.random.default_rng(seed)
    n_errors = max(1, round(rate * n_rows * n_columns))
    cells = rng.choice(n_rows * n_columns, size=n_errors, replace=False)
    chosen_kinds = rng.integers(len(kinds), size=n_errors)
    corrupt: dict[str, Corrupt] = {
        "typo": _typo,
        "missing": _missing,
        "placeholder": _placeholder,
        "format": _format,
        "outlier": _outlier,
    }
    for cell, kind_index in zip(cells.tolist(), chosen_kinds.tolist(), strict=True):
        row, column = divmod(cell, n_columns)
        value = str(original[row, column])
        kind = kinds[kind_index]
        if kind == "swap" and n_columns > 1:
            other = int(rng.integers(n_columns - 1))
            new = str(original[row, other if other < column else other + 1])
        elif kind == "rule" and n_rows > 1:
            other = int(rng.integers(n_rows - 1))
            new = str(original[other if other < row else other + 1, column])
        elif kind in corrupt:
            new = corrupt[kind](value, row, column, rng)
        else:
            new = value
        if new == value:
            new = _typo(value, row, column, rng)
        values[row, column] = new
    dirty = pd.DataFrame(values, columns=table.columns)
    mask = pd.DataFrame(values != original, columns=table.columns)
    return dirty, mask
