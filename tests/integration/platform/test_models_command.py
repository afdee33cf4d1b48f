"""`iml4e models list|show` against a real MLflow server and a real model server on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.local import platform

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("platform")]
runner = CliRunner()
NAME = "tiny-churn"


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def registry(isolated_state: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Two versions of a registered model: 1 is `champion` with a passed card, 2 is `challenger`."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    url = platform.up().status.record.url
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)})
    model = LogisticRegression().fit(features, (features["x"] > 0).astype(int))
    client = mlflow.MlflowClient(url)
    for _ in range(2):
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(features, model.predict(features)),
                pip_requirements=["scikit-learn"],  # no slow requirement inference
            )
        mlflow.register_model(info.model_uri, NAME)
    client.set_registered_model_alias(NAME, "champion", "1")
    client.set_registered_model_alias(NAME, "challenger", "2")
    client.set_model_version_tag(NAME, "1", "iml4e.card_verdict", "pass")
    client.set_model_version_tag(NAME, "1", "iml4e.f1", "0.9123456")
    yield url
    platform.down()


def test_models_list_and_show_give_versions_aliases_verdicts_and_endpoints(registry: str) -> None:
    code, out, err = cli("serve", f"models:/{NAME}@champion", "--detach", "--json")
    assert code == 0, err
    served = json.loads(out)

    code, out, err = cli("models", "list", "--json")
    assert code == 0, err
    listing = json.loads(out)
    assert listing["tracking_uri"] == registry
    (model,) = listing["models"]
    assert model["name"] == NAME
    assert model["aliases"] == {"champion": "1", "challenger": "2"}
    newest, oldest = model["versions"]
    assert (newest["version"], newest["aliases"], newest["card_verdict"], newest["served"]) == (
        "2",
        ["challenger"],
        "",
        [],
    )
    assert (oldest["version"], oldest["aliases"], oldest["card_verdict"]) == ("1", ["champion"], "pass")
    assert oldest["metrics"] == {"f1": "0.9123456"}
    (endpoint,) = oldest["served"]
    assert endpoint["v2"] == served["v2"] and endpoint["state"] == "running"

    code, out, err = cli("models", "show", NAME, "--json")
    assert code == 0, err
    assert json.loads(out)["versions"] == model["versions"]

    code, out, _ = cli("models", "list")
    assert code == 0 and NAME in out and served["v2"] in out and "champion" in out

    code, _, err = cli("models", "show", "nope")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "no registered model named 'nope'" in err and NAME in err and "iml4e models list" in err


def test_a_missing_model_points_at_iml4e_models_list(registry: str) -> None:
    from iml4e_components.errors import ComponentError
    from iml4e_components.lineage.resolve import resolve_model

    with pytest.raises(ComponentError) as raised:
        resolve_model(f"models:/{NAME}@nosuchalias")
    assert "iml4e models list" in str(raised.value) and "mlflow models" not in str(raised.value)


def test_models_list_while_the_platform_is_down_says_how_to_start_it(
    registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    platform.down()
    code, _, err = cli("models", "list")
    assert code == 1 and "not running" in err and "'iml4e up'" in err
    assert platform.status() == []
