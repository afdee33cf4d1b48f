"""A canary InferenceService, its promotion and its rollback against a real API server holding
KServe v0.20's own InferenceService CRD (from ../shared/k8s, the release iml4e installs).

No KServe controller runs here (no container runtime): what is checked is what the API server
stores after each request, validated and pruned by the CRD's schema, i.e. the objects KServe's
controller is handed. The one status write below stands in for that controller's Ready condition so
that `deploy_kserve`, which waits for it, can run unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from conftest import BUNDLE, Cluster

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
