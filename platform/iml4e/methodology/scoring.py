"""Scoring: the level per area, the overall profile, the prioritised roadmap and the ML Test Score.

An area reaches level N only when every statement of levels 1..N holds ('yes'); 'partial' counts as
half a statement in the progress figures but never completes a level. A statement the platform's
evidence proves counts as 'yes' whatever was declared, and is marked as evidenced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iml4e.methodology.answers import Answers
from iml4e.methodology.content import (
    MAX_LEVEL,
    Area,
    Statement,
    load_catalogue,
    load_maturity_model,
    load_ml_test_score,
)
from iml4e.methodology.evidence import ProbeResult

ANSWERS = "answers"
EVIDENCE = "evidence"
UNANSWERED = "unanswered"
_PARTIAL_CREDIT = {"yes": 1.0, "partial": 0.5}
_ML_TEST_POINTS = {"no": 0.0, "manual": 0.5, "automated": 1.0}


@dataclass(frozen=True)
class StatementResult:
    statement: Statement
    answer: str | None  # yes | no | partial | None (unanswered)
    source: str  # answers | evidence | unanswered
    declared: str | None = None  # what the answers said, when evidence overrode it
    why: str | None = None  # the evidence's reason

    @property
    def holds(self) -> bool:
        return self.answer == "yes"

    def as_dict(self) -> dict[str, Any]:
        s = self.statement
        return {
            "id": s.id,
            "level": s.level,
            "text": s.text,
            "answer": self.answer,
            "source": self.source,
            "evidenced": self.source == EVIDENCE,
            "declared": self.declared,
            "evidence": self.why,
        }


@dataclass(frozen=True)
class AreaResult:
    area: Area
    level: int
    statements: list[StatementResult]

    @property
    def progress(self) -> float:
        """Share of the next level's statements that hold (partial = half); 1.0 at the top level."""
        if self.level >= MAX_LEVEL:
            return 1.0
        pending = [r for r in self.statements if r.statement.level == self.level + 1]
        return sum(_PARTIAL_CREDIT.get(r.answer or "", 0.0) for r in pending) / len(pending)

    def awaiting_a_person(self) -> list[StatementResult]:
        """The next level's unanswered statements that no evidence probe can prove: only a person's
        answer (`--answers` or the questionnaire) can lift the area past them."""
        return [
            r
            for r in self.statements
            if r.statement.level == self.level + 1 and r.answer is None and r.statement.evidence is None
        ]

    def as_dict(self) -> dict[str, Any]:
        model = load_maturity_model()
        return {
            "id": self.area.id,
            "name": self.area.name,
            "level": self.level,
            "level_name": model.level(self.level).name,
            "progress_to_next": round(self.progress, 3),
            "awaiting_a_person": [r.statement.id for r in self.awaiting_a_person()],
            "statements": [r.as_dict() for r in self.statements],
        }


@dataclass(frozen=True)
class RoadmapItem:
    priority: int
    area: Area
    target_level: int
    result: StatementResult

    def as_dict(self) -> dict[str, Any]:
        statement = self.result.statement
        capability = load_catalogue().by_id().get(statement.capability or "")
        return {
            "priority": self.priority,
            "area": self.area.id,
            "area_name": self.area.name,
            "target_level": self.target_level,
            "statement": statement.id,
            "text": statement.text,
            "answer": self.result.answer,
            "action": statement.action,
            "capability": capability.id if capability else None,
            "capability_name": capability.name if capability else None,
            "closed_by": closing_providers(statement),
        }


def closing_providers(statement: Statement) -> list[str]:
    """The iml4e commands, components, pipelines or manifests that close `statement`."""
    rule = [f"model-card spec rule {statement.spec_rule}"] if statement.spec_rule else []
    if statement.capability is None:
        return rule
    capability = load_catalogue().by_id()[statement.capability]
    if capability.providers:
        return [p.label() for p in capability.providers] + rule
    return [f"planned: {capability.planned}", *rule]


@dataclass(frozen=True)
class MlTestResult:
    test_id: str
    section: str
    title: str
    answer: str  # no | manual | automated
    source: str
    why: str | None

    @property
    def points(self) -> float:
        return _ML_TEST_POINTS[self.answer]


@dataclass(frozen=True)
class MlTestScoreResult:
    tests: list[MlTestResult]

    def section_scores(self) -> dict[str, float]:
        sections: dict[str, float] = {}
        for test in self.tests:
            sections[test.section] = sections.get(test.section, 0.0) + test.points
        return sections

    @property
    def final(self) -> float:
        """The lowest section score (Breck et al.: a system is as ready as its weakest section)."""
        return min(self.section_scores().values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "final_score": self.final,
            "interpretation": interpret_ml_test_score(self.final),
            "sections": self.section_scores(),
            "tests": [
                {
                    "id": t.test_id,
                    "section": t.section,
                    "title": t.title,
                    "answer": t.answer,
                    "points": t.points,
                    "source": t.source,
                    "evidence": t.why,
                }
                for t in self.tests
            ],
        }


def interpret_ml_test_score(score: float) -> str:
    """What a final ML Test Score means, after the bands of Breck et al. (our wording)."""
    if score == 0:
        return "a research prototype rather than a production system"
    if score <= 1:
        return "some testing exists, but expect serious gaps in reliability"
    if score <= 2:
        return "a first pass at production readiness; more investment is needed"
    if score <= 3:
        return "reasonably tested; more of the tests could be automated"
    if score <= 5:
        return "strong automated testing and monitoring, fit for critical systems"
    return "exceptional automated testing and monitoring"


@dataclass
class Assessment:
    areas: list[AreaResult]
    evidence: dict[str, ProbeResult] = field(default_factory=dict)
    ml_test_score: MlTestScoreResult | None = None

    @property
    def profile(self) -> dict[str, int]:
        return {r.area.id: r.level for r in self.areas}

    @property
    def overall_level(self) -> int:
        """The weakest area's level: the organisation is only as mature as its weakest area."""
        return min(self.profile.values())

    @property
    def mean_level(self) -> float:
        return sum(self.profile.values()) / len(self.areas)

    def evidenced(self) -> list[str]:
        return [r.statement.id for a in self.areas for r in a.statements if r.source == EVIDENCE]

    def roadmap(self) -> list[RoadmapItem]:
        """The next level's unmet statements of every area, weakest areas and nearest wins first."""
        candidates = []
        for order, area_result in enumerate(self.areas):
            target = area_result.level + 1
            if target > MAX_LEVEL:
                continue
            for result in area_result.statements:
                if result.statement.level == target and not result.holds:
                    closers = closing_providers(result.statement)
                    provided = bool(closers) and not closers[0].startswith("planned:")
                    rank = (area_result.level, result.answer != "partial", not provided, order)
                    candidates.append((rank, area_result.area, target, result))
        candidates.sort(key=lambda c: c[0])
        return [
            RoadmapItem(i + 1, area, target, result) for i, (_, area, target, result) in enumerate(candidates)
        ]

    def as_dict(self) -> dict[str, Any]:
        model = load_maturity_model()
        data: dict[str, Any] = {
            "model": model.title,
            "overall": {
                "level": self.overall_level,
                "level_name": model.level(self.overall_level).name,
                "mean_level": round(self.mean_level, 2),
                "profile": self.profile,
                "answered": sum(r.answer is not None for a in self.areas for r in a.statements),
                "statements": sum(len(a.statements) for a in self.areas),
                "evidenced": len(self.evidenced()),
            },
            "areas": [a.as_dict() for a in self.areas],
            "roadmap": [item.as_dict() for item in self.roadmap()],
            "evidence": {pid: r.as_dict() for pid, r in self.evidence.items()},
        }
        if self.ml_test_score is not None:
            data["ml_test_score"] = self.ml_test_score.as_dict()
        return data


def resolve_statement(
    statement: Statement, answers: Answers, evidence: dict[str, ProbeResult]
) -> StatementResult:
    """One statement's answer: proven by evidence, else as declared, else unanswered."""
    declared = answers.statements.get(statement.id)
    proof = evidence.get(statement.evidence) if statement.evidence else None
    if proof is not None and proof.evidenced:
        return StatementResult(statement, "yes", EVIDENCE, declared if declared != "yes" else None, proof.why)
    if declared is not None:
        return StatementResult(statement, declared, ANSWERS)
    return StatementResult(statement, None, UNANSWERED)


def area_level(results: list[StatementResult]) -> int:
    """The highest level N such that every statement of levels 1..N holds."""
    level = 0
    for candidate in range(1, MAX_LEVEL + 1):
        if all(r.holds for r in results if r.statement.level == candidate):
            level = candidate
        else:
            break
    return level


def assess(
    answers: Answers, evidence: dict[str, ProbeResult] | None = None, with_ml_test_score: bool = False
) -> Assessment:
    """Score `answers` (and what `evidence` proves) against the maturity model."""
    evidence = evidence or {}
    areas = []
    for area in load_maturity_model().areas:
        results = [resolve_statement(s, answers, evidence) for s in area.statements]
        areas.append(AreaResult(area, area_level(results), results))
    assessment = Assessment(areas=areas, evidence=evidence)
    if with_ml_test_score:
        assessment.ml_test_score = score_ml_tests(answers, evidence)
    return assessment


def score_ml_tests(answers: Answers, evidence: dict[str, ProbeResult]) -> MlTestScoreResult:
    """The ML Test Score: 0.5 per manual test, 1 per automated one; evidence proves automation."""
    results = []
    for section in load_ml_test_score().sections:
        for test in section.tests:
            proof = evidence.get(test.evidence) if test.evidence else None
            if proof is not None and proof.evidenced:
                results.append(
                    MlTestResult(test.id, section.id, test.title, "automated", EVIDENCE, proof.why)
                )
            else:
                declared = answers.ml_tests.get(test.id)
                source = ANSWERS if declared else UNANSWERED
                results.append(MlTestResult(test.id, section.id, test.title, declared or "no", source, None))
    return MlTestScoreResult(results)


def probes_in_use(with_ml_test_score: bool) -> list[str]:
    """The probe ids the content refers to (so an assessment runs only those)."""
    ids = [s.evidence for a in load_maturity_model().areas for s in a.statements if s.evidence]
    if with_ml_test_score:
        ids += [t.evidence for s in load_ml_test_score().sections for t in s.tests if t.evidence]
    return list(dict.fromkeys(ids))
