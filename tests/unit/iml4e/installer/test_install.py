"""Planning an install without a cluster: stage order, added namespaces, config checksums, webhook retries.

What an install does against a cluster (applying, waiting, resuming, dry runs) is tested against a
real API server in tests/controlplane.
"""

from __future__ import annotations

from typing import Any

import pytest

from iml4e.installer.checksums import CHECKSUM_ANNOTATION, stamp_config_checksums
from iml4e.installer.config import PlatformConfig
from iml4e.installer.credentials import plan_secrets
from iml4e.installer.install import describe, plan_stages
from iml4e.installer.render import STAGES, render_platform

CERT_MANAGER = [
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "certificates.cert-manager.io"},
    },
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cert-manager"}},
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "cert-manager-webhook", "namespace": "cert-manager"},
        "spec": {"replicas": 1},
    },
]
KSERVE = [
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "servingruntimes.serving.kserve.io"},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "kserve-controller-manager", "namespace": "kserve"},
        "spec": {"replicas": 1},
    },
]
KFP = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}},
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ml-pipeline", "namespace": "kubeflow"},
        "spec": {"replicas": 1},
    },
]
UPSTREAM = [("cert-manager", CERT_MANAGER), ("controllers", KSERVE), ("controllers", KFP)]


def _order(config: PlatformConfig) -> dict[str, int]:
    secrets = plan_secrets(config, lambda namespace, name: None)
    stages = plan_stages(render_platform(config), UPSTREAM, secrets)
    assert [stage.name for stage in stages] == list(STAGES)
    order = [describe(obj) for stage in stages for obj in stage.objects]
    return {target: index for index, target in enumerate(order)}


def test_stages_apply_in_order_and_crds_come_first() -> None:
    position = _order(PlatformConfig())
    assert (
        position["CustomResourceDefinition servingruntimes.serving.kserve.io"]
        < position["Deployment cert-manager/cert-manager-webhook"]
    )
    assert (
        position["Deployment cert-manager/cert-manager-webhook"]
        < position["Deployment kserve/kserve-controller-manager"]
    )
    assert position["Deployment kserve/kserve-controller-manager"] < position["Secret iml4e/iml4e-postgres"]
    assert position["Secret iml4e/iml4e-postgres"] < position["StatefulSet iml4e/iml4e-postgres"]
    assert position["Deployment iml4e/iml4e-mlflow"] < position["ServingRuntime iml4e-serving/iml4e-mlflow"]


def test_a_namespace_upstream_uses_but_does_not_ship_is_created_first_with_its_pod_security() -> None:
    position = _order(PlatformConfig())
    assert position["Namespace kserve"] < position["Deployment kserve/kserve-controller-manager"]
    stages = plan_stages(render_platform(PlatformConfig()), UPSTREAM, [])
    kserve = next(o for s in stages for o in s.objects if describe(o) == "Namespace kserve")
    assert kserve["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert kserve["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "iml4e"
    # cert-manager ships its Namespace without a Pod Security level: the installer adds one.
    cert_manager = next(o for s in stages for o in s.objects if describe(o) == "Namespace cert-manager")
    assert cert_manager["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _workload(name: str, pod: dict[str, Any], kind: str = "Deployment") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"template": {"metadata": {}, "spec": pod}},
    }


def test_pod_templates_carry_the_checksum_of_the_config_they_read() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ns"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw", "namespace": "ns"}}
    reads_both = _workload(
        "app",
        {
            "containers": [
                {"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}]},
            ],
            "volumes": [{"name": "v", "secret": {"secretName": "pw"}}],
        },
    )
    reads_nothing = _workload("other", {"containers": [{"name": "c"}]})

    def stamp(cfg: dict[str, str], pw: dict[str, str]) -> dict[str, str]:
        objects = [{**config, "data": cfg}, {**secret, "data": pw}, reads_both, reads_nothing]
        stamped = {o["metadata"]["name"]: o for o in stamp_config_checksums(objects)}
        assert "annotations" not in stamped["other"]["spec"]["template"]["metadata"]
        return stamped["app"]["spec"]["template"]["metadata"]["annotations"]  # type: ignore[no-any-return]

    first = stamp({"BUCKET": "a"}, {"password": "eA=="})
    assert stamp({"BUCKET": "a"}, {"password": "eA=="}) == first  # stable
    assert stamp({"BUCKET": "b"}, {"password": "eA=="})[CHECKSUM_ANNOTATION] != first[CHECKSUM_ANNOTATION]
    assert stamp({"BUCKET": "a"}, {"password": "eQ=="})[CHECKSUM_ANNOTATION] != first[CHECKSUM_ANNOTATION]
    assert "annotations" not in reads_both["spec"]["template"]["metadata"]  # the input is not changed


def test_minimal_profile_has_no_cert_manager_stage() -> None:
    config = PlatformConfig(profile="minimal")
    stages = plan_stages(render_platform(config), [("controllers", KFP)], [])
    assert [s.name for s in stages] == ["namespaces-crds", "controllers", "services"]


class _Clock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class _Answers:
    """The retry policy's input: an apply that fails with the given messages, then succeeds.

    Only the policy is tested here (which errors are retried, for how long); webhooks that really
    refuse are not available on the test API server (no Pod can serve them).
    """

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures

    def apply(self, obj: dict[str, Any], dry_run: bool = False) -> str:
        from iml4e.errors import ServiceError

        if self.failures:
            raise ServiceError(self.failures.pop(0))
        return "created"


def test_applies_retry_while_a_webhook_is_starting_and_give_up_at_the_deadline() -> None:
    from iml4e.errors import ServiceError
    from iml4e.installer.install import apply_when_webhooks_answer

    obj = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": "i", "namespace": "kserve"},
    }
    starting = 'applying Issuer kserve/i failed: failed calling webhook "webhook.cert-manager.io"'
    clock = _Clock()
    cluster: Any = _Answers([starting, starting])
    assert apply_when_webhooks_answer(cluster, obj, False, 60, clock, clock.sleep) == "created"
    assert clock.sleeps == [2.0, 2.0]

    cluster.failures = [starting] * 1000
    with pytest.raises(ServiceError, match="failed calling webhook"):
        apply_when_webhooks_answer(cluster, obj, False, clock.now + 10, clock, clock.sleep)
    assert len(clock.sleeps) <= 2 + 5  # bounded by the deadline

    cluster.failures = ["applying Issuer kserve/i failed: spec.acme: Required value"]
    before = len(clock.sleeps)
    with pytest.raises(ServiceError, match="Required value"):
        apply_when_webhooks_answer(cluster, obj, False, clock.now + 60, clock, clock.sleep)
    assert len(clock.sleeps) == before  # other errors are not retried
