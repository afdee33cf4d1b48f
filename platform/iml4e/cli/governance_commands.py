"""`iml4e card check|render` (model cards) and `iml4e lineage show|export` (OpenLineage lineage)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from iml4e import console
from iml4e.cli.options import JSON_OPTION

card_app = typer.Typer(
    help="Model cards: check them against a conformance spec, render them.", no_args_is_help=True
)
lineage_app = typer.Typer(
    help="Lineage from raw data to deployed model (OpenLineage events).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(card_app, name="card")
    app.add_typer(lineage_app, name="lineage")


# ---- model cards -----------------------------------------------------------------------------


@card_app.command("check")
def card_check(
    card: Path = typer.Argument(..., help="Model card: MCT JSON or YAML with the same sections."),
    spec: str = typer.Option("default", "--spec", "-s", help="A shipped spec name or a spec YAML file."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Check CARD against SPEC: every rule with pass/fail and why; exit code 0 only if all pass."""
    from iml4e_components.model_card.card import load_card
    from iml4e_components.model_card.spec import check_card, load_spec

    conformance = load_spec(spec)
    verdict = check_card(load_card(card), conformance)
    if json_output:
        console.print_json(verdict.model_dump(mode="json"))
    else:
        console.print_table(
            f"{card} against spec '{verdict.spec}'",
            ["result", "rule", "target", "reason"],
            [("pass" if r.passed else "FAIL", r.rule, r.target, r.reason) for r in verdict.results],
        )
        failed = len(verdict.failures)
        if failed:
            console.error(f"{failed} of {len(verdict.results)} checks failed; the card does not conform")
        else:
            console.info(f"all {len(verdict.results)} checks passed")
    if not verdict.passed:
        raise typer.Exit(1)


@card_app.command("render")
def card_render(
    card: Path = typer.Argument(..., help="Model card: MCT JSON or YAML."),
    output: Path = typer.Option(..., "--output", "-o", help="card.html or card.md (format from the suffix)."),
    spec: str = typer.Option("", "--spec", "-s", help="Also show the verdict against this spec."),
) -> None:
    """Render CARD as a readable HTML page or Markdown, with metric tables and charts."""
    from iml4e_components.model_card.card import load_card
    from iml4e_components.model_card.render import write_rendered
    from iml4e_components.model_card.spec import check_card, load_spec
    from iml4e_components.output_files import check_output_path

    check_output_path(output, "rendered model card", create_parent=True)
    loaded = load_card(card)
    verdict = check_card(loaded, load_spec(spec)) if spec else None
    written = write_rendered(loaded, output, verdict)
    console.info(f"wrote {written}")
    console.print_data(str(written))


# ---- lineage ---------------------------------------------------------------------------------


def _load_graph() -> Any:
    from iml4e_components.conventions import lineage_store_path
    from iml4e_components.lineage.emit import FAILURES_FILE
    from iml4e_components.lineage.graph import LineageGraph
    from iml4e_components.lineage.store import read_events

    store = lineage_store_path()
    events = read_events(store, on_warning=console.warn)
    undelivered = store.with_name(FAILURES_FILE)
    if undelivered.is_file():
        count = sum(1 for line in undelivered.read_bytes().splitlines() if line.strip())
        console.warn(f"{count} lineage event deliveries failed (e.g. to OPENLINEAGE_URL); see {undelivered}")
    if not events:
        from iml4e.errors import StateError

        raise StateError(f"no lineage events in {store}; run a pipeline first (iml4e run tabular_training)")
    return LineageGraph(events)


def _model_tree(target: str) -> tuple[Any, Any, Any]:
    """(model ref, graph, upstream tree) for a models:/ or runs:/ URI."""
    from iml4e.errors import StateError
    from iml4e.local.platform import use_tracking_server
    from iml4e_components.lineage.graph import TreeNode
    from iml4e_components.lineage.resolve import resolve_model

    use_tracking_server(f"'iml4e lineage' for {target}")
    graph = _load_graph()
    ref = resolve_model(target)
    runs = graph.runs_annotated(mlflow_run_id=ref.run_id) if ref.run_id else []
    if not runs:
        raise StateError(
            f"no lineage events mention MLflow run {ref.run_id or '?'} of {target}; "
            "was it trained by an iml4e pipeline with this state directory (IML4E_HOME)?"
        )
    detail = ", ".join(
        p for p in (f"version {ref.version}" if ref.version else "", f"mlflow run {ref.run_id}") if p
    )
    root = TreeNode("model", target, ref.name or target, detail)
    return ref, graph, graph.upstream(list(reversed(runs)), root)


def _deployed_model(target: str) -> str:
    """The model URI behind `deployment:NAME` (or `serve:NAME`): the local endpoint's, else the one
    the pipeline's deploy step recorded in lineage."""
    from iml4e.errors import UsageError
    from iml4e.local.state import load_state

    name = target.split(":", 1)[1]
    record = load_state().services.get(f"serve:{name}")
    if record is not None and record.extra.get("model_uri"):
        return str(record.extra["model_uri"])
    deployed = [r for r in _load_graph().runs_annotated(model_name=name) if r.label == "deploy_model"]
    if deployed and deployed[-1].values.get("model_uri"):
        return str(deployed[-1].values["model_uri"])
    raise UsageError(f"no deployment named '{name}'; see 'iml4e status' for local endpoints")


def _render_tree(node: Any, branch: Any = None) -> Any:
    from rich.markup import escape
    from rich.tree import Tree

    style = {"model": "bold yellow", "run": "bold blue", "dataset": "green"}.get(node.kind, "")
    text = f"[{style}]{escape(node.label)}[/{style}]"
    if node.detail:
        text += f" [dim]({escape(node.detail)})[/dim]"
    if node.repeated:
        text += " [dim]↑ shown above[/dim]"
    child = Tree(text) if branch is None else branch.add(text)
    for sub in node.children:
        _render_tree(sub, child)
    return child


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:80] or "lineage"


@lineage_app.command("show")
def lineage_show(
    target: str = typer.Argument(
        ..., help="models:/NAME@ALIAS, models:/NAME/VERSION, or a dataset path/URI."
    ),
    graph_file: Path = typer.Option(
        None, "--graph", help="Where to write the HTML graph (default: state dir)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Walk back from a model to its raw data, or forward from a dataset to every model built on it."""
    from iml4e.errors import UsageError
    from iml4e_components.conventions import lineage_graphs_dir
    from iml4e_components.lineage.picture import graph_html
    from iml4e_components.lineage.resolve import is_model_uri
    from iml4e_components.output_files import check_output_path, write_text_atomically

    if target.startswith(("deployment:", "serve:")):
        target = _deployed_model(target)
    picture = graph_file or lineage_graphs_dir() / f"{_slug(target)}.html"
    check_output_path(picture, "lineage graph", create_parent=True)
    if is_model_uri(target):
        ref, graph, tree = _model_tree(target)
        upstream, subject = True, {"model": ref.as_dict()}
        related = {"raw_datasets": [d.as_dict() for d in graph.raw_datasets(tree)]}
    else:
        graph = _load_graph()
        dataset = graph.find_dataset(target)
        if dataset is None:
            raise UsageError(
                f"no dataset '{target}' in the lineage store; pass a models:/ URI or a dataset path/URI "
                "that a pipeline read or wrote (see 'iml4e lineage show models:/NAME@champion')"
            )
        tree = graph.downstream(dataset.key)
        upstream, subject = False, {"dataset": dataset.as_dict()}
        related = {"models": graph.models_in(tree)}
    write_text_atomically(
        picture, graph_html(f"Lineage of {target}", tree, upstream=upstream), "lineage graph"
    )
    if json_output:
        console.print_json({**subject, **related, "tree": tree.as_dict(), "graph": str(picture)})
        return
    console.print_renderable(_render_tree(tree))
    if upstream:
        for raw in related["raw_datasets"]:
            console.print_data(
                f"raw data: {raw['namespace']}:{raw['name']} (digest {raw['digest'] or 'unknown'})"
            )
    else:
        for model in related["models"]:
            console.print_data(f"model: models:/{model['name']}/{model['version']}")
    console.info(f"graph: {picture}")


@lineage_app.command("export")
def lineage_export(
    target: str = typer.Argument(..., help="models:/NAME@ALIAS or models:/NAME/VERSION."),
    output: Path = typer.Option(..., "--output", "-o", help="New directory for the documentation bundle."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write the model's technical documentation bundle (EU AI Act Annex IV spirit) into a directory."""
    from iml4e.errors import UsageError
    from iml4e_components.lineage.export import export_bundle
    from iml4e_components.lineage.resolve import is_model_uri
    from iml4e_components.output_files import check_output_directory

    if not is_model_uri(target):
        raise UsageError(f"'{target}' is not a model URI; pass models:/NAME@ALIAS or models:/NAME/VERSION")
    check_output_directory(output, "documentation bundle")
    ref, graph, tree = _model_tree(target)
    files = export_bundle(ref, graph, tree, output)
    if json_output:
        console.print_json({"directory": str(output), "files": files, "model": ref.as_dict()})
        return
    console.print_table(f"documentation bundle for {target}", ["file"], [(f,) for f in files])
    console.info(f"wrote {len(files)} files to {output}")
