"""One drift check from a request log: windows, files written, gauges, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.monitoring.core import check_drift, parse_window
from iml4e_components.serving.request_log import RequestLogWriter


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("1.5h", 5400), ("2d", 172800)])
def test_windows_are_durations(text: str, seconds: float) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["all", None, ""])
def test_no_window_means_the_whole_log(text: str | None) -> None:
    assert parse_window(text) is None


@pytest.mark.parametrize("text", ["soon", "10", "-1h", "0m"])
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(ComponentError, match="not a duration"):
        parse_window(text)


def _log(home: Path, ts: float, income: np.ndarray) -> None:  # type: ignore[type-arg]
    writer = RequestLogWriter(home, "m")
    writer.offer("v1", {"income": income, "age": np.full(len(income), 40)}, np.zeros(len(income)), ts)
    writer.close()


def test_check_writes_report_summary_and_gauges(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"income": rng.normal(0, 1, 300), "age": rng.integers(20, 60, 300), "other": 1})
    _log(tmp_path, 1_000.0, rng.normal(3, 1, 100))  # old, drifted
    _log(tmp_path, 10_000.0, rng.normal(0, 1, 100))  # recent, like the reference
    everything = check_drift(tmp_path, "m", reference, now=10_050.0)
    assert everything.result.rows_compared == 200 and everything.result.features["income"].drifted
    recent = check_drift(tmp_path, "m", reference, window_seconds=3600, now=10_050.0)
    assert recent.result.rows_compared == 100 and not recent.result.features["income"].drifted
    assert set(recent.result.features) == {"income", "age"}
    summary = json.loads(recent.summary.read_text())
    assert summary["rows_compared"] == 100 and summary["report"] == str(recent.report)
    assert recent.report.is_file() and recent.report.parent == tmp_path / "monitoring" / "m"
    assert 'iml4e_drift_rows_compared{model="m"} 100.0' in recent.metrics_file.read_text()


def test_a_window_with_too_few_rows_is_refused(tmp_path: Path) -> None:
    _log(tmp_path, 1_000.0, np.array([1.0, 2.0]))
    with pytest.raises(ComponentError, match="only 0 logged rows"):
        check_drift(tmp_path, "m", pd.DataFrame({"income": [1.0, 2.0], "age": [1, 2]}), 60, now=50_000.0)


def test_reference_without_shared_columns_is_refused(tmp_path: Path) -> None:
    _log(tmp_path, 1_000.0, np.array([1.0, 2.0]))
    with pytest.raises(ComponentError, match="shares no column"):
        check_drift(tmp_path, "m", pd.DataFrame({"x": [1, 2]}))


def test_a_round_checks_every_model_and_a_failing_one_does_not_stop_the_others(tmp_path: Path) -> None:
    from iml4e_components.monitoring.core import monitor_round, parse_watch
    from iml4e_components.monitoring.prometheus import DriftGauges

    rng = np.random.default_rng(1)
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"income": rng.normal(0, 1, 200), "age": rng.integers(20, 60, 200)}).to_csv(
        reference, index=False
    )
    _log(tmp_path, 1_000.0, rng.normal(0, 1, 50))
    failures: list[tuple[str, str]] = []
    watched = parse_watch([f"m={reference}", f"never-served={reference}"])
    gauges = DriftGauges()
    checks = monitor_round(
        tmp_path, watched, {}, None, gauges, None, lambda model, exc: failures.append((model, str(exc)))
    )
    assert [check.model for check in checks] == ["m"]
    assert failures and failures[0][0] == "never-served" and "no request log" in failures[0][1]
    assert gauges.registry.get_sample_value("iml4e_drift_rows_compared", {"model": "m"}) == 50


@pytest.mark.parametrize(
    ("items", "message"),
    [(["churn"], "is not NAME=REFERENCE"), (["a=x.csv", "a=y.csv"], "twice"), ([], "no model to monitor")],
)
def test_bad_watch_lists_are_refused(items: list[str], message: str) -> None:
    from iml4e_components.monitoring.core import parse_watch

    with pytest.raises(ComponentError, match=message):
        parse_watch(items)


def test_the_monitor_entry_refuses_bad_input_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from iml4e_components.monitoring.__main__ import main

    assert main(["--watch", "churn", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --watch 'churn' is not NAME=REFERENCE")
