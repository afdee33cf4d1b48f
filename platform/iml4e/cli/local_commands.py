"""Commands of the embedded local platform: up, status, down, run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from iml4e import console
from iml4e.cli.options import CONFIG_OPTION, CONTEXT_OPTION, JSON_OPTION, KUBECONFIG_OPTION


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("status")(status)
    app.command("down")(down)
    app.command("run")(run)


def up(
    port: int = typer.Option(None, "--port", help="Port for the MLflow server (default: a free one)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Start the local platform (MLflow tracking server on 127.0.0.1) under the state directory."""
    from iml4e.local import platform

    with console.working("starting the local platform (MLflow server)..."):
        result = platform.up(port)
    data = {
        "started": result.started,
        **result.status.as_dict(),
        "restarted": result.restarted,
        "failed": result.failed,
        "unrecorded_stopped": result.unrecorded,
    }
    if json_output:
        console.print_json(data)
        return
    verb = "started" if result.started else "already running"
    console.info(f"MLflow {verb}: {result.status.record.url} (pid {result.status.record.pid})")
    for name in result.restarted:
        console.info(f"{name} started again")
    for name, log in result.failed.items():
        console.warn(f"{name} did not start again; read its log {log}")
    console.print_data(result.status.record.url)


def status(
    json_output: bool = JSON_OPTION,
    cluster: bool = typer.Option(False, "--cluster", help="Show the cluster platform's health instead."),
    config: Path | None = CONFIG_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
) -> None:
    """Show the local services: URL, pid, health and data directory (--cluster: the cluster's)."""
    if cluster:
        from iml4e.cli.cluster_commands import show_cluster_status

        show_cluster_status(json_output, config, kubeconfig, context)
        return
    from iml4e.local import platform
    from iml4e.paths import state_dir

    statuses = platform.status()
    unrecorded = platform.unrecorded()
    if json_output:
        console.print_json(
            {
                "state_dir": str(state_dir()),
                "services": [s.as_dict() for s in statuses],
                "unrecorded_pids": unrecorded,
            }
        )
        return
    if unrecorded:
        console.warn(
            f"unrecorded service processes of {state_dir()} are running (pids "
            f"{', '.join(map(str, unrecorded))}); 'iml4e up' or 'iml4e down' stops them"
        )
    if not statuses:
        stopped = platform.stopped()
        console.info(
            f"the local platform is not running (state directory {state_dir()}); start it with 'iml4e up'"
            + (
                f", which also starts again what 'iml4e down' stopped: {', '.join(stopped)}"
                if stopped
                else ""
            )
        )
        return
    console.print_table(
        f"local platform ({state_dir()})",
        ["service", "url", "pid", "health", "data"],
        [
            (
                s.record.name,
                s.record.url,
                s.record.pid,
                _health(s),
                s.record.data_dir,
            )
            for s in statuses
        ],
    )
    for s in statuses:
        if s.problem:
            console.warn(f"{s.record.name} is unhealthy: {s.problem}")


def _health(current: Any) -> str:
    if current.healthy:
        return "healthy"
    if current.problem:
        return "unhealthy (see below)"
    return "running, not answering" if current.running else "down"


def down(json_output: bool = JSON_OPTION) -> None:
    """Stop what `iml4e up` started (by recorded pid); all data stays."""
    from iml4e.local import platform

    stopped = platform.down()
    if json_output:
        console.print_json({"stopped": stopped})
        return
    console.info(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def run(
    pipeline: str = typer.Argument(None, help="Pipeline name (see --list) or path/to/file.py[:function]."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Pipeline parameter as key=value (repeatable)."
    ),
    list_pipelines: bool = typer.Option(
        False, "--list", help="List the available pipelines and their parameters."
    ),
    json_output: bool = JSON_OPTION,
    cluster: bool = typer.Option(
        False, "--cluster", help="Compile and run on the installed cluster KFP instead."
    ),
    config: Path | None = CONFIG_OPTION,
    kubeconfig: str | None = KUBECONFIG_OPTION,
    context: str | None = CONTEXT_OPTION,
) -> None:
    """Run a pipeline locally with kfp.local against the local platform's MLflow server (--cluster: on KFP)."""
    if list_pipelines:
        _list_pipelines(json_output)
        return
    if not pipeline:
        from iml4e.errors import UsageError

        raise UsageError("name a pipeline to run, e.g. 'iml4e run tabular_training'; see 'iml4e run --list'")
    if cluster:
        from iml4e.cli.cluster_commands import run_on_cluster_command

        run_on_cluster_command(pipeline, param, json_output, config, kubeconfig, context)
        return
    result = run_with_progress(pipeline, param)
    if json_output:
        console.print_json(result.as_dict())
        return
    console.info(f"pipeline '{result.pipeline}' finished in {result.seconds:.1f} s (log: {result.log})")
    if result.output is not None:
        console.print_json(result.output) if isinstance(result.output, dict | list) else console.print_data(
            str(result.output)
        )


def run_with_progress(pipeline: str, pairs: list[str]) -> Any:
    """Run a pipeline, showing each task as it starts and finishes."""
    import time

    from iml4e.local import platform
    from iml4e.local.pipeline_runner import run_pipeline
    from iml4e.pipeline_selection import parse_parameters, resolve_pipeline

    # Fail on bad input before starting anything.
    _, resolved = resolve_pipeline(pipeline)
    parse_parameters(resolved, pairs)
    with console.working("starting the local platform...") as spinner:
        uri = platform.tracking_uri()
        spinner.update(f"running pipeline '{pipeline}'...")
        started: dict[str, float] = {}

        def on_event(task: str, state: str) -> None:
            if state == "RUNNING":
                started[task] = time.monotonic()
                spinner.update(f"running {task}...")
            else:
                took = time.monotonic() - started.get(task, time.monotonic())
                mark = "[green]✓[/green]" if state == "SUCCESS" else "[red]✗[/red]"
                console.err.print(f"  {mark} {task} ({took:.1f} s)")
                spinner.update(f"running pipeline '{pipeline}'...")

        return run_pipeline(pipeline, pairs, uri, on_event)


def _list_pipelines(json_output: bool) -> None:
    from iml4e.pipeline_selection import pipeline_parameters
    from iml4e_pipelines import PIPELINES, load_pipeline

    listing: list[dict[str, Any]] = []
    for name in PIPELINES:
        pipeline = load_pipeline(name)
        params = [
            {"name": p.name, "type": p.type, "default": p.default, "required": p.required}
            for p in pipeline_parameters(pipeline)
        ]
        listing.append({"name": name, "description": pipeline.description or "", "parameters": params})
    if json_output:
        console.print_json(listing)
        return
    console.print_table(
        "pipelines",
        ["name", "description", "parameters (name: type = default)"],
        [
            (
                item["name"],
                item["description"],
                "\n".join(f"{p['name']}: {p['type']} = {p['default']}" for p in item["parameters"]),
            )
            for item in listing
        ],
    )
