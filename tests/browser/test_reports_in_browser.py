"""Every HTML report iml4e writes, made as a user makes it and opened in headless Chromium: it draws,
requests nothing beyond its own file, logs no console error, and shows its key text whole.

Reports and the code that writes them (each test names the command a user runs):
- methodology report: `iml4e assess --report` (iml4e.methodology.report_html)
- model card: `iml4e card render -o card.html`; the training pipeline logs the same page to MLflow
  (iml4e_components.model_card.render.render_html)
- lineage graph: `iml4e lineage show`; `iml4e lineage export` puts the same page in its bundle
  (iml4e_components.lineage.picture.graph_html)
- error detection report: `iml4e detect --report`; the detect_errors component writes the same page
  (iml4e_components.error_detection.report.render_report)
- drift and quality reports: `iml4e monitor --once`; the in-cluster monitor writes the same pages
  (iml4e_components.monitoring.core.check_drift, Evidently)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ANSWERS = REPO / "examples" / "assessment" / "answers.yaml"

OpenReport = Callable[..., Any]


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_methodology_report(open_report: OpenReport, tmp_path: Path) -> None:
    report = tmp_path / "assessment.html"
    _invoke("assess", "--answers", str(EXAMPLE_ANSWERS), "--report", str(report))
    data = json.loads(_invoke("assess", "--answers", str(EXAMPLE_ANSWERS), "--json"))
    overall = data["overall"]
    expect = [
        f"Overall level {overall['level']}: {overall['level_name']}",
        "Roadmap",
        *(f"{area['name']}" for area in data["areas"]),
        *(f"{area['level']} ({area['level_name']})" for area in data["areas"]),
        # the radar chart's axis labels, whole
        *(f"{area['id'].capitalize()} ({area['level']})" for area in data["areas"]),
    ]
    shown = open_report(report, expect)
    shown.assert_renders_offline(expect)
    assert shown.title == "iml4e MLOps maturity assessment"
    assert shown.clipped_labels == []


def test_model_card(open_report: OpenReport, complete_card: Any, tmp_path: Path) -> None:
    from iml4e_components.model_card.card import write_card

    complete_card.quantitative_analysis.evaluated_at = datetime.now(UTC)
    card = write_card(complete_card, tmp_path / "card.json")
    page = tmp_path / "card.html"
    _invoke("card", "render", str(card), "-o", str(page), "--spec", "default")
    expect = [
        "Model card: churn-classifier",
        "version 3",
        "0.7800",  # accuracy in the metrics table
        "0.5800",  # f1
        "0.7100",  # accuracy on the contract=month-to-month slice
        "0.780",  # the chart's bar values
        "0.710",
        "contract=month-to-month",  # the chart's slice labels, whole
        "contract=two-year",
    ]
    shown = open_report(page, expect)
    shown.assert_renders_offline(expect)
    assert shown.title == "Model card: churn-classifier"
    assert {"overall", "contract=month-to-month", "contract=two-year"} <= set(shown.svg_labels)
    assert shown.clipped_labels == []


#: The step and dataset labels of the lineage fixture: each must appear whole in the graph.
LINEAGE_LABELS = [
    "tabular_training.load_dataset",
    "tabular_training.split_dataset",
    "tabular_training.train_model",
    "tabular_training.register_model",
    "sample:churn",
    "load/dataset",
    "split/train",
    "train/model",
]


@pytest.mark.parametrize(
    ("target", "shown_too"),
    [
        ("models:/churn@champion", ["churn", "version 2"]),  # upstream: back to the raw data
        ("sample:churn", ["model churn v1", "model churn v2"]),  # downstream: every model built on it
    ],
)
def test_lineage_graph(
    open_report: OpenReport,
    lineage_runs: Any,
    target: str,
    shown_too: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from iml4e_components.lineage import resolve

    # `lineage show models:/...` asks MLflow which run made the model; answer without a server.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "unused-mlruns").as_uri())
    monkeypatch.setattr(
        resolve,
        "resolve_model",
        lambda uri: resolve.ModelRef(uri=uri, name="churn", version="2", run_id="mlflow-b"),
    )
    graph = tmp_path / "lineage.html"
    _invoke("lineage", "show", target, "--graph", str(graph))
    expect = [f"Lineage of {target}", *shown_too, *LINEAGE_LABELS]
    shown = open_report(graph, expect)
    shown.assert_renders_offline(expect)
    assert set(LINEAGE_LABELS) <= set(shown.svg_labels)  # graph labels drawn whole
    assert shown.clipped_labels == []


def test_error_detection_report(open_report: OpenReport, small_kb_file: Path, tmp_path: Path) -> None:
    from iml4e_components.error_detection.synthetic_tables import generate_table

    clean = tmp_path / "clean.csv"
    generate_table("clinics", 120, 4).to_csv(clean, index=False)
    dirty, report = tmp_path / "clinics.csv", tmp_path / "detection.html"
    _invoke(
        "errors",
        "inject",
        str(clean),
        "--rate",
        "0.05",
        "--kinds",
        "typo,missing,rule",
        "-o",
        str(dirty),
        "--seed",
        "3",
    )
    data = json.loads(
        _invoke(
            "detect",
            str(dirty),
            "--clean",
            str(clean),
            "--budget",
            "10",
            "--seed",
            "1",
            "--kb",
            str(small_kb_file),
            "--report",
            str(report),
            "--json",
        )
    )
    columns = [str(c) for c in pd.read_csv(clean, nrows=0).columns]
    expect = [
        "Error detection: clinics.csv",
        f"{data['flagged_cells']} of {data['rows'] * data['columns']} cells flagged",
        f"{data['rows']} rows x {data['columns']} columns",
        "Detection quality",
        f"{data['scores']['precision']:.3f}",
        f"{data['scores']['f1']:.3f}",
        *columns,  # the per-column table and the heatmap's column labels
    ]
    shown = open_report(report, expect)
    shown.assert_renders_offline(expect)
    assert shown.clipped_labels == []


def _serve_requests(home: Path, model: str) -> None:
    """What `iml4e serve` logs for 30 requests of two rows each, the income shifted against the reference."""
    from iml4e_components.serving.request_log import RequestLogWriter

    rng = np.random.default_rng(7)
    writer = RequestLogWriter(home, model)
    for i in range(30):
        inputs = {"income": rng.normal(2.0, 1.0, 2), "tenure": rng.integers(1, 60, 2).astype(float)}
        writer.offer("v1", inputs, np.array([0, 1]), 1_000.0 + i, f"req-{i}")
    writer.close()


def test_drift_and_quality_reports(open_report: OpenReport, isolated_state: Path, tmp_path: Path) -> None:
    _serve_requests(isolated_state, "churn")
    rng = np.random.default_rng(8)
    reference = tmp_path / "reference.csv"
    training = {"income": rng.normal(0.0, 1.0, 200), "tenure": rng.integers(1, 60, 200)}
    pd.DataFrame({**training, "churned": rng.integers(0, 2, 200)}).to_csv(reference, index=False)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "request_id,label,row\n" + "".join(f"req-{i},0,0\nreq-{i},{i % 2},1\n" for i in range(20)),
        encoding="utf-8",
    )
    _invoke("label", "models:/churn/1", "--labels", str(labels))
    data = json.loads(
        _invoke("monitor", "models:/churn/1", "--reference", str(reference), "--once", "--json")
    )
    drifted = len(data["drifted_features"])
    drift_expect = [
        "Data drift of churn",  # iml4e's header above Evidently's page
        "window: all logged requests",
        f"current rows: {data['rows_compared']} logged",
        f"reference rows: {data['reference_rows']}",
        f"columns drifted: {drifted} of 2",
        "income",  # Evidently's table, drawn by its script
        "tenure",
    ]
    shown = open_report(Path(data["report"]), drift_expect)
    shown.assert_renders_offline(drift_expect)
    assert shown.title == "Data drift of churn"

    quality = data["quality"]
    assert data["quality_report"], data
    quality_expect = [
        "Classification quality of churn",
        f"labeled rows: {quality['labeled_rows']}",
        f"accuracy: {quality['accuracy']:.3f}",
        f"F1 of class '{quality['positive_class']}': {quality['f1']:.3f}",
        "Accuracy",  # Evidently's metric tiles: the same figures, the real target name
        str(round(quality["accuracy"], 3)),
        str(round(quality["f1"], 3)),
        "churned",
    ]
    shown = open_report(Path(data["quality_report"]), quality_expect)
    shown.assert_renders_offline(quality_expect)
    assert shown.title == "Classification quality of churn"


def test_the_checks_catch_a_blank_page_a_cdn_script_and_a_console_error(
    open_report: OpenReport, tmp_path: Path
) -> None:
    page = tmp_path / "reaches-out.html"
    page.write_text(
        '<!doctype html><html><head><script src="https://cdn.example.org/lib.js"></script></head>'
        "<body><script>console.error('boom'); undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    shown = open_report(page)
    assert shown.requests == ["https://cdn.example.org/lib.js"]
    assert "boom" in shown.console_errors
    assert shown.page_errors and "undefinedFunction" in shown.page_errors[0]
    assert shown.colours < 16  # nothing drawn
    with pytest.raises(AssertionError, match="looks blank"):
        shown.assert_renders_offline([])
