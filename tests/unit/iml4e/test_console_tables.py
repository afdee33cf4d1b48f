"""Tables in an 80-column terminal print every URL, URI and path whole, on one line."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from iml4e import console
from iml4e.cli.app import app
from iml4e.local.state import PlatformState, ServiceRecord, save_state

DEMO_SUMMARY = [
    ("run URL", "http://127.0.0.1:45678/#/experiments/1/runs/0123456789abcdef0123456789abcdef"),
    ("registered model", "models:/churn-classifier@champion"),
    ("served model (V1)", "http://127.0.0.1:40001/v1/models/churn-classifier:predict"),
    ("served model (V2)", "http://127.0.0.1:40001/v2/models/churn-classifier/infer"),
    (
        "drift report",
        "/home/someone/projects/iml4e/.iml4e/serving/churn-classifier/drift-report.html "
        "(no drift, 0% of features drifted)",
    ),
]


@pytest.fixture
def terminal_80(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stdout as an 80-column terminal, captured."""
    buffer = io.StringIO()
    fake = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    monkeypatch.setattr(console, "out", fake)
    return buffer


def _lines_holding_whole(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


def _assert_whole(text: str, *words: str) -> None:
    for word in words:
        assert _lines_holding_whole(text, word), f"{word!r} is broken across lines in:\n{text}"
    assert all(len(line) <= 80 for line in text.splitlines() if "─" in line or "━" in line)


def test_demo_summary_keeps_every_url_and_path_whole(terminal_80: io.StringIO) -> None:
    console.print_table("iml4e demo: where to look", ["what", "where"], DEMO_SUMMARY)
    text = terminal_80.getvalue()
    _assert_whole(text, *(value.split()[0] for _, value in DEMO_SUMMARY))
    assert "run URL: http://127.0.0.1:45678/#/experiments/1/runs/" in text  # too narrow: key: value


def test_narrow_columns_wrap_at_spaces_and_urls_stay_whole(terminal_80: io.StringIO) -> None:
    url = "http://127.0.0.1:40001/v2/models/churn-classifier/infer"
    prose = "a long explanation that has to wrap over several lines so that the URL column can stay whole"
    console.print_table("t", ["what", "url", "note"], [("v2", url, prose)])
    text = terminal_80.getvalue()
    assert "┃ what" in text  # still a table: it fits once the prose wraps
    _assert_whole(text, url)
    assert "explanation" in text


def test_a_table_that_fits_is_unchanged_by_the_rule(terminal_80: io.StringIO) -> None:
    console.print_table(None, ["service", "url"], [("mlflow", "http://127.0.0.1:5000")])
    assert "│ mlflow  │ http://127.0.0.1:5000 │" in terminal_80.getvalue()


def test_cells_are_text_not_markup(terminal_80: io.StringIO) -> None:
    console.print_table(None, ["path"], [("/data/[bold]x[/bold].csv",)])
    assert "/data/[bold]x[/bold].csv" in terminal_80.getvalue()


def test_status_in_80_columns_prints_urls_and_data_dirs_whole(
    terminal_80: io.StringIO, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("a-rather-long-state-directory-name-for-this-platform") / ".iml4e"
    monkeypatch.setenv("IML4E_HOME", str(home))
    state = PlatformState()
    for name, port in (("mlflow", 45678), ("serve:churn-classifier", 40001)):
        data = home / ("mlflow" if name == "mlflow" else "serving/churn-classifier")
        state.services[name] = ServiceRecord(
            name=name, pid=os.getpid(), port=port, log="x.log", data_dir=str(data), started_at=1.0
        )
    home.mkdir(parents=True)
    save_state(state, home)

    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.stderr
    text = terminal_80.getvalue()
    _assert_whole(
        text,
        "http://127.0.0.1:45678",
        "http://127.0.0.1:40001",
        str(home / "mlflow"),
        str(home / "serving/churn-classifier"),
    )

    json_result = CliRunner().invoke(app, ["status", "--json"])
    services = json.loads(json_result.stdout)["services"]
    assert [s["url"] for s in services] == ["http://127.0.0.1:45678", "http://127.0.0.1:40001"]


def test_piped_output_is_not_wrapped_at_80(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(console, "out", Console(file=buffer, width=80))  # not a terminal
    console.print_table("t", ["what", "where"], DEMO_SUMMARY)
    assert "┃ what" in buffer.getvalue()  # the pipe gets the full-width table, one row per line
    for word in (value.split()[0] for _, value in DEMO_SUMMARY):
        assert _lines_holding_whole(buffer.getvalue(), word)
