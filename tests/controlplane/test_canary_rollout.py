"""A canary InferenceService, its promotion and its rollback against a real API server holding
KServe v0.20's own InferenceService CRD (from ../shared/k8s, the release iml4e installs).

No KServe controller runs here (no container runtime): what is checked is what the API server
stores after each request, validated and pruned by the CRD's schema, i.e. the objects KServe's
controller is handed. The one status write below stands in for that controller's Ready condition so
that `deploy_kserve`, which waits for it, can run unchanged.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BUNDLE, Cluster
from envtest import free_port
from object_store_emulator import use_s3

from iml4e_components.conventions import SERVING_NAMESPACE
from iml4e_components.deployment import core
from iml4e_components.errors import ComponentError

pytestmark = [pytest.mark.timeout(600)]

CRD = "inferenceservices.serving.kserve.io"
PRIMARY, CANARY = "s3://iml4e/mlflow/1/model", "s3://iml4e/mlflow/2/model"


def _kserve_crd() -> dict[str, Any]:
    manifest = BUNDLE / "upstream" / "kserve" / "v0.20.0" / "manifest.yaml"
    with manifest.open(encoding="utf-8") as stream:
        for document in yaml.safe_load_all(stream):
            if (
                document
                and document["kind"] == "CustomResourceDefinition"
                and document["metadata"]["name"] == CRD
            ):
                return dict(document)
    raise AssertionError(f"{manifest} holds no {CRD}")


@pytest.fixture(scope="module")
def kserve_api(bare_cluster: Cluster) -> Iterator[Any]:
    """A CustomObjectsApi on a control plane that knows KServe v0.20's InferenceService."""
    from kubernetes import client

    from iml4e.installer.cluster import KubernetesCluster

    cluster = KubernetesCluster(str(bare_cluster.kubeconfig), timeout=30)
    assert cluster.apply(_kserve_crd()) == "created"
    assert cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SERVING_NAMESPACE}})
    for _ in range(120):  # a wait, bounded, not a timed assertion
        crd = cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", CRD) or {}
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            break
        time.sleep(0.5)
    yield client.CustomObjectsApi(bare_cluster.api())


def _canary_service(name: str, traffic: int = 10) -> dict[str, Any]:
    return core.build_inference_service(
        name,
        PRIMARY,
        model_uri="models:/churn@champion",
        canary=core.Canary(CANARY, "v2", traffic, "models:/churn@challenger"),
    )


def _create(api: Any, service: dict[str, Any]) -> dict[str, Any]:
    return dict(
        api.create_namespaced_custom_object(core.GROUP, core.VERSION, SERVING_NAMESPACE, core.PLURAL, service)
    )


def _read(api: Any, name: str) -> dict[str, Any]:
    return dict(
        api.get_namespaced_custom_object(core.GROUP, core.VERSION, SERVING_NAMESPACE, core.PLURAL, name)
    )


def test_a_canary_is_accepted_by_kserves_crd_and_kept_whole(kserve_api: Any) -> None:
    stored = _create(kserve_api, _canary_service("churn-accepted", traffic=20))
    # Whatever the schema does not know it prunes silently: the canary must come back as sent.
    assert stored["spec"]["canary"] == _canary_service("churn-accepted", traffic=20)["spec"]["canary"]
    assert stored["spec"]["predictor"]["model"]["storageUri"] == PRIMARY
    assert stored["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    split = core.traffic_split(stored)
    assert split["primary"]["traffic"] == 80 and split["canaries"] == [{"name": "v2", "traffic": 20}]


def test_promotion_makes_the_canary_the_primary(kserve_api: Any) -> None:
    _create(kserve_api, _canary_service("churn-promoted"))
    core.apply_rollout("churn-promoted", "promote", api=kserve_api)
    stored = _read(kserve_api, "churn-promoted")
    predictor = stored["spec"]["predictor"]
    assert "canary" not in stored["spec"]
    assert predictor["name"] == "v2"  # KServe keeps the canary's Deployment and pods under this name
    assert predictor["model"]["storageUri"] == CANARY
    assert predictor["serviceAccountName"] == "iml4e-model-server" and predictor["minReplicas"] == 1
    assert "env" not in predictor["model"]  # its pods report variant=primary now
    annotations = stored["metadata"]["annotations"]
    assert annotations[core.MODEL_URI_ANNOTATION] == "models:/churn@challenger"
    assert core.CANARY_URI_ANNOTATION not in annotations


def test_rollback_leaves_the_primary_alone(kserve_api: Any) -> None:
    created = _create(kserve_api, _canary_service("churn-rolled-back"))
    core.apply_rollout("churn-rolled-back", "rollback", api=kserve_api)
    stored = _read(kserve_api, "churn-rolled-back")
    assert "canary" not in stored["spec"]
    assert stored["spec"]["predictor"] == created["spec"]["predictor"]
    assert stored["metadata"]["annotations"][core.MODEL_URI_ANNOTATION] == "models:/churn@champion"
    assert core.CANARY_URI_ANNOTATION not in stored["metadata"]["annotations"]
    with pytest.raises(ComponentError) as refused:
        core.apply_rollout("churn-rolled-back", "rollback", api=kserve_api)
    assert str(refused.value) == (
        f"InferenceService {SERVING_NAMESPACE}/churn-rolled-back has no canary to roll back; "
        "deploy one first with rollout=canary"
    )


def test_a_replacement_ends_the_canary(kserve_api: Any) -> None:
    _create(kserve_api, _canary_service("churn-replaced"))
    # Stands in for KServe's controller: the Ready condition deploy_kserve waits for.
    kserve_api.patch_namespaced_custom_object_status(
        core.GROUP,
        core.VERSION,
        SERVING_NAMESPACE,
        core.PLURAL,
        "churn-replaced",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    )
    replacement = core.build_inference_service("churn-replaced", CANARY)
    applied = core.deploy_kserve(replacement, api=kserve_api, timeout=30, poll=0.5)
    assert "canary" not in applied["spec"]
    assert applied["spec"]["predictor"]["model"]["storageUri"] == CANARY


def test_a_bad_traffic_share_is_refused_in_one_line(kserve_api: Any) -> None:
    with pytest.raises(ComponentError) as ours:
        _canary_service("churn-bad", traffic=150)
    assert str(ours.value) == (
        "canary_traffic=150 is not a traffic share; give a whole percentage from 0 to 100"
    )
    # Sent anyway, KServe's CRD schema refuses it too (trafficPercent: minimum 0, maximum 100).
    sent = _canary_service("churn-bad")
    sent["spec"]["canary"][0]["trafficPercent"] = 150
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        _create(kserve_api, sent)
    assert refused.value.status == 422
    assert "spec.canary[0].trafficPercent" in core._api_reason(refused.value)
    assert "\n" not in core._api_reason(refused.value)


def test_promoting_a_missing_service_says_so(kserve_api: Any) -> None:
    with pytest.raises(ComponentError) as refused:
        core.apply_rollout("nobody", "promote", api=kserve_api)
    assert str(refused.value) == (
        f"InferenceService {SERVING_NAMESPACE}/nobody does not exist; deploy the model first, "
        "or name the namespace it is in"
    )


def test_a_rollout_onto_a_changed_object_is_refused_not_mixed(kserve_api: Any) -> None:
    """Promotion patches the object it read: if it changed in between, the API server says so."""
    _create(kserve_api, _canary_service("churn-raced"))
    real_get = kserve_api.get_namespaced_custom_object

    class ChangedMeanwhile:
        def get_namespaced_custom_object(self, *args: Any) -> Any:
            read = real_get(*args)
            kserve_api.patch_namespaced_custom_object(
                *args, {"spec": {"canary": [{**read["spec"]["canary"][0], "trafficPercent": 50}]}}
            )
            return read

        def patch_namespaced_custom_object(self, *args: Any) -> Any:
            return kserve_api.patch_namespaced_custom_object(*args)

    with pytest.raises(ComponentError) as refused:
        core.apply_rollout("churn-raced", "promote", api=ChangedMeanwhile())
    message = str(refused.value)
    assert message.startswith(
        f"cannot promote the canary of InferenceService {SERVING_NAMESPACE}/churn-raced: "
    )
    assert "the object has been modified" in message and "\n" not in message
    assert _read(kserve_api, "churn-raced")["spec"]["canary"][0]["trafficPercent"] == 50  # left as it was


# ---- `iml4e rollout status|promote|rollback NAME --cluster`, run as a user types it ------------------


@dataclass(frozen=True)
class Registry:
    """A real MLflow server on loopback (the local platform's, `iml4e up`) and its client."""

    tracking_uri: str
    client: Any

    def register(self, model: str) -> None:
        """Versions 1 (champion) and 2 (challenger, the canary's) of `model`."""
        self.client.create_registered_model(model)
        for source in (PRIMARY, CANARY):
            self.client.create_model_version(model, source)
        self.client.set_registered_model_alias(model, "champion", "1")
        self.client.set_registered_model_alias(model, "challenger", "2")

    def aliases(self, model: str) -> dict[str, str]:
        return {alias: str(v) for alias, v in self.client.get_registered_model(model).aliases.items()}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    import mlflow

    from iml4e.local import platform

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IML4E_HOME", str(tmp_path_factory.mktemp("mlflow-home")))
        try:
            uri = platform.up().status.record.url
            yield Registry(uri, mlflow.MlflowClient(uri, uri))
        finally:
            platform.down()


def _cli_canary(api: Any, name: str, model: str = "churn") -> dict[str, Any]:
    service = core.build_inference_service(
        name,
        PRIMARY,
        model_uri=f"models:/{model}@champion",
        canary=core.Canary(CANARY, "v2", 10, f"models:/{model}@challenger"),
    )
    return _create(api, service)


def _rollout(cluster: Cluster, *args: str, kubeconfig: str = "", expect: int = 0) -> Any:
    """`iml4e rollout ARGS --cluster --kubeconfig K` (the admin's kubeconfig unless one is given)."""
    return cluster.iml4e(
        "rollout", *args, "--cluster", "--kubeconfig", kubeconfig or str(cluster.kubeconfig), expect=expect
    )


def _rollout_json(cluster: Cluster, *args: str, kubeconfig: str = "") -> Any:
    return json.loads(_rollout(cluster, *args, "--json", kubeconfig=kubeconfig).stdout)


def _stderr_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cluster_status_shows_both_variants_as_kserve_reports_them(
    kserve_api: Any, bare_cluster: Cluster
) -> None:
    _cli_canary(kserve_api, "churn-status")
    # Stands in for KServe's controller: the primary's predictor is ready, the canary's is not yet.
    kserve_api.patch_namespaced_custom_object_status(
        core.GROUP,
        core.VERSION,
        SERVING_NAMESPACE,
        core.PLURAL,
        "churn-status",
        {
            "status": {
                "url": "http://churn-status.iml4e-serving.svc.cluster.local",
                "conditions": [
                    {"type": "PredictorReady", "status": "True"},
                    {"type": "Ready", "status": "True"},
                    {"type": "CanaryPredictorReady", "status": "False", "message": "pulling the image"},
                ],
                "canaryStatuses": [{"name": "v2", "trafficPercent": 10, "ready": False}],
            }
        },
    )
    data = _rollout_json(bare_cluster, "status", "churn-status")
    assert data["namespace"] == SERVING_NAMESPACE and data["context"] == "envtest"
    assert data["ready"] is False and data["ready_reason"] == "pulling the image"
    assert data["variants"] == [
        {
            "variant": "primary",
            "predictor": "",
            "model_uri": "models:/churn@champion",
            "storage_uri": PRIMARY,
            "version": "",
            "traffic": 90,
            "ready": True,
        },
        {
            "variant": "canary",
            "predictor": "v2",
            "model_uri": "models:/churn@challenger",
            "storage_uri": CANARY,
            "version": "2",
            "traffic": 10,
            "ready": False,
        },
    ]
    table = _rollout(bare_cluster, "status", "churn-status")
    rows = [line for line in table.stdout.splitlines() if "s3://" in line]
    assert len(rows) == 2  # one line each: URIs are never broken
    assert all(word in rows[0] for word in ("primary", "models:/churn@champion", PRIMARY, "90%", "yes"))
    assert all(word in rows[1] for word in ("canary", "v2", "models:/churn@challenger", CANARY, "10%", "no"))
    assert "is not Ready: pulling the image" in table.stderr


def test_cluster_promote_patches_the_service_and_moves_champion(
    kserve_api: Any, bare_cluster: Cluster, registry: Registry
) -> None:
    registry.register("churn-promote")
    _cli_canary(kserve_api, "churn-cli-promoted", "churn-promote")
    data = _rollout_json(
        bare_cluster, "promote", "churn-cli-promoted", "--tracking-uri", registry.tracking_uri
    )
    stored = _read(kserve_api, "churn-cli-promoted")
    assert "canary" not in stored["spec"]
    assert stored["spec"]["predictor"]["name"] == "v2"
    assert stored["spec"]["predictor"]["model"]["storageUri"] == CANARY
    assert stored["metadata"]["annotations"][core.MODEL_URI_ANNOTATION] == "models:/churn-promote@challenger"
    assert data["promoted"]["storage_uri"] == CANARY
    assert [v["variant"] for v in data["serving"]] == ["primary"]
    assert data["serving"][0]["traffic"] == 100 and data["serving"][0]["version"] == "2"
    assert data["registry"] == {
        "moved": True,
        "alias": "champion",
        "model": "churn-promote",
        "version": "2",
        "tracking_uri": registry.tracking_uri,
    }
    assert registry.aliases("churn-promote") == {"champion": "2"}  # challenger cleared
    again = _rollout(bare_cluster, "promote", "churn-cli-promoted", expect=2)
    assert _stderr_line(again) == (
        f"error: InferenceService {SERVING_NAMESPACE}/churn-cli-promoted has no canary to promote; "
        "deploy one first with rollout=canary"
    )


def test_cluster_rollback_clears_challenger_and_says_when_mlflow_is_unknown(
    kserve_api: Any, bare_cluster: Cluster, registry: Registry
) -> None:
    registry.register("churn-rollback")
    created = _cli_canary(kserve_api, "churn-cli-rolled-back", "churn-rollback")
    result = _rollout(
        bare_cluster, "rollback", "churn-cli-rolled-back", "--tracking-uri", registry.tracking_uri
    )
    assert result.stderr.splitlines() == [
        f"rolled back the canary of InferenceService {SERVING_NAMESPACE}/churn-cli-rolled-back on envtest: "
        "models:/churn-rollback@challenger",
        f"MLflow alias 'challenger' of churn-rollback cleared ({registry.tracking_uri})",
    ]
    stored = _read(kserve_api, "churn-cli-rolled-back")
    assert "canary" not in stored["spec"] and stored["spec"]["predictor"] == created["spec"]["predictor"]
    assert registry.aliases("churn-rollback") == {"champion": "1"}

    # Without a tracking URI (the managed MLflow is inside the cluster) the service changes and the
    # output says why the alias did not move.
    registry.client.set_registered_model_alias("churn-rollback", "challenger", "2")
    _cli_canary(kserve_api, "churn-cli-no-mlflow", "churn-rollback")
    data = _rollout_json(bare_cluster, "rollback", "churn-cli-no-mlflow")
    assert "canary" not in _read(kserve_api, "churn-cli-no-mlflow")["spec"]
    assert data["registry"] == {
        "moved": False,
        "alias": "challenger",
        "reason": "the cluster's MLflow is managed by iml4e and its address is inside the cluster; pass "
        "--tracking-uri URL (the URL 'iml4e open mlflow' prints) to move the aliases",
    }
    assert registry.aliases("churn-rollback") == {"champion": "1", "challenger": "2"}


def test_cluster_rollout_errors_are_one_line_with_exit_2(
    kserve_api: Any, bare_cluster: Cluster, tmp_path: Path
) -> None:
    missing = _rollout(bare_cluster, "status", "nobody", expect=2)
    assert _stderr_line(missing) == (
        f"error: InferenceService {SERVING_NAMESPACE}/nobody does not exist; deploy the model first, "
        "or name the namespace it is in"
    )
    elsewhere = _rollout(bare_cluster, "promote", "nobody", "-n", "default", expect=2)
    assert "InferenceService default/nobody does not exist" in _stderr_line(elsewhere)

    closed = bare_cluster.plane.write_kubeconfig(tmp_path / "closed", "admin")
    closed.write_text(
        closed.read_text().replace(bare_cluster.plane.server, f"https://127.0.0.1:{free_port()}")
    )
    unreachable = _rollout(bare_cluster, "rollback", "churn", kubeconfig=str(closed), expect=2)
    line = _stderr_line(unreachable)
    assert line.startswith("error: cannot reach the Kubernetes API at https://127.0.0.1:")
    assert line.endswith("start the cluster or pick another context (--context)")

    local_only = bare_cluster.iml4e("rollout", "promote", "churn", "-n", "team-a", expect=2)
    assert _stderr_line(local_only) == (
        "error: option --namespace needs --cluster (the cluster target); add --cluster or leave it out"
    )


def test_cluster_rollout_forbidden_by_rbac_names_the_permission(
    kserve_api: Any, bare_cluster: Cluster, tmp_path: Path
) -> None:
    """A user who may read InferenceServices but not patch them: status works, promote is refused in
    one line naming the permission, and the service is left as it was."""
    from kubernetes import client

    api = bare_cluster.api()
    core_v1, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core_v1.create_namespaced_service_account(SERVING_NAMESPACE, {"metadata": {"name": "viewer"}})
    rbac.create_namespaced_role(
        SERVING_NAMESPACE,
        {
            "metadata": {"name": "isvc-viewer"},
            "rules": [{"apiGroups": [core.GROUP], "resources": [core.PLURAL], "verbs": ["get"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        SERVING_NAMESPACE,
        {
            "metadata": {"name": "isvc-viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "isvc-viewer"},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": SERVING_NAMESPACE}],
        },
    )
    core_v1.create_namespaced_service_account(SERVING_NAMESPACE, {"metadata": {"name": "stranger"}})

    def kubeconfig_of(account: str) -> str:
        token = core_v1.create_namespaced_service_account_token(
            account, SERVING_NAMESPACE, {"spec": {"expirationSeconds": 600}}
        ).status.token
        return str(bare_cluster.plane.write_kubeconfig(tmp_path / account, account, token=token))

    viewer, stranger = kubeconfig_of("viewer"), kubeconfig_of("stranger")
    created = _cli_canary(kserve_api, "churn-guarded")

    shown = _rollout_json(bare_cluster, "status", "churn-guarded", kubeconfig=viewer)
    assert [v["variant"] for v in shown["variants"]] == ["primary", "canary"]
    refused = _rollout(bare_cluster, "promote", "churn-guarded", kubeconfig=viewer, expect=2)
    line = _stderr_line(refused)
    assert line.startswith(
        f"error: cannot promote the canary of InferenceService {SERVING_NAMESPACE}/churn-guarded: "
    )
    assert "forbidden" in line
    assert line.endswith(
        f"grant that user 'patch' on inferenceservices.serving.kserve.io in namespace {SERVING_NAMESPACE} "
        "(a Role and RoleBinding), or use a kubeconfig context whose user has it"
    )
    assert _read(kserve_api, "churn-guarded")["spec"] == created["spec"]
    unseen = _rollout(bare_cluster, "status", "churn-guarded", kubeconfig=stranger, expect=2)
    line = _stderr_line(unseen)
    assert line.startswith(f"error: cannot read InferenceService {SERVING_NAMESPACE}/churn-guarded: ")
    assert "forbidden" in line and "grant that user 'get' on inferenceservices.serving.kserve.io" in line


# ---- `iml4e rollout watch NAME --cluster`: judged on the object store's request log -------------------
#
# The request records are uploaded by the model server's own log writer (`ObjectStoreLogWriter`, with
# the fields the server adds: variant, version, status, latency) to moto's S3 server on a loopback port
# (tests/object_store_emulator.py says why an emulator), as the primary's and the canary's
# pods do on the cluster; the InferenceService is KServe v0.20's on the real API server.

#: Small windows and thresholds, so that each watch decides within seconds.
FAST_ROLLOUT = {
    "window_seconds": 30,
    "min_requests": 20,
    "promote_after_seconds": 3,
    "interval_seconds": 0.2,
    "p99_latency_slack_ms": 1000,
}
LOG_BUCKET = "iml4e"  # services.object_store.bucket's default: the watch finds it in iml4e.yaml


@pytest.fixture
def request_log(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The object store as the watch reaches it: endpoint and keys in the environment."""
    from iml4e_components.object_store import client_from_env
    from iml4e_components.serving.log_store import BUCKET_ENV, ObjectStoreLogStore

    use_s3(monkeypatch, s3_endpoint)
    monkeypatch.delenv(BUCKET_ENV, raising=False)
    client = client_from_env("the test")
    if not client.bucket_exists(LOG_BUCKET):
        client.make_bucket(LOG_BUCKET)
    return ObjectStoreLogStore(client, LOG_BUCKET)


class ServedTraffic:
    """Requests to both variants of one InferenceService, logged as its model servers log them:
    `canary_errors` of the canary's answers are 5xx (no outputs), the rest 200."""

    def __init__(self, store: Any, model: str, canary_errors: float) -> None:
        import random
        import threading

        from iml4e_components.serving.log_store import ObjectStoreLogWriter

        self._writer = ObjectStoreLogWriter(
            store.client, store.bucket, store.prefix, model, batch_records=40, flush_seconds=0.2
        )
        self._random = random.Random(15)  # seeded: the same traffic on every run
        self._canary_errors = canary_errors
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.count = 0

    def __enter__(self) -> ServedTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._writer.close()

    def _serve(self) -> None:
        import numpy as np

        while not self._stop.wait(0.01):
            for _ in range(4):
                variant = "canary" if self._random.random() < 0.3 else "primary"
                failed = variant == "canary" and self._random.random() < self._canary_errors
                fields = {
                    "variant": variant,
                    "version": "2" if variant == "canary" else "1",
                    "status": 500 if failed else 200,
                    "latency_ms": round(self._random.uniform(2.0, 6.0), 3),
                }
                inputs = {} if failed else {"age": np.array([30 + self.count % 40])}
                outputs = np.array([]) if failed else np.array([self.count % 2])
                self._writer.offer("v2", inputs, outputs, time.time(), f"req-{self.count}", fields)
                self.count += 1


def _watch_config(tmp_path: Path, **overrides: Any) -> str:
    path = tmp_path / "iml4e.yaml"
    path.write_text(yaml.safe_dump({"rollout": {**FAST_ROLLOUT, **overrides}}))
    return str(path)


def test_cluster_watch_rolls_back_a_broken_canary(
    kserve_api: Any, bare_cluster: Cluster, request_log: Any, registry: Registry, tmp_path: Path
) -> None:
    from iml4e_components.lineage.store import read_events

    registry.register("churn-watch-model")
    created = _cli_canary(kserve_api, "churn-watch-broken", "churn-watch-model")
    with ServedTraffic(request_log, "churn-watch-broken", canary_errors=0.2):
        data = _rollout_json(
            bare_cluster,
            "watch",
            "churn-watch-broken",
            "-c",
            _watch_config(tmp_path),
            "--timeout",
            "60",
            "--tracking-uri",
            registry.tracking_uri,
        )
    assert data["action"] == "rollback" and data["acted"] is True, data
    assert any("5xx" in reason or "error" in reason for reason in data["reasons"]), data["reasons"]
    canary, primary = data["figures"]["canary"], data["figures"]["primary"]
    assert canary["server_errors"] >= 3 and primary["server_errors"] == 0
    assert data["request_log"] == f"s3://{LOG_BUCKET}/request-logs/churn-watch-broken/"
    # The object as KServe expects it after a rollback: no canary, the primary as it was.
    stored = _read(kserve_api, "churn-watch-broken")
    assert "canary" not in stored["spec"] and stored["spec"]["predictor"] == created["spec"]["predictor"]
    assert (
        stored["metadata"]["annotations"][core.MODEL_URI_ANNOTATION] == "models:/churn-watch-model@champion"
    )
    assert core.CANARY_URI_ANNOTATION not in stored["metadata"]["annotations"]
    assert [v["variant"] for v in data["serving"]] == ["primary"]
    # Recorded as locally: the aliases, the tags on the canary's version, an OpenLineage event.
    assert data["registry"]["moved"] is True and registry.aliases("churn-watch-model") == {"champion": "1"}
    tags = registry.client.get_model_version("churn-watch-model", "2").tags
    assert (
        tags["iml4e.rollout.decision"] == "rollback"
        and tags["iml4e.rollout.served_as"] == "churn-watch-broken"
    )
    assert json.loads(tags["iml4e.rollout.figures"])["canary.server_errors"] == canary["server_errors"]
    events = [e for e in read_events() if e["job"]["name"] == "rollout_decision"]
    recorded = events[-1]["run"]["facets"]["iml4e"]["values"]
    assert recorded["decision"] == "rollback" and recorded["model_version"] == "2"


def test_cluster_watch_promotes_a_good_canary_after_promote_after_seconds(
    kserve_api: Any, bare_cluster: Cluster, request_log: Any, tmp_path: Path
) -> None:
    _cli_canary(kserve_api, "churn-watch-good")
    with ServedTraffic(request_log, "churn-watch-good", canary_errors=0.0):
        result = _rollout(
            bare_cluster, "watch", "churn-watch-good", "-c", _watch_config(tmp_path), "--timeout", "60"
        )
    said = re.fullmatch(
        f"promoted the canary of InferenceService {SERVING_NAMESPACE}/churn-watch-good on envtest "
        r"\(models:/churn@challenger\) after (\d+\.\d) s: .*",
        result.stderr.splitlines()[0],
    )
    assert said is not None, result.stderr
    assert float(said.group(1)) >= FAST_ROLLOUT["promote_after_seconds"]  # not before, whatever the load
    rows = [line for line in result.stdout.splitlines() if re.search(r"\b(primary|canary)\b.*0\.0000", line)]
    assert len(rows) == 2, result.stdout  # the figures: no 5xx on either variant
    stored = _read(kserve_api, "churn-watch-good")
    assert "canary" not in stored["spec"]
    assert stored["spec"]["predictor"]["name"] == "v2"
    assert stored["spec"]["predictor"]["model"]["storageUri"] == CANARY
    assert "env" not in stored["spec"]["predictor"]["model"]


def test_cluster_watch_dry_run_and_timeout_leave_the_service(
    kserve_api: Any, bare_cluster: Cluster, request_log: Any, tmp_path: Path
) -> None:
    created = _cli_canary(kserve_api, "churn-watch-idle")
    config = _watch_config(tmp_path)
    idle = _rollout(bare_cluster, "watch", "churn-watch-idle", "-c", config, "--timeout", "1", expect=1)
    line = _stderr_line(idle)
    assert line.startswith(
        f"error: no decision on the canary of InferenceService {SERVING_NAMESPACE}/churn-watch-idle within 1 s ("
    )
    assert line.endswith("the InferenceService is unchanged: send more traffic or watch longer")
    with ServedTraffic(request_log, "churn-watch-idle", canary_errors=0.2):
        data = _rollout_json(bare_cluster, "watch", "churn-watch-idle", "-c", config, "--dry-run")
    assert data["action"] == "rollback" and data["acted"] is False and data["serving"] is None
    assert _read(kserve_api, "churn-watch-idle")["spec"] == created["spec"]


def test_cluster_watch_bad_input_is_one_line_with_exit_2(
    kserve_api: Any, bare_cluster: Cluster, request_log: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _watch_config(tmp_path)
    missing = _rollout(bare_cluster, "watch", "nobody", "-c", config, expect=2)
    assert _stderr_line(missing) == (
        f"error: InferenceService {SERVING_NAMESPACE}/nobody does not exist; deploy the model first, "
        "or name the namespace it is in"
    )
    _create(kserve_api, core.build_inference_service("churn-watch-plain", PRIMARY))
    plain = _rollout(bare_cluster, "watch", "churn-watch-plain", "-c", config, expect=2)
    assert _stderr_line(plain) == (
        f"error: InferenceService {SERVING_NAMESPACE}/churn-watch-plain has no canary to watch; "
        "deploy one first with rollout=canary"
    )
    idle = core.Canary(CANARY, "v2", 0, "models:/churn@challenger")
    _create(kserve_api, core.build_inference_service("churn-watch-zero", PRIMARY, canary=idle))
    zero = _rollout(bare_cluster, "watch", "churn-watch-zero", "-c", config, expect=2)
    assert _stderr_line(zero) == (
        f"error: the canary of InferenceService {SERVING_NAMESPACE}/churn-watch-zero takes 0% of the requests, "
        "so it can never reach rollout.min_requests; give it a trafficPercent above 0"
    )
    _cli_canary(kserve_api, "churn-watch-nowhere")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    nowhere = _rollout(bare_cluster, "watch", "churn-watch-nowhere", "-c", config, expect=2)
    assert _stderr_line(nowhere) == (
        "error: cannot reach the object store for the request log (s3://iml4e/request-logs): "
        "set AWS_ENDPOINT_URL to the S3 endpoint"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    down = _rollout(bare_cluster, "watch", "churn-watch-nowhere", "-c", config, expect=2)
    assert _stderr_line(down).endswith("check AWS_ENDPOINT_URL")
    local_only = bare_cluster.iml4e("rollout", "watch", "churn", "--context", "prod", expect=2)
    assert _stderr_line(local_only) == (
        "error: option --context needs --cluster (the cluster target); add --cluster or leave it out"
    )
    assert "canary" in _read(kserve_api, "churn-watch-nowhere")["spec"]
