"""The HTML report: self-contained, with the radar chart, the roadmap and escaped content."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.methodology.answers import read_answers
from iml4e.methodology.evidence import ProbeResult
from iml4e.methodology.report_html import radar_svg, render_report
from iml4e.methodology.scoring import assess

from .conftest import EXAMPLE_ANSWERS


def test_radar_chart_has_one_axis_per_area_and_a_point_at_each_level() -> None:
    svg = radar_svg({"a": ("Alpha", 4), "b": ("Beta <x>", 0), "c": ("Gamma", 2)})
    assert svg.count("<line ") == 3
    assert svg.count("<circle ") == 3
    assert "Beta &lt;x&gt; (0)" in svg
    shape = re.findall(r'<polygon points="([^"]+)" fill="#3b7dd8"', svg)[0].split()
    centre = 210.0
    alpha = [float(v) for v in shape[0].split(",")]
    beta = [float(v) for v in shape[1].split(",")]
    assert alpha == [centre, centre - 150]  # level 4 at full radius, straight up
    assert beta == [centre, centre]  # level 0 at the centre


def test_report_is_self_contained_with_chart_roadmap_and_ml_test_score() -> None:
    html = render_report(assess(read_answers(EXAMPLE_ANSWERS), with_ml_test_score=True))
    assert html.startswith("<!DOCTYPE html>")
    assert "<svg" in html and "<polygon" in html
    assert not re.search(r'(src|href)="https?://', html)  # no external resource
    assert "<link" not in html and "<script" not in html
    assert "Roadmap" in html and "DEV-3.1" in html and "iml4e_components.registry" in html
    assert "ML Test Score: 0.0" in html
    assert "Evidence read from the platform" not in html  # no --evidence, no evidence table


def test_report_lists_the_evidence_with_its_reasons() -> None:
    evidence = {"pipeline_runs": ProbeResult("pipeline_runs", True, "2 successful <runs>")}
    html = render_report(assess(read_answers(EXAMPLE_ANSWERS), evidence))
    assert "Evidence read from the platform" in html
    assert "2 successful &lt;runs&gt;" in html  # escaped


def test_cli_writes_the_report_atomically_and_readable(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(app, ["assess", "--answers", str(EXAMPLE_ANSWERS), "--report", str(target)])
    assert result.exit_code == 0, result.output
    assert target.is_file() and "<svg" in target.read_text()
    assert target.stat().st_mode & 0o044 == 0o044
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temporary file left
    assert "HTML report written to" in result.stderr


def test_assess_with_the_example_answers_prints_json(home: Path) -> None:
    result = CliRunner().invoke(app, ["assess", "--answers", str(EXAMPLE_ANSWERS), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["overall"]["level"] == 0
    assert data["overall"]["profile"]["development"] == 2
    assert data["roadmap"][0]["priority"] == 1
    assert all(item["action"] for item in data["roadmap"])
    assert "ml_test_score" not in data


def test_an_unwritable_report_path_is_a_usage_error(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "a-directory"
    folder.mkdir()
    result = CliRunner().invoke(app, ["assess", "--answers", str(EXAMPLE_ANSWERS), "--report", str(folder)])
    assert result.exit_code == 2
    assert "a-directory is a directory" in result.stderr
    assert list(folder.iterdir()) == []  # no temporary file left behind
