from __future__ import annotations

import pytest

from iml4e_components.datasets.core import (
    CHURN_SCHEMA,
    generate_dirty_churn,
    load_sample,
    load_table,
    sample_schema,
)
from iml4e_components.errors import ComponentError


def test_dirty_sample_corrupts_a_few_feature_cells_and_keeps_the_truth() -> None:
    pytest.importorskip("iml4e_components.error_detection.injection")  # the error generator (its own issue)
    dirty, clean = generate_dirty_churn(n_rows=500, seed=2)
    changed = (dirty.astype(str) != clean.astype(str)).to_numpy().sum()
    cells = 500 * 6
    assert 0.01 * cells < changed < 0.06 * cells
    assert dirty["churned"].equals(clean["churned"]) and dirty["customer_id"].equals(clean["customer_id"])
    again, _ = generate_dirty_churn(n_rows=500, seed=2)
    assert again.equals(dirty)


def test_samples_carry_their_schema() -> None:
    frame, truth = load_sample("sample:churn")
    assert truth is None and len(frame) == 2000
    assert sample_schema("sample:churn-dirty") is CHURN_SCHEMA and sample_schema("/data/x.csv") is None


def test_unknown_sample_and_missing_file_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ComponentError, match="unknown sample dataset 'sample:iris'"):
        load_table("sample:iris")
    with pytest.raises(ComponentError, match="dataset file not found"):
        load_table(str(tmp_path / "nope.csv"))
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    with pytest.raises(ComponentError, match="empty"):
        load_table(str(empty))
