"""The interactive assessment: one area at a time, progress shown, every answer saved as it is given.

Answers go to `<state>/assessment/answers.yaml` atomically after each prompt, so an interrupted
session (Ctrl-C, a closed terminal) keeps what was answered and the next `iml4e assess` resumes there.
Statements the platform's evidence already proves are shown and not asked.
"""

from __future__ import annotations

import click
from rich.markup import escape

from iml4e import console
from iml4e.methodology.answers import (
    ML_TEST_VALUES,
    STATEMENT_VALUES,
    Answers,
    load_saved_answers,
    save_answers,
    saved_answers_path,
)
from iml4e.methodology.content import load_maturity_model, load_ml_test_score
from iml4e.methodology.evidence import ProbeResult


def run_interactive(
    evidence: dict[str, ProbeResult], with_ml_test_score: bool, restart: bool = False
) -> Answers:
    """Ask every statement not yet answered nor evidenced; return all answers (saved ones included)."""
    answers = Answers() if restart else load_saved_answers()
    if answers.statements or answers.ml_tests:
        console.info(
            f"resuming: {len(answers.statements) + len(answers.ml_tests)} answer(s) saved at "
            f"{saved_answers_path()} (use --restart to start over)"
        )
    try:
        _ask_statements(answers, evidence)
        if with_ml_test_score:
            _ask_ml_tests(answers, evidence)
    except (KeyboardInterrupt, click.exceptions.Abort):
        console.info(
            f"stopped; answers given so far are saved at {saved_answers_path()}; run 'iml4e assess' to resume"
        )
        raise
    return answers


def _proof(probe_id: str | None, evidence: dict[str, ProbeResult]) -> ProbeResult | None:
    found = evidence.get(probe_id) if probe_id else None
    return found if found is not None and found.evidenced else None


def _ask_statements(answers: Answers, evidence: dict[str, ProbeResult]) -> None:
    model = load_maturity_model()
    total = sum(len(a.statements) for a in model.areas)
    done = sum(
        1
        for a in model.areas
        for s in a.statements
        if s.id in answers.statements or _proof(s.evidence, evidence)
    )
    for number, area in enumerate(model.areas, start=1):
        open_ids = [s.id for s in area.statements if s.id not in answers.statements]
        if not open_ids:
            continue
        console.info(f"\nArea {number} of {len(model.areas)}, {area.name}: {area.description}")
        for statement in area.statements:
            if statement.id in answers.statements:
                continue
            proof = _proof(statement.evidence, evidence)
            if proof is not None:
                console.info(escape(f"  {statement.id} evidenced: {statement.text} ({proof.why})"))
                continue
            done += 1
            question = f"({done}/{total}) {statement.id} [level {statement.level}] {statement.text}"
            _ask(answers, answers.statements, statement.id, question, STATEMENT_VALUES)


def _ask_ml_tests(answers: Answers, evidence: dict[str, ProbeResult]) -> None:
    tests = load_ml_test_score()
    total = len(tests.tests())
    done = sum(
        1
        for t, (_, test) in tests.tests().items()
        if t in answers.ml_tests or _proof(test.evidence, evidence)
    )
    for section in tests.sections:
        open_tests = [t for t in section.tests if t.id not in answers.ml_tests]
        if not open_tests:
            continue
        console.info(
            f"\nML Test Score, {section.name}: is each test done manually, automated, or not at all?"
        )
        for test in open_tests:
            proof = _proof(test.evidence, evidence)
            if proof is not None:
                console.info(escape(f"  {test.id} automated (evidenced): {test.title} ({proof.why})"))
                continue
            done += 1
            question = f"({done}/{total}) {test.id} {test.title}: {test.description}"
            _ask(answers, answers.ml_tests, test.id, question, ML_TEST_VALUES)


def _ask(answers: Answers, into: dict[str, str], key: str, question: str, choices: tuple[str, ...]) -> None:
    """Prompt (on stderr) until one of `choices` is given, record it and save all answers at once."""
    into[key] = click.prompt(question, type=click.Choice(choices, case_sensitive=False), err=True).lower()
    save_answers(answers)
