"""`iml4e card check` and `iml4e card render` through the CLI: exit codes, reasons, one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e_components.model_card.card import ModelCard, write_card

STRICT = Path(__file__).parents[4] / "examples" / "model-card" / "strict-spec.yaml"


@pytest.fixture
def card_file(complete_card: ModelCard, tmp_path: Path) -> Path:
    complete_card.quantitative_analysis.evaluated_at = datetime.now(UTC)
    return write_card(complete_card, tmp_path / "card.json")


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_complete_card_passes_with_exit_code_0(card_file: Path) -> None:
    code, out, err = _run("card", "check", str(card_file), "--spec", "default")
    assert code == 0, err
    assert "FAIL" not in out and "all 17 checks passed" in err


def test_missing_ethics_and_low_metric_fail_with_reasons(complete_card: ModelCard, tmp_path: Path) -> None:
    complete_card.quantitative_analysis.evaluated_at = datetime.now(UTC)
    complete_card.considerations.ethical_considerations = []
    no_ethics = write_card(complete_card, tmp_path / "no-ethics.json")
    code, out, _ = _run("card", "check", str(no_ethics), "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["passed"] is False
    (failure,) = [r for r in verdict["results"] if not r["passed"]]
    assert failure["rule"] == "ethical_considerations" and "0 ethical consideration(s)" in failure["reason"]

    code, out, _ = _run("card", "check", str(no_ethics), "--spec", str(STRICT), "--json")
    reasons = [r["reason"] for r in json.loads(out)["results"] if not r["passed"]]
    assert code == 1 and "0.78 < 0.85" in reasons


def test_card_that_is_not_json_is_a_one_line_error(tmp_path: Path) -> None:
    broken = tmp_path / "card.json"
    broken.write_text("{not json", encoding="utf-8")
    code, out, err = _run("card", "check", str(broken))
    assert code == 2 and out == ""
    assert "is not valid JSON (line 1, column 2" in err and "Traceback" not in err


def test_spec_with_unknown_rule_is_a_one_line_error(card_file: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nrules:\n  - {rule: be_good}\n", encoding="utf-8")
    code, _, err = _run("card", "check", str(card_file), "--spec", str(spec))
    assert code == 2 and "unknown rule 'be_good'" in err


def test_render_html_and_markdown(card_file: Path, tmp_path: Path) -> None:
    code, out, _ = _run(
        "card", "render", str(card_file), "-o", str(tmp_path / "card.html"), "--spec", "default"
    )
    assert code == 0 and out.strip() == str(tmp_path / "card.html")
    assert "<svg" in (tmp_path / "card.html").read_text(encoding="utf-8")
    code, _, _ = _run("card", "render", str(card_file), "-o", str(tmp_path / "card.md"))
    assert code == 0 and "| accuracy |" in (tmp_path / "card.md").read_text(encoding="utf-8")
    code, _, err = _run("card", "render", str(card_file), "-o", str(tmp_path / "card.txt"))
    assert code == 2 and "name the output file .html or .md" in err and not (tmp_path / "card.txt").exists()
