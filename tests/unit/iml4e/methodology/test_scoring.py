"""Levels per area, the overall profile, evidence overriding answers, the roadmap and the ML Test Score."""

from __future__ import annotations

import pytest

from iml4e.methodology.answers import Answers, read_answers
from iml4e.methodology.content import load_maturity_model
from iml4e.methodology.evidence import ProbeResult
from iml4e.methodology.scoring import assess, interpret_ml_test_score, score_ml_tests

from .conftest import EXAMPLE_ANSWERS


def _all(area: str, up_to: int, value: str = "yes") -> dict[str, str]:
    return {s.id: value for s in load_maturity_model().area(area).statements if s.level <= up_to}


def test_an_area_reaches_a_level_only_when_that_level_and_all_below_hold() -> None:
    answers = Answers(statements=_all("data", 2))
    assert assess(answers).profile["data"] == 2
    level_3 = {s.id: "yes" for s in load_maturity_model().area("data").statements if s.level == 3}
    skipping = Answers(statements={**level_3, **_all("data", 1)})
    assert assess(skipping).profile["data"] == 1  # level 3 holds but level 2 does not


def test_partial_counts_as_progress_but_never_completes_a_level() -> None:
    statements = _all("testing", 1)
    level_2 = [s.id for s in load_maturity_model().area("testing").statements if s.level == 2]
    statements.update({sid: "partial" for sid in level_2})
    result = assess(Answers(statements=statements))
    testing = next(a for a in result.areas if a.area.id == "testing")
    assert testing.level == 1
    assert testing.progress == pytest.approx(0.5)


def test_overall_level_is_the_weakest_area_and_the_mean_is_reported() -> None:
    answers = Answers(statements={**_all("data", 4), **_all("development", 2)})
    result = assess(answers)
    assert result.profile["data"] == 4 and result.profile["development"] == 2
    assert result.overall_level == 0
    assert result.mean_level == pytest.approx(6 / 7)


def test_the_example_answers_give_the_documented_profile() -> None:
    result = assess(read_answers(EXAMPLE_ANSWERS))
    assert result.profile == {
        "data": 0,
        "development": 2,
        "testing": 1,
        "deployment": 1,
        "monitoring": 0,
        "governance": 0,
        "organisation": 1,
    }


def test_evidence_proves_a_statement_and_overrides_a_declared_no() -> None:
    statement = load_maturity_model().area("development").statements[1]  # DEV-1.2, probe experiments_tracked
    assert statement.evidence == "experiments_tracked"
    evidence = {"experiments_tracked": ProbeResult("experiments_tracked", True, "3 runs")}
    result = assess(Answers(statements={statement.id: "no"}), evidence)
    row = next(r for a in result.areas for r in a.statements if r.statement.id == statement.id)
    assert (row.answer, row.source, row.declared, row.why) == ("yes", "evidence", "no", "3 runs")
    assert result.evidenced() == [statement.id]
    unproven = {"experiments_tracked": ProbeResult("experiments_tracked", False, "MLflow is not running")}
    row = next(
        r
        for a in assess(Answers(statements={statement.id: "no"}), unproven).areas
        for r in a.statements
        if r.statement.id == statement.id
    )
    assert (row.answer, row.source) == ("no", "answers")


def test_roadmap_lists_next_level_unmet_statements_weakest_area_first_with_what_closes_them() -> None:
    result = assess(read_answers(EXAMPLE_ANSWERS))
    roadmap = result.roadmap()
    assert [item.priority for item in roadmap] == list(range(1, len(roadmap) + 1))
    for item in roadmap:
        assert item.target_level == result.profile[item.area.id] + 1
        assert item.result.statement.level == item.target_level
        assert not item.result.holds
    levels = [result.profile[item.area.id] for item in roadmap]
    assert levels == sorted(levels)
    dev = [item.as_dict() for item in roadmap if item.area.id == "development"]
    assert {d["statement"] for d in dev} == {"DEV-3.1", "DEV-3.2"}
    gate = next(d for d in dev if d["statement"] == "DEV-3.1")
    assert gate["closed_by"] == ["iml4e_components.registry"]
    assert gate["action"]


def test_a_fully_mature_organisation_has_an_empty_roadmap() -> None:
    everything = {sid: "yes" for sid in load_maturity_model().statements()}
    result = assess(Answers(statements=everything))
    assert result.overall_level == 4
    assert result.roadmap() == []


def test_ml_test_score_counts_half_for_manual_one_for_automated_and_takes_the_minimum() -> None:
    answers = Answers(
        ml_tests={
            "data-1": "manual",
            "data-2": "automated",
            "model-1": "automated",
            "model-2": "automated",
            "infra-1": "manual",
            "monitor-1": "automated",
            "monitor-2": "manual",
        }
    )
    score = score_ml_tests(answers, {})
    assert score.section_scores() == {"data": 1.5, "model": 2.0, "infrastructure": 0.5, "monitoring": 1.5}
    assert score.final == 0.5
    proven = score_ml_tests(answers, {"seeded_runs": ProbeResult("seeded_runs", True, "seed=42")})
    assert proven.section_scores()["infrastructure"] == 1.0  # infra-1 is automated by evidence
    assert interpret_ml_test_score(0) != interpret_ml_test_score(2.5)


def test_assessment_as_json_names_sources_and_counts() -> None:
    data = assess(read_answers(EXAMPLE_ANSWERS), with_ml_test_score=True).as_dict()
    assert data["overall"]["statements"] == sum(len(a["statements"]) for a in data["areas"])
    assert data["overall"]["answered"] == len(read_answers(EXAMPLE_ANSWERS).statements)
    assert data["ml_test_score"]["final_score"] == 0.0  # monitoring has no points in the example
    sources = {s["source"] for a in data["areas"] for s in a["statements"]}
    assert sources == {"answers", "unanswered"}
