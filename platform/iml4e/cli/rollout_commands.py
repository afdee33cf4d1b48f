"""`iml4e rollout status|promote|rollback|watch NAME`: canary rollouts of a locally served model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from iml4e import console
from iml4e.cli.options import CONFIG_OPTION, JSON_OPTION

rollout_app = typer.Typer(
    help="Canary rollouts of a served model: see the split, promote or roll back the canary, or let "
    "'watch' decide from errors, latency and labelled quality.",
    no_args_is_help=True,
)
NAME_ARGUMENT = typer.Argument(..., help="The served model's name (iml4e serve ... --name NAME).")


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")


@rollout_app.command("status")
def status(name: str = NAME_ARGUMENT, json_output: bool = JSON_OPTION) -> None:
    """Show what NAME serves: the primary, the canary and the canary's share of the requests."""
    from iml4e.local import rollout, serving

    data = rollout.rollout_status(serving.check_name(name))
    if json_output:
        console.print_json(data)
        return
    console.print_table(
        f"rollout of {name}",
        ["variant", "model", "version", "share"],
        _variant_rows(data),
    )
    if data.get("error"):
        console.warn(f"the last change was not applied: {data['error']}")


@rollout_app.command("promote")
def promote(name: str = NAME_ARGUMENT, json_output: bool = JSON_OPTION) -> None:
    """Make the canary the primary for every request; MLflow's champion alias moves to it."""
    from iml4e.local import rollout, serving

    data = rollout.promote(serving.check_name(name))
    _report_change(data, f"promoted the canary of '{name}': {data['promoted']['model_uri']}", json_output)


@rollout_app.command("rollback")
def rollback(name: str = NAME_ARGUMENT, json_output: bool = JSON_OPTION) -> None:
    """Send every request to the primary again; the canary's challenger alias is cleared."""
    from iml4e.local import rollout, serving

    data = rollout.rollback(serving.check_name(name))
    _report_change(
        data, f"rolled back the canary of '{name}': {data['rolled_back']['model_uri']}", json_output
    )


@rollout_app.command("watch")
def watch(
    name: str = NAME_ARGUMENT,
    config: Path | None = CONFIG_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and record, but leave the split as it is."),
    timeout: float = typer.Option(
        None,
        "--timeout",
        help="Give up (exit 1, split unchanged) after this many seconds without a decision.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Compare the canary with the primary on live traffic (thresholds: rollout.* in iml4e.yaml) and
    roll it back at the first breach, or promote it after rollout.promote_after_seconds without one."""
    from iml4e.cli.cluster_commands import load_platform_config
    from iml4e.local import rollout, serving
    from iml4e_components.rollout.analysis import Decision

    served = serving.check_name(name)
    settings = load_platform_config(config).rollout
    thresholds = settings.thresholds()
    last: list[str] = []

    def progress(decision: Decision) -> None:
        line = _progress_line(decision)
        if line != (last[0] if last else None):
            spinner.update(line)
            last[:] = [line]

    with console.err.status(f"watching the canary of '{served}'...") as spinner:
        result = rollout.watch(
            served, thresholds, settings.interval_seconds, progress, act=not dry_run, timeout=timeout
        )
    if json_output:
        console.print_json(result)
        return
    verb = {"rollback": "rolled back", "promote": "promoted"}[result["action"]]
    console.info(
        f"{verb if not dry_run else 'would have ' + verb} the canary of '{served}' "
        f"({result['canary']['model_uri']}) after {result['watched_seconds']:.1f} s: "
        + "; ".join(result["reasons"])
    )
    console.print_table(
        "figures that decided it",
        ["variant", "requests", "5xx ratio", "4xx ratio", "p99 ms", "labelled", "accuracy", "macro F1"],
        [
            (
                variant,
                f["requests"],
                _ratio(f["error_ratio"]),
                _ratio(f["malformed_ratio"]),
                _number(f["p99_latency_ms"]),
                f["labelled_rows"],
                _ratio(f["accuracy"]),
                _ratio(f["f1_macro"]),
            )
            for variant, f in result["figures"].items()
        ],
    )


def _progress_line(decision: Any) -> str:
    canary = decision.figures["canary"]
    primary = decision.figures["primary"]
    return (
        f"{decision.action}: {decision.reasons[0]} "
        f"(canary {canary.requests} requests, primary {primary.requests}, {decision.watched_seconds:.0f} s)"
    )


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _variant_rows(data: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    share = float(data.get("canary_traffic") or 0.0)
    rows = []
    for variant, percent in (("primary", 100.0 - share), ("canary", share)):
        served = data.get(variant)
        if served:
            rows.append(
                (variant, str(served["model_uri"]), str(served.get("version") or ""), f"{percent:g}%")
            )
    return rows


def _report_change(data: dict[str, Any], message: str, json_output: bool) -> None:
    if json_output:
        console.print_json(data)
    else:
        console.info(message)
