"""The model card gate in a real kfp.local pipeline run (`iml4e run`) against a real MLflow server.

The pipeline is self-contained so it tests the gate, not the other components: a step logs the
demo churn model's metrics (accuracy 0.78, f1 0.58) into an MLflow run, the gate checks the card,
and a last step stands in for registration by writing a marker file.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.local import platform

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("platform")]
STRICT = Path(__file__).parents[3] / "examples" / "model-card" / "strict-spec.yaml"

PIPELINE = """
from kfp import dsl
from kfp.dsl import Metrics, Output

from iml4e_components.model_card.component import model_card_gate


@dsl.component(install_kfp_package=False)
def evaluated_run(metrics: Output[Metrics]) -> str:
    import mlflow

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("gate-test")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("gate-test")
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "estimator", "logistic_regression")
    client.log_param(run.info.run_id, "target", "churned")
    client.set_tag(run.info.run_id, "iml4e.train_digest", "sha256:0123456789abcdef")
    values = {"accuracy": 0.78, "f1": 0.58, "ece": 0.04,
              "accuracy/contract=month-to-month": 0.72, "accuracy/contract=two-year": 0.88}
    for name, value in values.items():
        metrics.log_metric(name, value)
    return run.info.run_id


@dsl.component(install_kfp_package=False)
def register_stand_in(verdict: str) -> str:
    import os
    from pathlib import Path

    Path(os.environ["IML4E_HOME"], "registered.marker").write_text(verdict)
    return "registered"


@dsl.pipeline(name="gated")
def gated(card_spec: str = "default") -> str:
    evaluated = evaluated_run()
    gate = model_card_gate(
        run_id=evaluated.outputs["Output"],
        model_uri="models:/m-test",
        model_name="gated-churn",
        metrics=evaluated.outputs["metrics"],
        spec=card_spec,
    )
    return register_stand_in(verdict=gate.outputs["Output"]).output
"""


@pytest.fixture
def pipeline_file(isolated_state: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "gated_pipeline.py"
    path.write_text(PIPELINE, encoding="utf-8")
    yield path
    platform.down()


def _runs(client: mlflow.MlflowClient) -> list[mlflow.entities.Run]:
    experiment = client.get_experiment_by_name("gate-test")
    runs: list[mlflow.entities.Run] = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time ASC"]
    )
    return runs


def test_failing_card_stops_the_pipeline_before_registration(
    pipeline_file: Path, isolated_state: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(pipeline_file), "--param", f"card_spec={STRICT}"])
    assert result.exit_code != 0
    assert "failed at step 'model-card-gate'" in result.stderr
    assert "fails spec 'strict'" in result.stderr and "0.78 < 0.85" in result.stderr
    assert not (isolated_state / "registered.marker").exists(), (
        "registration must not run after a failed gate"
    )

    client = mlflow.MlflowClient(platform.tracking_uri())
    (run,) = _runs(client)
    assert run.data.tags["iml4e.card_verdict"] == "fail"
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "model_card")}
    assert logged == {"model_card/card.json", "model_card/verdict.json", "model_card/card.html"}
    verdict = json.loads(
        Path(client.download_artifacts(run.info.run_id, "model_card/verdict.json")).read_text()
    )
    assert verdict["passed"] is False and verdict["spec"] == "strict"

    # The default spec with the shipped human card passes the same model, and registration runs.
    result = runner.invoke(app, ["run", str(pipeline_file), "--json"])
    assert result.exit_code == 0, result.stderr
    passed = json.loads(result.stdout)["output"]
    assert passed == "registered"
    assert json.loads((isolated_state / "registered.marker").read_text())["passed"] is True
    card = json.loads(
        Path(client.download_artifacts(_runs(client)[-1].info.run_id, "model_card/card.json")).read_text()
    )
    assert card["model_details"]["name"] == "gated-churn"
    assert {
        (m["type"], m.get("slice", "")) for m in card["quantitative_analysis"]["performance_metrics"]
    } >= {
        ("accuracy", ""),
        ("accuracy", "contract=two-year"),
        ("ece", ""),
    }
