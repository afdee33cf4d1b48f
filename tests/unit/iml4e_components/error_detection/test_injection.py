from __future__ import annotations

import pandas as pd
import pytest

from iml4e_components.error_detection.injection import ERROR_KINDS, inject_errors
from iml4e_components.error_detection.synthetic_tables import SYNTHETIC_TABLES, generate_table
from iml4e_components.errors import ComponentError


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_each_kind_changes_exactly_the_masked_cells(kind: str) -> None:
    clean = generate_table("products", 200, 1)
    dirty, mask = inject_errors(clean, 0.05, [kind], seed=4)
    assert (dirty.to_numpy(dtype=str) != clean.to_numpy(dtype=str)).tolist() == mask.to_numpy().tolist()
    assert 0.04 * clean.size <= mask.to_numpy().sum() <= 0.05 * clean.size + 1


def test_injection_is_deterministic_by_seed() -> None:
    clean = generate_table("people", 100, 2)
    first, _ = inject_errors(clean, 0.1, list(ERROR_KINDS), seed=9)
    again, _ = inject_errors(clean, 0.1, list(ERROR_KINDS), seed=9)
    other, _ = inject_errors(clean, 0.1, list(ERROR_KINDS), seed=10)
    assert first.equals(again)
    assert not first.equals(other)


def test_non_string_input_is_read_as_strings() -> None:
    dirty, mask = inject_errors(
        pd.DataFrame({"a": [1, 2, 3, 4], "b": [0.5, 1.5, 2.5, 3.5]}), 0.25, ["missing"], seed=1
    )
    assert mask.to_numpy().sum() == 2
    assert set(dirty.to_numpy().ravel()) <= {"1", "2", "3", "4", "0.5", "1.5", "2.5", "3.5", ""}


def test_bad_kinds_and_rates_are_refused() -> None:
    clean = generate_table("people", 20, 0)
    with pytest.raises(ComponentError, match="unknown error kinds"):
        inject_errors(clean, 0.1, ["typo", "gremlins"], seed=0)
    with pytest.raises(ComponentError, match="rate"):
        inject_errors(clean, 1.5, ["typo"], seed=0)


@pytest.mark.parametrize("name", sorted(SYNTHETIC_TABLES))
def test_synthetic_tables_are_deterministic_strings(name: str) -> None:
    table = generate_table(name, 50, 5)
    assert table.equals(generate_table(name, 50, 5))
    assert all(isinstance(v, str) for v in table.to_numpy().ravel())
