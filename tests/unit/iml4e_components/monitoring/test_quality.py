"""Late labels: the CSV is checked before anything is stored, joined with logged rows by request id and row."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iml4e_components.errors import ComponentError
from iml4e_components.monitoring.core import check_drift
from iml4e_components.monitoring.quality import compute_quality, label_lines_from_csv, labels_from_lines
from iml4e_components.serving.log_store import LocalLogStore
from iml4e_components.serving.request_log import RequestLogWriter


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_labels_are_keyed_by_request_and_row_and_later_ones_win(tmp_path: Path) -> None:
    first = label_lines_from_csv(_csv(tmp_path, "request_id,label,row\na,1,0\na,0,1\nb,yes,0\n"))
    second = label_lines_from_csv(_csv(tmp_path, "request_id,label\nb,no\n"))
    table = labels_from_lines((first + second + b'{"request_id": "c"').splitlines())
    assert sorted(map(tuple, table.to_numpy().tolist())) == [("a", 0, "1"), ("a", 1, "0"), ("b", 0, "no")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,label\nx,1\n", r"lacks columns \['request_id'\]"),
        ("request_id,label,extra\nx,1,2\n", r"unknown columns \['extra'\]"),
        ("request_id,label\n", "holds no labels"),
        (
            "request_id,label,row\nx,1,-1\ny,1,1.5\n",
            r"row must be a whole number from 0 to 1,000,000,000 \(CSV lines \[2, 3\]\)",
        ),
        ("request_id,label\nx,\n", r"empty on CSV lines \[2\]"),
    ],
)
def test_bad_label_files_are_refused_with_the_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComponentError, match=message):
        label_lines_from_csv(_csv(tmp_path, text))


def test_a_missing_label_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match="does not exist; give a CSV with columns request_id,label"):
        label_lines_from_csv(tmp_path / "absent.csv")


def _serve_log(home: Path) -> None:
    writer = RequestLogWriter(home, "m")
    rng = np.random.default_rng(3)
    for i in range(20):  # two rows per request, predictions 0/1 alternate
        writer.offer("v1", {"income": rng.normal(0, 1, 2)}, np.array([0, 1]), 1_000.0 + i, f"req-{i}")
    writer.close()


def test_quality_is_computed_on_labeled_rows_only(tmp_path: Path) -> None:
    _serve_log(tmp_path)
    store = LocalLogStore(tmp_path)
    logged = store.read_requests("m")
    assert compute_quality(logged, labels_from_lines([])) is None
    # 10 requests labeled: row 0 truly 0 (right), row 1 truly 0 for the first 5 (wrong), 1 after.
    lines = "".join(f"req-{i},0,0\nreq-{i},{0 if i < 5 else 1},1\n" for i in range(10))
    store.add_labels("m", label_lines_from_csv(_csv(tmp_path, "request_id,label,row\n" + lines)))
    quality = compute_quality(logged, labels_from_lines(store.label_lines("m")))
    assert quality is not None
    assert quality.labeled_rows == 20 and quality.accuracy == pytest.approx(15 / 20)
    assert quality.classes == ["0", "1"]
    # class 1: predicted 10 times, right 5 times, truly 1 in 5 rows -> precision 0.5, recall 1, F1 2/3;
    # macro averaging would give (0.8 + 0.667) / 2 = 0.733 instead
    assert (quality.averaging, quality.positive_class) == ("binary", "1")
    assert (quality.precision, quality.recall) == (pytest.approx(0.5), pytest.approx(1.0))
    assert quality.f1 == pytest.approx(2 / 3) and quality.f1_name == "F1 of class '1'"


def test_three_classes_are_macro_averaged(tmp_path: Path) -> None:
    logged = pd.DataFrame(
        {"request_id": ["a", "a", "a", "b"], "request_row": [0, 1, 2, 0], "prediction": ["x", "y", "z", "x"]}
    )
    labels = pd.DataFrame(
        {"request_id": ["a", "a", "a", "b"], "request_row": [0, 1, 2, 0], "label": ["x", "y", "y", "z"]}
    )
    quality = compute_quality(logged, labels)
    assert quality is not None and quality.averaging == "macro" and quality.positive_class is None
    # per class F1: x 2/3, y 2/3, z 0
    assert quality.f1 == pytest.approx((2 / 3 + 2 / 3 + 0) / 3) and quality.f1_name == "macro F1"


def test_the_check_reports_quality_in_json_html_and_gauges(tmp_path: Path) -> None:
    _serve_log(tmp_path)
    store = LocalLogStore(tmp_path)
    store.add_labels(
        "m", label_lines_from_csv(_csv(tmp_path, "request_id,label,row\nreq-1,0,0\nreq-1,0,1\n"))
    )
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"income": rng.normal(0, 1, 100), "defaulted": rng.integers(0, 2, 100)})
    check = check_drift(tmp_path, "m", reference, now=2_000.0)
    assert check.quality is not None and check.quality.accuracy == 0.5
    assert check.quality_report is not None and "<!DOCTYPE html>" in check.quality_report.read_text()
    # the page names the labels by the reference's target column, not a placeholder
    page = check.quality_report.read_text()
    assert "defaulted" in page and html.escape("F1 of class '1'") in page
    assert 'iml4e_quality_accuracy{model="m"} 0.5' in check.metrics_file.read_text()
    assert 'iml4e_quality_labeled_rows{model="m"} 2.0' in check.metrics_file.read_text()


def test_cli_stores_labels_and_refuses_a_bad_file_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iml4e.cli.app import app

    monkeypatch.setenv("IML4E_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("IML4E_REQUEST_LOG_BUCKET", raising=False)
    good = _csv(tmp_path, "request_id,label\nreq-1,1\nreq-2,0\n")
    result = CliRunner().invoke(app, ["label", "models:/churn@champion", "--labels", str(good), "--json"])
    assert result.exit_code == 0, result.output
    assert '"labels": 2' in result.stdout
    assert len(list((tmp_path / "home" / "serving" / "churn").glob("labels-*.jsonl"))) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("request,label\nx,1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["label", "models:/churn@champion", "--labels", str(bad)])
    assert result.exit_code == 2
    assert "lacks columns ['request_id']" in result.stderr and "Traceback" not in result.output
    assert len(list((tmp_path / "home" / "serving" / "churn").glob("labels-*"))) == 1  # nothing partial


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # pandas took the surplus first field as the index: request_id 'yes', label '0', exit 0
        ("request_id,label\nreq-1,yes,0\n", "line 2 has 3 fields, the header 2"),
        ("request_id,label,row\nreq-1,1,0\nreq-2,0,1,9\nreq-3,1,0\n", "line 3 has 4 fields, the header 3"),
        ("request_id,label,row\nreq-1,1,0\nreq-2,0\n", "line 3 has 2 fields, the header 3"),
        ("request_id,label,row\nreq-1,1,100000000000000000000000\n", "row must be a whole number from 0 to"),
        ("request_id,label,row\nreq-1,1,1e23\n", "row must be a whole number from 0 to"),
    ],
    ids=["one-extra-field", "extra-field-among-good-rows", "missing-field", "row-10^23", "row-1e23"],
)
def test_cli_refuses_ragged_rows_and_huge_row_numbers_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    from iml4e.cli.app import app

    monkeypatch.setenv("IML4E_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("IML4E_REQUEST_LOG_BUCKET", raising=False)
    result = CliRunner().invoke(
        app, ["label", "models:/churn@champion", "--labels", str(_csv(tmp_path, text))]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "unexpected" not in lines[0]
    assert not list((tmp_path / "home").rglob("labels-*"))  # nothing stored, nothing shifted
