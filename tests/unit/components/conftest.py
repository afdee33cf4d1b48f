"""Small deterministic tables shared by the component core tests."""

from __future__ import annotations

import pandas as pd
import pytest

from iml4e_components.datasets.core import generate_churn


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    return generate_churn(n_rows=400, seed=3)
