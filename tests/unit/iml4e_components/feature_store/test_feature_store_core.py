"""Feature store core against a real local Feast repo: apply, materialize, point-in-time and online reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.feature_store import core

from .conftest import DAY0


def entities(days: list[int], customers: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": customers,
            "event_timestamp": [DAY0 + timedelta(days=d, hours=12) for d in days],
            "churned": [c % 2 for c in customers],
        }
    )


def test_training_features_are_point_in_time_correct(feature_repo: Path) -> None:
    core.apply_feature_repo(feature_repo)
    table = core.get_training_features(
        feature_repo,
        entities([3, 20, 5], [1, 1, 2]),
        features=["customer_stats:tenure", "customer_stats:spend"],
    )
    table = table.sort_values(["customer_id", "event_timestamp"]).reset_index(drop=True)
    # Each row sees the value of its own day, never a later one; the label column is kept.
    assert table["tenure"].tolist() == [13, 30, 25]
    assert table["spend"].round(2).tolist() == [1.03, 1.20, 2.05]
    assert table["churned"].tolist() == [1, 1, 0]


def test_feature_service_selects_its_views(feature_repo: Path) -> None:
    core.apply_feature_repo(feature_repo)
    table = core.get_training_features(feature_repo, entities([10], [3]), feature_service="churn_features")
    assert {"tenure", "spend"} <= set(table.columns)
    assert table["tenure"].tolist() == [40]


def test_materialize_then_online_read_returns_latest_values(feature_repo: Path) -> None:
    result = core.materialize_features(feature_repo, start_date="2025-12-01", end_date="2026-02-01")
    assert result.feature_views == ["customer_stats"]
    assert result.online_store == "sqlite"
    assert (feature_repo / "data" / "online.db").is_file()
    online = core.get_online_features(
        feature_repo, [{"customer_id": 0}, {"customer_id": 2}], features=["customer_stats:tenure"]
    )
    assert online.set_index("customer_id")["tenure"].to_dict() == {0: 29, 2: 49}


def test_materialize_window_excludes_later_rows(feature_repo: Path) -> None:
    core.materialize_features(feature_repo, start_date="2025-12-01", end_date="2026-01-05T12:00:00")
    online = core.get_online_features(feature_repo, [{"customer_id": 1}], features=["customer_stats:tenure"])
    assert online["tenure"].tolist() == [14]


def test_missing_repo_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match=r"feature repo not found: .*nowhere"):
        core.open_feature_store(tmp_path / "nowhere")
    with pytest.raises(ComponentError, match=r"no feature_store.yaml"):
        core.open_feature_store(tmp_path)


def test_override_yaml_from_environment(feature_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(core.FS_YAML_ENV, str(feature_repo / "absent.yaml"))
    with pytest.raises(ComponentError, match=f"{core.FS_YAML_ENV}=.*absent.yaml"):
        core.open_feature_store(feature_repo)
    other = feature_repo / "other.yaml"
    other.write_text(
        (feature_repo / "feature_store.yaml").read_text().replace("unit_customers", "other_project")
    )
    monkeypatch.setenv(core.FS_YAML_ENV, str(other))
    assert core.open_feature_store(feature_repo).project == "other_project"


def test_bad_inputs_name_the_column_or_feature(feature_repo: Path) -> None:
    core.apply_feature_repo(feature_repo)
    good = entities([3], [1])
    with pytest.raises(ComponentError, match=r"join key column.*customer_id"):
        core.get_training_features(
            feature_repo, good.drop(columns="customer_id"), features=["customer_stats:tenure"]
        )
    with pytest.raises(ComponentError, match=r"no 'event_timestamp' column"):
        core.get_training_features(
            feature_repo, good.drop(columns="event_timestamp"), features=["customer_stats:tenure"]
        )
    with pytest.raises(ComponentError, match=r"entity table is empty"):
        core.get_training_features(feature_repo, good.iloc[0:0], features=["customer_stats:tenure"])
    with pytest.raises(ComponentError, match=r"unknown feature view 'nope'"):
        core.get_training_features(feature_repo, good, features=["nope:tenure"])
    with pytest.raises(ComponentError, match=r"has no feature 'age'; it has: tenure, spend"):
        core.get_training_features(feature_repo, good, features=["customer_stats:age"])
    with pytest.raises(ComponentError, match=r"malformed feature reference"):
        core.get_training_features(feature_repo, good, features=["tenure"])
    with pytest.raises(ComponentError, match=r"either features .* or feature_service"):
        core.get_training_features(feature_repo, good)
    with pytest.raises(ComponentError, match=r"unknown feature service 'nope'"):
        core.get_training_features(feature_repo, good, feature_service="nope")


def test_materialize_bad_arguments(feature_repo: Path) -> None:
    with pytest.raises(ComponentError, match=r"unknown feature view.*missing_view.*customer_stats"):
        core.materialize_features(feature_repo, feature_views=["missing_view"])
    with pytest.raises(ComponentError, match=r"end_date 'yesterday' is not an ISO date"):
        core.materialize_features(feature_repo, end_date="yesterday")
    with pytest.raises(ComponentError, match=r"is not before end_date"):
        core.materialize_features(feature_repo, start_date="2026-02-01", end_date="2026-01-01")


def test_repo_without_feature_views_is_rejected(feature_repo: Path) -> None:
    (feature_repo / "features.py").write_text("x = 1\n")
    with pytest.raises(ComponentError, match=r"defines no FeatureView"):
        core.apply_feature_repo(feature_repo)
