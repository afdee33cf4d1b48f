"""Deployment core. The KServe path talks to a fake CustomObjectsApi (no Kubernetes API server can
run here); the InferenceService it sends is checked against the real CRD-shaped expectations."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from iml4e_components.deployment import core
from iml4e_components.deployment.core import (
    build_inference_service,
    deploy_kserve,
    deploy_local,
    deploy_target,
    endpoint_name,
    is_ready,
    serve_command,
)
from iml4e_components.errors import ComponentError


def test_inference_service_shape() -> None:
    service = build_inference_service(
        "churn-classifier", "s3://mlflow/1/models/m-1/artifacts", model_uri="models:/c@champion"
    )
    meta = service["metadata"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1" and service["kind"] == "InferenceService"
    assert meta["namespace"] == "iml4e-serving"
    assert (
        meta["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    )  # v0.20 name of RawDeployment
    assert meta["annotations"]["prometheus.io/scrape"] == "true"
    assert meta["annotations"]["prometheus.io/port"] == "8080"
    predictor = service["spec"]["predictor"]
    assert predictor["serviceAccountName"] == "iml4e-model-server"
    model = predictor["model"]
    assert model["storageUri"] == "s3://mlflow/1/models/m-1/artifacts"
    assert model["modelFormat"] == {"name": "mlflow"} and model["protocolVersion"] == "v2"
    assert model["runtime"] == "iml4e-mlflow"
    assert model["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}


def test_local_artifact_locations_cannot_go_to_a_cluster() -> None:
    with pytest.raises(ComponentError, match="cannot read"):
        build_inference_service("m", "/home/me/.iml4e/mlflow/artifacts/1")


def test_endpoint_names_are_dns_labels() -> None:
    assert endpoint_name("Churn_Classifier v2") == "churn-classifier-v2"
    assert endpoint_name("7up") == "m-7up"
    assert len(endpoint_name("x" * 80)) <= 45


def test_target_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(core.TARGET_ENV, raising=False)
    assert deploy_target() == "local"
    monkeypatch.setenv(core.TARGET_ENV, "kserve")
    assert deploy_target() == "kserve"
    monkeypatch.setenv(core.TARGET_ENV, "docker")
    with pytest.raises(ComponentError, match="IML4E_DEPLOY_TARGET='docker'"):
        deploy_target()


def test_local_deploy_runs_iml4e_serve_detached() -> None:
    assert serve_command("models:/m@champion", "m")[1:] == [
        "-m", "iml4e", "serve", "models:/m@champion", "--name", "m", "--detach", "--json",
    ]  # fmt: skip


def _script(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "fake_serve.py"
    script.write_text(body)
    return [sys.executable, str(script)]


def test_local_deploy_reads_the_endpoint_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = _script(
        tmp_path, 'import json; print(json.dumps({"url": "http://127.0.0.1:9000", "name": "m"}))'
    )
    monkeypatch.setattr(core, "serve_command", lambda uri, name, *canary: command)
    deployed = deploy_local("models:/m@champion", "m")
    assert deployed.url == "http://127.0.0.1:9000" and deployed.target == "local"


def test_local_deploy_failure_keeps_the_last_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = _script(
        tmp_path, 'import sys; sys.stderr.write("noise\\nerror: model URI not found\\n"); sys.exit(2)'
    )
    monkeypatch.setattr(core, "serve_command", lambda uri, name, *canary: command)
    with pytest.raises(ComponentError, match=r"failed: error: model URI not found$"):
        deploy_local("models:/nope@champion", "nope")


class FakeCustomObjects:
    """Stands in for kubernetes.client.CustomObjectsApi: stores objects, turns Ready after N reads."""

    def __init__(self, ready_after: int | None, existing: bool = False) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.reads = 0
        self.ready_after = ready_after
        if existing:
            self.objects["churn"] = {"metadata": {"name": "churn"}, "spec": {}}

    def get_namespaced_custom_object(
        self, group: str, version: str, ns: str, plural: str, name: str
    ) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        self.calls.append("get")
        if name not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        self.reads += 1
        obj = dict(self.objects[name])
        ready = self.ready_after is not None and self.reads > self.ready_after
        obj["status"] = {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "Pending"}]
        }
        return obj

    def create_namespaced_custom_object(
        self, group: str, version: str, ns: str, plural: str, body: dict[str, Any]
    ) -> None:
        self.calls.append("create")
        self.objects[body["metadata"]["name"]] = body

    def patch_namespaced_custom_object(
        self, group: str, version: str, ns: str, plural: str, name: str, body: dict[str, Any]
    ) -> None:
        self.calls.append("patch")
        self.objects[name] = body


def _service() -> dict[str, Any]:
    return build_inference_service("churn", "s3://bucket/model")


def test_kserve_creates_then_waits_for_ready() -> None:
    api = FakeCustomObjects(ready_after=2)
    result = deploy_kserve(_service(), api=api, poll=0, sleep=lambda s: None)
    assert api.calls[:2] == ["get", "create"] and is_ready(result)[0]
    assert api.objects["churn"]["spec"]["predictor"]["model"]["storageUri"] == "s3://bucket/model"


def test_kserve_updates_an_existing_service() -> None:
    api = FakeCustomObjects(ready_after=0, existing=True)
    deploy_kserve(_service(), api=api, poll=0, sleep=lambda s: None)
    assert "patch" in api.calls and "create" not in api.calls


def test_kserve_wait_is_bounded() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 10

    with pytest.raises(ComponentError, match="not Ready within 30 s \\(Pending\\)"):
        deploy_kserve(
            _service(), api=FakeCustomObjects(ready_after=None), timeout=30, clock=lambda: now[0], sleep=sleep
        )


def test_switched_off_deployment_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setattr(core, "deploy", lambda *a: pytest.fail("deploy must not run"))
    skipped = json.loads(core.deploy_if_enabled(False, "models:/m@champion", "m"))
    assert skipped == {"deployed": False, "model_uri": "models:/m@champion", "reason": "deploy=false"}


def test_storage_uri_of_a_registered_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from iml4e_components.datasets.core import generate_churn
    from iml4e_components.training.core import train_estimator
    from iml4e_components.training.mlflow_model import log_sklearn_model

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    frame = generate_churn(100, seed=1)
    model = train_estimator(frame, "churned", drop_columns=["customer_id"])
    run_id = mlflow.MlflowClient().create_run(mlflow.MlflowClient().create_experiment("deploy")).info.run_id
    version = mlflow.register_model(log_sklearn_model(run_id, model, frame), "churn")
    mlflow.MlflowClient().set_registered_model_alias("churn", "champion", version.version)
    location = core.model_storage_uri("models:/churn@champion")
    assert location == core.model_storage_uri(f"models:/churn/{version.version}")
    assert (Path(location.removeprefix("file://")) / "MLmodel").is_file()
    assert core.model_storage_uri("s3://bucket/model") == "s3://bucket/model"
    with pytest.raises(ComponentError, match="cannot resolve model URI 'models:/churn@nope'"):
        core.model_storage_uri("models:/churn@nope")


# ---- canary rollouts ---------------------------------------------------------------------------


def _canary_service(traffic: int = 10) -> dict[str, Any]:
    return build_inference_service(
        "churn",
        "s3://bucket/v1",
        model_uri="models:/churn@champion",
        canary=core.Canary("s3://bucket/v2", "v2", traffic, "models:/churn@challenger"),
    )


def test_a_canary_is_kserve_standard_modes_canary_list() -> None:
    service = _canary_service(20)
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert service["metadata"]["annotations"][core.CANARY_URI_ANNOTATION] == "models:/churn@challenger"
    (canary,) = service["spec"]["canary"]
    assert canary["trafficPercent"] == 20 and canary["predictor"]["name"] == "v2"
    assert canary["predictor"]["model"]["storageUri"] == "s3://bucket/v2"
    assert canary["predictor"]["model"]["runtime"] == "iml4e-mlflow"
    assert canary["predictor"]["model"]["env"] == [{"name": "IML4E_SERVING_VARIANT", "value": "canary"}]
    assert service["spec"]["predictor"]["model"]["storageUri"] == "s3://bucket/v1"
    assert "canaryTrafficPercent" not in service["spec"]["predictor"]  # the Knative-mode field
    assert "canary" not in _service()["spec"]


@pytest.mark.parametrize("traffic", [-1, 101, 150])
def test_a_traffic_share_outside_0_to_100_is_refused_in_one_line(traffic: int) -> None:
    with pytest.raises(ComponentError) as refused:
        _canary_service(traffic)
    assert str(refused.value) == (
        f"canary_traffic={traffic} is not a traffic share; give a whole percentage from 0 to 100"
    )


def test_rollout_modes_and_canary_names_are_checked() -> None:
    core.check_rollout("replace", 0)
    core.check_rollout("canary", 100)
    with pytest.raises(ComponentError, match="rollout='blue-green' is not a rollout mode; use one of"):
        core.check_rollout("blue-green", 10)
    with pytest.raises(ComponentError, match="not a DNS label"):
        build_inference_service("churn", "s3://b/1", canary=core.Canary("s3://b/2", "V_2"))
    with pytest.raises(ComponentError, match="longer than 63 characters"):
        build_inference_service("c" * 45, "s3://b/1", canary=core.Canary("s3://b/2", "v123456789"))
    with pytest.raises(ComponentError, match="cannot read"):
        build_inference_service("churn", "s3://b/1", canary=core.Canary("/tmp/model", "v2"))
    assert core.canary_name("12") == "v12"


def test_promotion_makes_the_canary_the_primary_and_drops_the_list() -> None:
    patch = core.promote_patch(_canary_service())
    assert patch["spec"]["canary"] is None
    assert patch["spec"]["predictor"]["name"] == "v2"
    assert patch["spec"]["predictor"]["model"]["storageUri"] == "s3://bucket/v2"
    assert patch["spec"]["predictor"]["model"]["env"] is None  # no longer the canary
    assert patch["metadata"]["annotations"] == {
        core.MODEL_URI_ANNOTATION: "models:/churn@challenger",
        core.CANARY_URI_ANNOTATION: None,
    }


def test_rollback_drops_the_canary_only() -> None:
    assert core.rollback_patch(_canary_service()) == {
        "spec": {"canary": None},
        "metadata": {"annotations": {core.CANARY_URI_ANNOTATION: None}},
    }


def test_promote_or_rollback_without_a_canary_says_how_to_get_one() -> None:
    for make in (core.promote_patch, core.rollback_patch):
        with pytest.raises(ComponentError, match=r"iml4e-serving/churn has no canary .*rollout=canary"):
            make(_service())


def test_the_split_comes_from_the_spec_and_kserves_status() -> None:
    service = _canary_service(25)
    service["status"] = {
        "canaryStatuses": [{"name": "v2", "ready": True, "trafficPercent": 25}],
        "conditions": [{"type": "CanaryPredictorReady", "status": "True"}],
    }
    assert core.traffic_split(service) == {
        "primary": {"name": "", "traffic": 75},
        "canaries": [{"name": "v2", "traffic": 25, "ready": True}],
        "canary_ready": True,
    }


def test_a_replacement_ends_a_canary_in_flight() -> None:
    api = FakeCustomObjects(ready_after=0, existing=True)
    deploy_kserve(_service(), api=api, poll=0, sleep=lambda s: None)
    assert api.objects["churn"]["spec"]["canary"] is None


def test_the_local_canary_goes_through_iml4e_serve() -> None:
    assert serve_command("models:/m@champion", "m", "models:/m@challenger", 20)[3:] == [
        "serve", "models:/m@champion", "--name", "m",
        "--canary", "models:/m@challenger", "--canary-traffic", "20", "--detach", "--json",
    ]  # fmt: skip


def test_a_canary_rollout_serves_the_challenger_only_when_registration_held_it_back() -> None:
    held = '{"canary": true, "promoted": false}'
    assert core.rollout_uris("m", "canary", 10, held) == ("models:/m@champion", "models:/m@challenger")
    assert core.rollout_uris("m", "canary", 10, '{"canary": false}') == ("models:/m@champion", "")
    assert core.rollout_uris("m", "replace", 10, held) == ("models:/m@champion", "")
    with pytest.raises(ComponentError, match="canary_traffic=101"):
        core.rollout_uris("m", "canary", 101, held)


def test_a_canary_service_is_ready_when_its_canary_is() -> None:
    service = _canary_service()
    service["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    assert is_ready(service) == (False, "no CanaryPredictorReady condition yet")
    service["status"]["conditions"].append(
        {"type": "CanaryPredictorReady", "status": "False", "reason": "CanaryNotReady"}
    )
    assert is_ready(service) == (False, "CanaryNotReady")
    service["status"]["conditions"][1]["status"] = "True"
    assert is_ready(service) == (True, "")
    assert is_ready({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}) == (True, "")
