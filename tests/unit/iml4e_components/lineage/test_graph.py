"""The lineage graph from real emitted events: back from a model to raw data, forward from data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp import dsl
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e_components.conventions import lineage_store_path
from iml4e_components.datasets.core import generate_churn
from iml4e_components.lineage.emit import lineage_step
from iml4e_components.lineage.graph import LineageGraph
from iml4e_components.lineage.picture import graph_html
from iml4e_components.lineage.store import read_events


def _pipeline_run(
    root: Path, run: str, monkeypatch: pytest.MonkeyPatch, mlflow_run: str, version: str
) -> None:
    """Emit the events a load -> split -> train -> register pipeline run would."""
    monkeypatch.setenv("IML4E_PIPELINE_NAME", "tabular_training")
    monkeypatch.setenv("IML4E_PIPELINE_RUN_ID", run)
    folder = root / run
    loaded = dsl.Dataset(name="dataset", uri=str(folder / "load" / "dataset"))
    with lineage_step("load_dataset", inputs={"source": "sample:churn"}, outputs={"dataset": loaded}):
        Path(loaded.path).parent.mkdir(parents=True)
        generate_churn(n_rows=40, seed=1).to_parquet(loaded.path, index=False)
    train = dsl.Dataset(name="train", uri=str(folder / "split" / "train"))
    with lineage_step("split_dataset", inputs={"dataset": loaded}, outputs={"train": train}):
        Path(train.path).parent.mkdir(parents=True)
        generate_churn(n_rows=30, seed=1).to_parquet(train.path, index=False)
    model = dsl.Model(name="model", uri=str(folder / "train" / "model"))
    with lineage_step("train_model", inputs={"train": train}, outputs={"model": model}) as step:
        Path(model.path).parent.mkdir(parents=True)
        Path(model.path).write_bytes(b"model bytes " + run.encode())
        step.annotate(mlflow_run_id=mlflow_run)
    with lineage_step("register_model", inputs={"model": model}) as step:
        step.annotate(mlflow_run_id=mlflow_run, model_name="churn", model_version=version, alias="champion")


@pytest.fixture
def two_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LineageGraph:
    _pipeline_run(tmp_path, "run-a", monkeypatch, "mlflow-a", "1")
    _pipeline_run(tmp_path, "run-b", monkeypatch, "mlflow-b", "2")
    return LineageGraph(read_events())


def test_upstream_from_a_model_run_reaches_the_raw_dataset_of_its_own_pipeline_run(
    two_runs: LineageGraph, tmp_path: Path
) -> None:
    from iml4e_components.lineage.graph import TreeNode

    runs = two_runs.runs_annotated(mlflow_run_id="mlflow-b")
    assert [r.label for r in runs] == ["train_model", "register_model"]
    tree = two_runs.upstream(list(reversed(runs)), TreeNode("model", "models:/churn@champion", "churn"))
    raw = two_runs.raw_datasets(tree)
    assert [(d.namespace, d.name) for d in raw] == [("sample", "churn")]
    # register <- model <- train_model <- train <- split <- dataset <- load <- sample:churn, all from run-b
    chain = []
    node = tree.children[0]
    while node.children:
        chain.append(node.label)
        node = node.children[0]
    chain.append(node.label)
    assert chain == [
        "tabular_training.register_model",
        "train/model",
        "tabular_training.train_model",
        "split/train",
        "tabular_training.split_dataset",
        "load/dataset",
        "tabular_training.load_dataset",
        "sample:churn",
    ]
    assert all("run-a" not in key for key in _keys(tree))
    train = two_runs.datasets[f"file:{(tmp_path / 'run-b' / 'split' / 'train').resolve()}"]
    assert train.rows == 30 and train.digest and train.digest.startswith("sha256:")
    page = graph_html("Lineage", tree)
    # 6 boxes (raw data, 4 steps each holding its output, the model) and 3 output markers
    assert page.count("<rect") == 9 and "sample:churn" in page


def _keys(node: object) -> list[str]:
    return [node.key, *(k for child in node.children for k in _keys(child))]  # type: ignore[attr-defined]


def test_downstream_from_raw_data_finds_every_model(two_runs: LineageGraph) -> None:
    tree = two_runs.downstream("sample:churn")
    assert sorted((m["name"], m["version"]) for m in two_runs.models_in(tree)) == [
        ("churn", "1"),
        ("churn", "2"),
    ]


def test_cli_shows_dataset_forward_lineage_and_writes_a_graph(two_runs: LineageGraph, tmp_path: Path) -> None:
    graph = tmp_path / "graph.html"
    result = CliRunner().invoke(app, ["lineage", "show", "sample:churn", "--graph", str(graph), "--json"])
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["dataset"]["name"] == "churn" and len(shown["models"]) == 2
    assert "<svg" in graph.read_text(encoding="utf-8")
    text = CliRunner().invoke(app, ["lineage", "show", "sample:churn", "--graph", str(graph)])
    assert "model: models:/churn/2" in text.stdout and "tabular_training.train_model" in text.stdout


def test_cli_unknown_dataset_and_empty_store_are_one_line_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lineage", "show", "sample:churn"])
    assert result.exit_code != 0 and "no lineage events in" in result.stderr
    with lineage_step("load_dataset", inputs={"source": "sample:churn"}):
        pass
    result = CliRunner().invoke(app, ["lineage", "show", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "no dataset" in result.stderr and "Traceback" not in result.stderr


def test_cli_reports_a_corrupted_store_and_warns_on_a_truncated_one(two_runs: LineageGraph) -> None:
    store = lineage_store_path()
    with open(store, "ab") as handle:
        handle.write(b'{"eventTime": "2026-11-27T0')
    result = CliRunner().invoke(app, ["lineage", "show", "sample:churn", "--json"])
    assert result.exit_code == 0 and "skipped truncated last line" in result.stderr
    store.write_bytes(b"garbage\n")
    result = CliRunner().invoke(app, ["lineage", "show", "sample:churn"])
    assert result.exit_code == 2 and "is corrupted" in result.stderr


def test_deployment_name_resolves_to_the_deployed_model_uri(two_runs: LineageGraph) -> None:
    from iml4e.cli.governance_commands import _deployed_model

    with lineage_step("deploy_model", inputs={"model": "models:/churn@champion"}) as step:
        step.annotate(model_name="churn", alias="champion", model_uri="models:/churn@champion")
    assert _deployed_model("deployment:churn") == "models:/churn@champion"
    result = CliRunner().invoke(app, ["lineage", "show", "deployment:nope"])
    assert result.exit_code == 2 and "no deployment named 'nope'" in result.stderr
