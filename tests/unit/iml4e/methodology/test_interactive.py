"""The interactive assessment through the CLI: prompts, progress, resumable saved answers."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.methodology.answers import read_answers
from iml4e.methodology.content import load_maturity_model

runner = CliRunner()
STATEMENTS = [s.id for a in load_maturity_model().areas for s in a.statements]


@pytest.fixture(autouse=True)
def stdin_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests type answers as a person at a terminal would (CliRunner's stdin is no terminal)."""
    from iml4e.cli import methodology_commands

    monkeypatch.setattr(methodology_commands, "_stdin_is_a_terminal", lambda: True)


def test_an_interrupted_assessment_keeps_its_answers_and_resumes(home: Path) -> None:
    saved = home / "assessment" / "answers.yaml"
    first = runner.invoke(app, ["assess"], input="yes\nno\npartial\n")  # input ends: like Ctrl-C
    assert first.exit_code != 0
    assert "answers given so far are saved" in first.stderr
    assert "Area 1 of 7, Data gathering and preparation" in first.stderr
    assert f"(3/{len(STATEMENTS)})" in first.stderr
    kept = read_answers(saved)
    assert kept.statements == {STATEMENTS[0]: "yes", STATEMENTS[1]: "no", STATEMENTS[2]: "partial"}

    rest = len(STATEMENTS) - 3
    second = runner.invoke(app, ["assess", "--json"], input="maybe\n" + "yes\n" * rest)
    assert second.exit_code == 0, second.stderr
    assert "resuming: 3 answer(s) saved" in second.stderr
    assert "is not one of" in second.stderr  # 'maybe' was refused and asked again
    data = json.loads(second.stdout)
    assert data["overall"]["answered"] == len(STATEMENTS)
    assert data["overall"]["profile"]["data"] == 0  # DATA-1.2 was 'no'
    assert data["overall"]["profile"]["development"] == 4
    assert len(read_answers(saved).statements) == len(STATEMENTS)


def test_restart_discards_saved_answers(home: Path) -> None:
    runner.invoke(app, ["assess"], input="yes\n")
    result = runner.invoke(app, ["assess", "--restart"], input="no\n")
    assert result.exit_code != 0
    assert read_answers(home / "assessment" / "answers.yaml").statements == {STATEMENTS[0]: "no"}


def test_evidenced_statements_are_not_asked(home: Path) -> None:
    (home / "runs").mkdir()
    record = {"pipeline": "tabular_training", "run_id": "r1", "status": "SUCCESS", "tasks": []}
    (home / "runs" / "r1.json").write_text(json.dumps(record))
    result = runner.invoke(app, ["assess", "--evidence"], input="yes\n")  # DATA-1.1 is proven by the run
    assert "DATA-1.1 evidenced" in result.stderr
    assert read_answers(home / "assessment" / "answers.yaml").statements == {"DATA-1.2": "yes"}


def test_ml_test_score_is_asked_after_the_statements(home: Path) -> None:
    given = "yes\n" * len(STATEMENTS) + "manual\nautomated\n"
    result = runner.invoke(app, ["assess", "--ml-test-score"], input=given)
    assert result.exit_code != 0  # stopped during the ML tests
    kept = read_answers(home / "assessment" / "answers.yaml")
    assert kept.ml_tests == {"data-1": "manual", "data-2": "automated"}


def test_no_input_scores_without_prompting(home: Path) -> None:
    result = runner.invoke(app, ["assess", "--no-input", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["overall"]["answered"] == 0
    assert not (home / "assessment").exists()


def test_terminal_summary_shows_levels_and_roadmap(home: Path) -> None:
    from .conftest import EXAMPLE_ANSWERS

    result = runner.invoke(
        app, ["assess", "--answers", str(EXAMPLE_ANSWERS), "--ml-test-score"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "overall level 0 (Ad hoc)" in result.stdout
    assert (
        "Model development and experimentation" in result.stdout and "2 Automated training" in result.stdout
    )
    assert "roadmap" in result.stdout and "DEV-3.1" in result.stdout
    assert "ML Test Score 0.0" in result.stdout


def test_ctrl_c_keeps_the_answers_given_so_far(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replies = iter(["yes", "partial"])

    def prompt(*_: object, **__: object) -> str:
        try:
            return next(replies)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr(click, "prompt", prompt)
    result = runner.invoke(app, ["assess"])
    assert result.exit_code == 130  # the CLI boundary's code for an interrupt
    assert "answers given so far are saved" in result.stderr
    saved = read_answers(home / "assessment" / "answers.yaml")
    assert saved.statements == {STATEMENTS[0]: "yes", STATEMENTS[1]: "partial"}
