"""Small deterministic tables shared by the component core tests."""

from __future__ import annotations

import pandas as pd
import pytest

from iml4e_components.datasets.core import generate_churn


@pytest.fixture(autouse=True)
def run_in_tmp_path(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """MLflow's sqlite stores default their artifacts to ./mlruns: keep that out of the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    return generate_churn(n_rows=400, seed=3)
