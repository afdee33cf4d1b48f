"""Methodology commands: `iml4e assess` (maturity self-assessment, ML Test Score) and `iml4e capabilities`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from iml4e import console
from iml4e.cli.options import JSON_OPTION

if TYPE_CHECKING:
    from iml4e.methodology.scoring import Assessment

_ROADMAP_ROWS = 10


def register(app: typer.Typer) -> None:
    app.command("assess")(assess)
    app.command("capabilities")(capabilities)


def assess(
    answers_file: Path = typer.Option(
        None, "--answers", "-a", help="YAML answers file (see examples/assessment/answers.yaml); no prompts."
    ),
    evidence: bool = typer.Option(
        False, "--evidence", help="Read the platform's own state and pre-answer the statements it proves."
    ),
    ml_test_score: bool = typer.Option(
        False, "--ml-test-score", help="Also score the 28 tests of the ML Test Score (Breck et al. 2017)."
    ),
    report: Path = typer.Option(
        None, "--report", "-o", help="Write a self-contained HTML report to this file."
    ),
    no_input: bool = typer.Option(
        False,
        "--no-input",
        help="Never prompt: score the answers file and the evidence only (implied when stdin is not a terminal).",
    ),
    restart: bool = typer.Option(
        False, "--restart", help="Discard the saved answers of an earlier interactive run."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """MLOps maturity self-assessment: level per area, overall profile and a prioritised roadmap.

    Without --answers it asks one area at a time and saves each answer under the state directory,
    so an interrupted assessment resumes where it stopped.
    """
    from iml4e.methodology.answers import Answers, read_answers
    from iml4e.methodology.evidence import collect_evidence
    from iml4e.methodology.scoring import assess as score
    from iml4e.methodology.scoring import probes_in_use

    given = read_answers(answers_file) if answers_file is not None else Answers()
    found = {}
    if evidence:
        with console.working("reading evidence from the platform..."):
            found = collect_evidence(probes_in_use(ml_test_score))
        console.info(
            f"evidence: {sum(r.evidenced for r in found.values())} of {len(found)} probes found proof"
        )
    if answers_file is None and not no_input and _stdin_is_a_terminal():
        from iml4e.methodology.interactive import run_interactive

        given = run_interactive(found, ml_test_score, restart=restart)
    result = score(given, found, with_ml_test_score=ml_test_score)
    if report is not None:
        from iml4e.methodology.report_html import write_report

        write_report(result, report)
        console.info(f"HTML report written to {report}")
    if json_output:
        console.print_json(result.as_dict())
        return
    _print_summary(result)
    _explain_what_needs_a_person(result)


def _stdin_is_a_terminal() -> bool:
    import sys

    return sys.stdin is not None and sys.stdin.isatty()


def _explain_what_needs_a_person(result: Assessment) -> None:
    """Name, per area, the next level's unanswered statements that no evidence can prove."""
    held = [(area, area.awaiting_a_person()) for area in result.areas]
    held = [(area, statements) for area, statements in held if statements]
    if not held:
        return
    console.info(
        f"{len(held)} of {len(result.areas)} areas are held at their level by statements that only a "
        "person can answer (no evidence proves them):"
    )
    for area, statements in held:
        console.info(
            f"  {area.area.id} (level {area.level}): "
            + "; ".join(f"{r.statement.id} {r.statement.text}" for r in statements)
        )
    area, statements = held[0]
    console.info(
        f"answer them in a YAML file like examples/assessment/answers.yaml (under 'areas:', e.g. "
        f"'{area.area.id}: {{{statements[0].statement.id}: yes}}', or no or partial) and run "
        "'iml4e assess --evidence --answers FILE', or run 'iml4e assess --evidence' in a terminal to be asked"
    )


def _print_summary(result: Assessment) -> None:
    data: dict[str, Any] = result.as_dict()
    overall = data["overall"]
    console.print_table(
        f"MLOps maturity: overall level {overall['level']} ({overall['level_name']}), "
        f"mean {overall['mean_level']}",
        ["area", "level", "progress to next", "evidenced"],
        [
            (
                area["name"],
                f"{area['level']} {area['level_name']}",
                f"{round(area['progress_to_next'] * 100)}%",
                sum(s["evidenced"] for s in area["statements"]),
            )
            for area in data["areas"]
        ],
    )
    roadmap = data["roadmap"]
    console.print_table(
        f"roadmap: next steps ({min(len(roadmap), _ROADMAP_ROWS)} of {len(roadmap)}; "
        "--json or --report for all)",
        ["#", "area -> level", "statement", "action", "closed by"],
        [
            (
                item["priority"],
                f"{item['area']} -> {item['target_level']}",
                f"{item['statement']} {item['text']}",
                item["action"],
                "\n".join(item["closed_by"]) or "organisational practice",
            )
            for item in roadmap[:_ROADMAP_ROWS]
        ],
    )
    if "ml_test_score" in data:
        score = data["ml_test_score"]
        console.print_table(
            f"ML Test Score {score['final_score']}: {score['interpretation']}",
            ["section", "score (of 7)"],
            list(score["sections"].items()),
        )


def capabilities(
    ctx: typer.Context,
    no_evidence: bool = typer.Option(
        False, "--no-evidence", help="Only check what is installed; do not read the platform's state."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """The capability catalogue: every MLOps capability, what provides it in iml4e and its status here."""
    from iml4e.methodology.catalogue import capability_statuses
    from iml4e.methodology.evidence import collect_evidence

    found = None
    if not no_evidence:
        with console.working("reading evidence from the platform..."):
            found = collect_evidence()
    root = ctx.find_root().command
    commands = frozenset(getattr(root, "commands", {}))  # this CLI's commands, found without importing it
    statuses = [s.as_dict() for s in capability_statuses(commands, found)]
    if json_output:
        console.print_json(statuses)
        return
    console.print_table(
        "iml4e capabilities",
        ["capability", "category", "provided by", "status", "maturity statements"],
        [
            (
                s["name"],
                s["category"],
                "\n".join(p["use"] for p in s["providers"]) or f"(planned: {s['planned']})",
                s["status"],
                ", ".join(s["statements"]),
            )
            for s in statuses
        ],
    )
