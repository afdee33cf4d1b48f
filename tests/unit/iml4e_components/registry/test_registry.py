from __future__ import annotations

from pathlib import Path

import pytest

from iml4e_components.conventions import CARD_VERDICT_TAG
from iml4e_components.errors import ComponentError
from iml4e_components.registry.core import Registration, gated_value, verdict_tags


def test_verdict_becomes_a_version_tag() -> None:
    assert verdict_tags('{"passed": true, "spec": "default"}') == {CARD_VERDICT_TAG: "pass"}
    assert verdict_tags('{"passed": false}') == {CARD_VERDICT_TAG: "fail"}
    assert verdict_tags("") == {}
    with pytest.raises(ComponentError, match="card_verdict"):
        verdict_tags("not json")


def test_gated_metric_must_exist() -> None:
    assert gated_value({"f1": 0.7, "f1__region:north": 0.5}, "f1") == 0.7
    with pytest.raises(ComponentError, match=r"gate_metric 'auc' was not computed; available: f1$"):
        gated_value({"f1": 0.7, "f1__region:north": 0.5}, "auc")


def test_registration_json_keeps_the_demo_contract() -> None:
    registration = Registration("m", "3", True, "f1", 0.7, "2", 0.6)
    assert {"name", "version", "promoted", "metric", "value", "champion_uri"} <= set(registration.as_dict())
    assert registration.champion_uri == "models:/m@champion"


def test_a_canary_rollout_keeps_the_champion_and_marks_the_winner_challenger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real MLflow registry (sqlite): the first version becomes champion (nothing to compare it
    with live); a better second one stays challenger, held for the canary."""
    import mlflow

    from iml4e_components.datasets.core import generate_churn
    from iml4e_components.registry.core import register
    from iml4e_components.training.core import train_estimator
    from iml4e_components.training.mlflow_model import log_sklearn_model

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", store)  # the registry and the runs in one store
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("canary")
    frame = generate_churn(100, seed=1)
    model = train_estimator(frame, "churned", drop_columns=["customer_id"])

    def logged(f1: float) -> str:
        run_id = client.create_run(experiment).info.run_id
        client.log_metric(run_id, "f1", f1)
        return log_sklearn_model(run_id, model, frame)

    first = register(logged(0.6), "churn", "f1", 0.6, rollout="canary")
    assert first.promoted and not first.canary
    second = register(logged(0.7), "churn", "f1", 0.7, rollout="canary")
    assert second.canary and not second.promoted and second.as_dict()["canary"] is True
    assert str(client.get_model_version_by_alias("churn", "champion").version) == first.version
    assert str(client.get_model_version_by_alias("churn", "challenger").version) == second.version
    worse = register(logged(0.5), "churn", "f1", 0.5, rollout="canary")
    assert not worse.canary and not worse.promoted
    with pytest.raises(ComponentError, match="rollout='shadow' is not a rollout mode"):
        register(logged(0.9), "churn", "f1", 0.9, rollout="shadow")
