"""Drift with real Evidently on small seeded tables, and its Prometheus export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from iml4e_components.errors import ComponentError
from iml4e_components.monitoring import compute_drift
from iml4e_components.monitoring.prometheus import DriftGauges


def _table(rows: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.normal(50 + shift * 20, 10, rows),
            "age": rng.integers(18, 80, rows),
            "region": rng.choice(["north", "south"], rows, p=[0.5 + shift * 0.4, 0.5 - shift * 0.4]),
        }
    )


def test_same_distribution_shows_no_drift() -> None:
    result = compute_drift(_table(400, 0.0, 1), _table(300, 0.0, 2))
    assert not result.dataset_drift
    assert result.drifted_features == []
    assert set(result.features) == {"income", "age", "region"}
    assert result.rows_compared == 300
    assert all(f.p_value is not None and f.p_value > 0.05 for f in result.features.values())


def test_shifted_columns_are_flagged() -> None:
    result = compute_drift(_table(400, 0.0, 1), _table(300, 1.0, 2))
    assert result.features["income"].drifted
    assert result.features["region"].drifted
    assert not result.features["age"].drifted
    assert result.drift_share == pytest.approx(2 / 3)
    assert result.dataset_drift
    data = result.as_dict()
    assert data["drifted_features"] == ["income", "region"]
    assert data["features"]["income"]["p_value"] < 0.05


def test_large_tables_use_distances_without_p_values() -> None:
    result = compute_drift(_table(3000, 0.0, 1), _table(3000, 1.0, 2), columns=["income"])
    feature = result.features["income"]
    assert "Wasserstein" in feature.method
    assert feature.p_value is None
    assert feature.drifted and feature.score >= feature.threshold


def test_a_small_window_against_a_large_reference_uses_p_values() -> None:
    result = compute_drift(_table(3000, 0.0, 1), _table(40, 0.0, 2))
    assert all(f.p_value is not None for f in result.features.values())
    assert not result.dataset_drift


def test_sampling_caps_the_rows_tested() -> None:
    result = compute_drift(_table(500, 0.0, 1), _table(2000, 0.0, 2), max_rows=300)
    assert result.rows_compared == 2000
    assert result.rows_tested == 300


def test_html_report_is_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = compute_drift(_table(200, 0.0, 1), _table(200, 1.0, 2))
    path = result.write_html(tmp_path / "out" / "drift.html")
    assert (
        path.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
        or "<html" in path.read_text()
    )
    assert [p.name for p in path.parent.iterdir()] == ["drift.html"]  # no temporary file left


@pytest.mark.parametrize(
    ("columns", "message"),
    [(["missing"], "lacks columns ['missing']"), ([], "columns is empty")],
)
def test_bad_columns_are_refused(columns: list[str], message: str) -> None:
    with pytest.raises(ComponentError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compute_drift(_table(50, 0, 1), _table(50, 0, 2), columns=columns)


def test_too_few_rows_are_refused() -> None:
    with pytest.raises(ComponentError, match="current table has 1 rows"):
        compute_drift(_table(50, 0, 1), _table(1, 0, 2))


def test_gauges_export_every_figure() -> None:
    result = compute_drift(_table(400, 0.0, 1), _table(300, 1.0, 2))
    gauges = DriftGauges(CollectorRegistry())
    gauges.update("churn", result, finished_at=1234.0)
    from prometheus_client import generate_latest

    families = {f.name: f for f in text_string_to_metric_families(generate_latest(gauges.registry).decode())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    assert samples[("iml4e_drift_share_drifted_features", (("model", "churn"),))] == pytest.approx(2 / 3)
    assert samples[("iml4e_drift_dataset_drift", (("model", "churn"),))] == 1.0
    assert samples[("iml4e_drift_rows_compared", (("model", "churn"),))] == 300
    assert samples[("iml4e_drift_last_run_timestamp_seconds", (("model", "churn"),))] == 1234.0
    income = (("feature", "income"), ("model", "churn"))
    assert samples[("iml4e_drift_feature_drifted", income)] == 1.0
    assert samples[("iml4e_drift_feature_p_value", income)] == result.features["income"].p_value
    assert samples[("iml4e_drift_feature_score", (("feature", "age"), ("model", "churn")))] > 0.05


def test_textfile_is_prometheus_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = compute_drift(_table(100, 0.0, 1), _table(100, 0.0, 2))
    gauges = DriftGauges(CollectorRegistry())
    gauges.update("m", result)
    path = gauges.write_textfile(tmp_path / "drift.prom")
    names = {f.name for f in text_string_to_metric_families(path.read_text())}
    assert {"iml4e_drift_feature_score", "iml4e_drift_dataset_drift", "iml4e_drift_rows_compared"} <= names
