"""A real local Feast repo (local provider, file offline store, sqlite online store) in tmp_path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FEATURE_STORE_YAML = """\
project: unit_customers
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

FEATURES_PY = """\
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64, Int64
from feast.value_type import ValueType

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
source = FileSource(path="data/customer_stats.parquet", timestamp_field="event_timestamp")
customer_stats = FeatureView(
    name="customer_stats",
    entities=[customer],
    ttl=timedelta(days=60),
    schema=[Field(name="tenure", dtype=Int64), Field(name="spend", dtype=Float64)],
    source=source,
)
churn_features = FeatureService(name="churn_features", features=[customer_stats])
"""

#: Day 0 of the synthetic history; customer c on day d has tenure 10*c + d and spend c + d/100.
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def feature_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML)
    (repo / "features.py").write_text(FEATURES_PY)
    rows = [(c, d) for c in range(4) for d in range(30)]
    pd.DataFrame(
        {
            "customer_id": np.array([c for c, _ in rows], dtype="int64"),
            "event_timestamp": [DAY0 + timedelta(days=d) for _, d in rows],
            "tenure": np.array([10 * c + d for c, d in rows], dtype="int64"),
            "spend": [c + d / 100 for c, d in rows],
        }
    ).to_parquet(repo / "data" / "customer_stats.parquet", index=False)
    return repo
