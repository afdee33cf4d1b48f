"""`iml4e assess --evidence` without a terminal: no questionnaire, exit 0, and it says which statements
hold each area back that only a person can answer, and how to answer them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.methodology.content import load_maturity_model


def _person_only_level_1() -> dict[str, list[str]]:
    return {
        area.id: [s.id for s in area.statements if s.level == 1 and s.evidence is None]
        for area in load_maturity_model().areas
    }


def test_assess_evidence_with_stdin_from_dev_null_exits_0_and_explains(home: Path) -> None:
    with open("/dev/null") as null:
        done = subprocess.run(
            [sys.executable, "-m", "iml4e", "assess", "--evidence"],
            stdin=null,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    assert "Abort" not in done.stderr and "[y/n" not in done.stderr.lower()
    assert "MLOps maturity" in done.stdout
    assert "only a person can answer" in done.stderr
    assert "--answers FILE" in done.stderr
    for area, ids in _person_only_level_1().items():
        if ids:
            assert f"{area} (level 0): {ids[0]}" in done.stderr


def test_json_names_the_statements_awaiting_a_person(home: Path) -> None:
    result = CliRunner().invoke(app, ["assess", "--evidence", "--json"])
    assert result.exit_code == 0, result.stderr
    areas = {a["id"]: a for a in json.loads(result.stdout)["areas"]}
    for area, ids in _person_only_level_1().items():
        assert areas[area]["awaiting_a_person"] == ids


def test_an_answered_statement_is_no_longer_awaited(home: Path, tmp_path: Path) -> None:
    area, ids = next((a, ids) for a, ids in _person_only_level_1().items() if ids)
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"areas:\n  {area}:\n" + "".join(f"    {i}: yes\n" for i in ids))
    result = CliRunner().invoke(app, ["assess", "--evidence", "--answers", str(answers), "--json"])
    assert result.exit_code == 0, result.stderr
    (data,) = [a for a in json.loads(result.stdout)["areas"] if a["id"] == area]
    assert not set(ids) & set(data["awaiting_a_person"])
