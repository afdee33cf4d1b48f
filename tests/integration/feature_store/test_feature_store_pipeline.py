"""The Feast components in a real kfp.local run against a real local Feast repo (file + sqlite stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from iml4e.local.pipeline_runner import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("feature_store")]

STORE_YAML = """\
project: meters
registry: data/registry.db
provider: local
online_store: {type: sqlite, path: data/online.db}
offline_store: {type: file}
entity_key_serialization_version: 3
"""
DEFINITIONS = """\
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64
from feast.value_type import ValueType

meter = Entity(name="meter", join_keys=["meter_id"], value_type=ValueType.INT64)
meter_daily = FeatureView(
    name="meter_daily",
    entities=[meter],
    ttl=timedelta(days=7),
    schema=[Field(name="kwh", dtype=Float64)],
    source=FileSource(path="data/meter_daily.parquet", timestamp_field="event_timestamp"),
)
"""
PIPELINE = """\
from kfp import dsl

from iml4e_components.datasets.component import load_dataset
from iml4e_components.feature_store.component import get_training_features, materialize_features


@dsl.pipeline(name="feature-store-check")
def feature_store_check(repo_path: str, entities: str, features_json: str = '["meter_daily:kwh"]') -> str:
    materialized = materialize_features(repo_path=repo_path, start_date="2026-01-01", end_date="2026-01-11")
    loaded = load_dataset(source=entities)
    get_training_features(
        repo_path=repo_path, entities=loaded.outputs["dataset"], features_json=features_json
    ).after(materialized)  # the registry exists only once the repo is applied
    return materialized.output
"""
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IML4E_HOME", str(tmp_path / "home"))
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(STORE_YAML)
    (repo / "definitions.py").write_text(DEFINITIONS)
    pd.DataFrame(
        {
            "meter_id": [m for m in (1, 2) for _ in range(10)],
            "event_timestamp": [START + timedelta(days=d) for _ in (1, 2) for d in range(10)],
            "kwh": [100.0 * m + d for m in (1, 2) for d in range(10)],
        }
    ).to_parquet(repo / "data" / "meter_daily.parquet", index=False)
    pd.DataFrame(
        {"meter_id": [1, 2], "event_timestamp": ["2026-01-04T06:00:00Z"] * 2, "label": [0, 1]}
    ).to_csv(tmp_path / "entities.csv", index=False)
    (tmp_path / "check_pipeline.py").write_text(PIPELINE)
    return tmp_path


def test_pipeline_materializes_and_builds_training_table(workspace: Path) -> None:
    result = run_pipeline(
        str(workspace / "check_pipeline.py"),
        [f"repo_path={workspace / 'repo'}", f"entities={workspace / 'entities.csv'}"],
        tracking_uri="http://127.0.0.1:9",  # these components never talk to MLflow
    )
    assert result.status == "SUCCESS"
    assert result.output["feature_views"] == ["meter_daily"]
    assert (workspace / "repo" / "data" / "online.db").is_file()
    tables = list((workspace / "home" / "pipelines").rglob("training_features"))
    assert len(tables) == 1
    table = pd.read_parquet(tables[0]).sort_values("meter_id")
    assert table["kwh"].tolist() == [103.0, 203.0]  # the value of 2026-01-04, not a later one
    assert table["label"].tolist() == [0, 1]
