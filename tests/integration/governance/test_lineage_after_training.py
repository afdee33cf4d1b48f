"""After a real `iml4e run tabular_training`: every step left valid OpenLineage events, `iml4e
lineage show models:/<name>@champion` walks back to the raw dataset, `iml4e lineage export` writes
the documentation bundle, and bad model URIs are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e_components.lineage.store import read_events

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("platform")]
runner = CliRunner()


def _validator() -> Any:
    import importlib.util

    conftest = Path(__file__).parents[2] / "unit" / "iml4e_components" / "lineage" / "conftest.py"
    spec = importlib.util.spec_from_file_location("lineage_schema_conftest", conftest)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.openlineage_validator()


def _default_dataset() -> str:
    """The raw dataset tabular_training reads by default (e.g. sample:churn-dirty)."""
    from iml4e.pipeline_selection import pipeline_parameters, resolve_pipeline

    _, pipeline = resolve_pipeline("tabular_training")
    return str(next(p.default for p in pipeline_parameters(pipeline) if p.name == "dataset"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("lineage-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IML4E_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = runner.invoke(
            app, ["run", "tabular_training", "--param", "model_name=lineage-churn", "--json"]
        )
        try:
            assert result.exit_code == 0, result.stderr
            yield home, json.loads(result.stdout)
        finally:
            runner.invoke(app, ["down"])


def test_every_step_emitted_schema_valid_start_and_final_events(
    trained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = trained
    monkeypatch.setenv("IML4E_HOME", str(home))
    events = read_events(home / "lineage" / "events.jsonl")
    validator = _validator()
    for event in events:
        errors = [e.message for e in validator.iter_errors(event)]
        assert not errors, (event["job"]["name"], errors)
    by_run: dict[str, list[str]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert all(states == ["START", "COMPLETE"] for states in by_run.values()), by_run
    jobs = {e["job"]["name"] for e in events}
    assert {"tabular_training.load_dataset", "tabular_training.model_card_gate"} <= jobs
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert len(parents) == 1, "all steps of one pipeline run share the parent run"


def test_lineage_show_walks_from_the_champion_back_to_the_raw_dataset(
    trained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, run = trained
    monkeypatch.setenv("IML4E_HOME", str(home))
    result = runner.invoke(app, ["lineage", "show", "models:/lineage-churn@champion"])
    assert result.exit_code == 0, result.stderr
    raw = _default_dataset()
    assert f"raw data: {raw}" in result.stdout, result.stdout
    assert (
        "tabular_training.load_dataset" in result.stdout and "tabular_training.train_model" in result.stdout
    )
    shown = json.loads(
        runner.invoke(app, ["lineage", "show", "models:/lineage-churn@champion", "--json"]).stdout
    )
    assert shown["model"]["version"] == str(run["output"]["version"])
    assert [f"{d['namespace']}:{d['name']}" for d in shown["raw_datasets"]] == [raw]
    # the raw data's digest is the one load_dataset computed while loading it
    assert shown["raw_datasets"][0]["digest"].startswith("sha256:") and "digest unknown" not in result.stdout
    graph = Path(shown["graph"]).read_text(encoding="utf-8")
    assert graph.count("<rect") >= 8 and "data-direction=" in graph


def test_lineage_export_writes_the_documentation_bundle(
    trained: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home, _ = trained
    monkeypatch.setenv("IML4E_HOME", str(home))
    bundle = tmp_path / "bundle"
    result = runner.invoke(
        app, ["lineage", "export", "models:/lineage-churn@champion", "-o", str(bundle), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    files = set(json.loads(result.stdout)["files"])
    assert {
        "README.md",
        "model.json",
        "parameters.json",
        "metrics.json",
        "datasets.json",
        "lineage.json",
        "lineage.html",
        "model_card/card.json",
        "model_card/verdict.json",
        "model_card/card.html",
    } <= files
    assert json.loads((bundle / "model_card" / "verdict.json").read_text())["passed"] is True
    assert "conformance to spec `default`: pass" in (bundle / "README.md").read_text()
    digests = [d["digest"] for d in json.loads((bundle / "datasets.json").read_text())]
    assert any(d and d.startswith("sha256:") for d in digests)
    again = runner.invoke(app, ["lineage", "export", "models:/lineage-churn@champion", "-o", str(bundle)])
    assert again.exit_code == 2 and "already exists and is not empty" in again.stderr


def test_unknown_model_uri_is_a_one_line_error(trained: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    home, _ = trained
    monkeypatch.setenv("IML4E_HOME", str(home))
    result = runner.invoke(app, ["lineage", "show", "models:/no-such-model@champion"])
    assert result.exit_code == 2
    assert "model 'models:/no-such-model@champion' not found in the MLflow registry" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
