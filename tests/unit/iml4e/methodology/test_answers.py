"""Answer files: the example parses, and every kind of bad input is one line naming the entry, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.methodology.answers import Answers, read_answers

from .conftest import EXAMPLE_ANSWERS

runner = CliRunner()


def test_the_example_answers_file_reads_with_words_not_booleans() -> None:
    answers = read_answers(EXAMPLE_ANSWERS)
    assert answers.statements["DATA-1.1"] == "yes"
    assert answers.statements["DATA-3.2"] == "no"
    assert answers.statements["DATA-1.2"] == "partial"
    assert answers.ml_tests["infra-1"] == "automated"
    assert set(answers.statements.values()) == {"yes", "no", "partial"}


def test_saved_answers_round_trip_through_the_answer_file_format(tmp_path: Path) -> None:
    original = Answers(
        statements={"DEV-1.1": "yes", "DATA-1.1": "no", "ORG-1.1": "partial"}, ml_tests={"data-1": "manual"}
    )
    path = tmp_path / "round.yaml"
    path.write_text(original.to_yaml())
    assert read_answers(path) == original


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("areas:\n  dataa:\n    DATA-1.1: yes\n", "unknown area 'dataa'"),
        ("areas:\n  data:\n    DATA-9.9: yes\n", "unknown statement id 'DATA-9.9'"),
        ("areas:\n  development:\n    DATA-1.1: yes\n", "'DATA-1.1' belongs to area 'data'"),
        (
            "areas:\n  data:\n    DATA-1.1: yes\n    DATA-1.1: no\n",
            "'DATA-1.1' is answered twice (lines 3 and 4)",
        ),
        ("areas:\n  data:\n    DATA-1.1: maybe\n", "'DATA-1.1' has answer 'maybe'"),
        ("areas:\n  data:\n    DATA-1.1: true\n", "'DATA-1.1' has answer 'true'"),
        ("areas:\n  data:\n    DATA-1.1: 1\n", "'DATA-1.1' has answer 1"),
        ("areas:\n  data: [DATA-1.1]\n", "area 'data' must be a mapping"),
        ("ml_test_score:\n  infra-99: manual\n", "unknown ML test id 'infra-99'"),
        ("ml_test_score:\n  infra-1: yes\n", "'infra-1' has answer 'yes'"),
        ("answers:\n  DATA-1.1: yes\n", "unknown top-level key 'answers'"),
        ("areas: [\n", "is not valid YAML (line 2"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_bad_answers_fail_with_one_line_naming_the_entry(tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(content)
    result = runner.invoke(app, ["assess", "--answers", str(path), "--json"])
    assert result.exit_code == 2, result.output
    assert named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_missing_or_unreadable_answers_file_fails_with_exit_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["assess", "--answers", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
    assert "answers file not found" in missing.stderr and "nope.yaml" in missing.stderr
    directory = runner.invoke(app, ["assess", "--answers", str(tmp_path)])
    assert directory.exit_code == 2
    assert "cannot read answers file" in directory.stderr
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    undecodable = runner.invoke(app, ["assess", "--answers", str(binary)])
    assert undecodable.exit_code == 2
    assert "binary.yaml" in undecodable.stderr


def test_an_empty_answers_file_scores_everything_as_unanswered(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    result = runner.invoke(app, ["assess", "--answers", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert '"answered": 0' in result.stdout
