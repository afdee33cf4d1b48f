"""`iml4e demo`: the whole local platform in one command (start, train, register, serve, report)."""

from __future__ import annotations

from typing import Any

import typer

from iml4e import console
from iml4e.cli.local_commands import run_with_progress
from iml4e.cli.options import JSON_OPTION


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(json_output: bool = JSON_OPTION) -> None:
    """Start the platform, run the quickstart pipeline end to end and show where to look."""
    report = run_demo()
    if json_output:
        console.print_json(report)
        return
    console.print_table(
        "iml4e demo: where to look",
        ["what", "where"],
        [(key, value) for key, value in report["summary"].items()],
    )


def run_demo() -> dict[str, Any]:
    """Start the platform, run `tabular_training` and return where to look (summary + details)."""
    from iml4e.local import platform

    with console.working("starting the local platform (MLflow server)..."):
        mlflow = platform.up().status
    console.info(f"MLflow tracking server: {mlflow.record.url}")
    console.info("running pipeline 'tabular_training' on the generated churn dataset...")
    training = run_with_progress("tabular_training", [])
    registration = training.output if isinstance(training.output, dict) else {}
    run_id = str(registration.get("run_id", ""))
    experiment_id = _experiment_of(mlflow.record.url, run_id)
    summary: dict[str, str] = {
        "MLflow UI": mlflow.record.url,
        "experiment": "tabular-training",
        "MLflow run": f"{mlflow.record.url}/#/experiments/{experiment_id}/runs/{run_id}",
        "run id": run_id,
        "registered model": f"{registration.get('name')} version {registration.get('version')}",
        "champion URI": str(registration.get("champion_uri", "")),
        "promoted this run": "yes" if registration.get("promoted") else "no (the champion stays)",
        f"{registration.get('metric', 'metric')}": f"{registration.get('value', float('nan')):.4f}",
        "pipeline log": training.log,
    }
    if registration.get("champion_uri"):
        from iml4e.local.serving import demo_serving

        # Serve the champion, answer a few requests, write a drift report against the training data.
        with console.working("serving the champion, answering requests, writing the drift report..."):
            summary.update(
                demo_serving(
                    str(registration["champion_uri"]), mlflow.record.url, reference_source="sample:churn"
                )
            )
    return {"summary": summary, "tracking_uri": mlflow.record.url, "training": training.as_dict()}


def _experiment_of(tracking_uri: str, run_id: str) -> str:
    import mlflow

    return str(mlflow.MlflowClient(tracking_uri).get_run(run_id).info.experiment_id)
