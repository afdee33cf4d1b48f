"""`iml4e models list|show NAME`: the registry's models, versions, aliases, card verdicts, and where
the local platform serves them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from iml4e import console
from iml4e.cli.options import JSON_OPTION

models_app = typer.Typer(
    help="Registered models: versions, aliases, model-card verdicts and where each is served.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(json_output: bool = JSON_OPTION) -> None:
    """Every registered model with its versions, aliases, card verdict and local endpoints."""
    uri, models = _registered("'iml4e models list'", None)
    if json_output:
        console.print_json({"tracking_uri": uri, "models": [m.as_dict() for m in models]})
        return
    if not models:
        console.info(f"no registered models at {uri}; 'iml4e run tabular_training' registers one")
        return
    console.print_table(
        f"registered models ({uri})",
        ["model", "version", "aliases", "card", "served at"],
        [
            (model.name, v.version, ", ".join(v.aliases), v.card_verdict or "-", _served_at(v))
            for model in models
            for v in model.versions
        ],
    )


@models_app.command("show")
def models_show(
    name: str = typer.Argument(..., help="Registered model name (see 'iml4e models list')."),
    json_output: bool = JSON_OPTION,
) -> None:
    """One registered model: each version's aliases, card verdict, metrics, run, source and endpoints."""
    uri, (model,) = _registered(f"'iml4e models show {name}'", name)
    if json_output:
        console.print_json({"tracking_uri": uri, **model.as_dict()})
        return
    if model.description:
        console.info(model.description)
    console.print_table(
        f"{model.name} ({uri}/#/models/{model.name})",
        ["version", "aliases", "card", "metrics", "created", "run", "served at"],
        [
            (
                v.version,
                ", ".join(v.aliases),
                v.card_verdict or "-",
                "\n".join(f"{k} {_number(value)}" for k, value in v.metrics.items()),
                datetime.fromtimestamp(v.created / 1000, UTC).strftime("%Y-%m-%d %H:%M") if v.created else "",
                v.run_id,
                _served_at(v),
            )
            for v in model.versions
        ],
    )


def _registered(needed_by: str, only: str | None) -> tuple[str, list[Any]]:
    from iml4e.local.platform import use_tracking_server
    from iml4e.local.registered_models import registered_models
    from iml4e.local.state import load_state

    uri = use_tracking_server(needed_by)
    return uri, registered_models(load_state(), only)


def _served_at(version: Any) -> str:
    return "\n".join(f"{s.v2}" + ("" if s.state == "running" else f" ({s.state})") for s in version.served)


def _number(text: str) -> str:
    try:
        return f"{float(text):.4g}"
    except ValueError:
        return text
