"""Staged install: order, bounded waits, failure messages, idempotency, resume, dry run.

Runs against `FakeCluster` (tests/unit/installer/fake_cluster.py), a recording stand-in for the
Kubernetes API server: the one place a fake is right, since no API server can run here.
"""

from __future__ import annotations

from typing import Any

import pytest
from fake_cluster import FakeClock, FakeCluster

from iml4e.installer.config import PlatformConfig
from iml4e.installer.install import StageFailed, plan_stages, read_record, run_install
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


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def stage_started(self, stage: str, total: int) -> None:
        self.events.append(("start", stage))

    def applied(self, obj: dict[str, Any], outcome: str) -> None:
        pass

    def waiting(self, stage: str, pending: list[str], elapsed: float, timeout: float) -> None:
        self.events.append(("wait", stage, pending[0]))

    def stage_finished(self, stage: str, changed: int) -> None:
        self.events.append(("done", stage))


def _install(cluster: FakeCluster, config: PlatformConfig | None = None, **kwargs: Any) -> Any:
    config = config or PlatformConfig()
    clock = kwargs.pop("clock", FakeClock())
    return run_install(
        cluster, config, render_platform(config), UPSTREAM, clock=clock, sleep=clock.sleep, **kwargs
    )


def _applied_order(cluster: FakeCluster) -> list[str]:
    return [target for call, target in cluster.calls if call == "apply"]


def test_stages_apply_in_order_and_crds_come_first() -> None:
    cluster = FakeCluster()
    progress = RecordingProgress()
    _install(cluster, progress=progress)
    started = [e[1] for e in progress.events if e[0] == "start"]
    assert started == list(STAGES)
    order = _applied_order(cluster)
    position = {target: index for index, target in enumerate(order)}
    assert (
        position["CustomResourceDefinition /servingruntimes.serving.kserve.io"]
        < position["Deployment cert-manager/cert-manager-webhook"]
    )
    assert (
        position["Deployment cert-manager/cert-manager-webhook"]
        < position["Deployment kserve/kserve-controller-manager"]
    )
    assert position["Deployment kserve/kserve-controller-manager"] < position["Secret iml4e/iml4e-postgres"]
    assert position["Secret iml4e/iml4e-postgres"] < position["StatefulSet iml4e/iml4e-postgres"]
    assert position["Deployment iml4e/iml4e-mlflow"] < position["ServingRuntime iml4e-serving/iml4e-mlflow"]


def test_each_stage_waits_for_readiness_before_the_next_applies() -> None:
    def ready(obj: dict[str, Any], polls: int) -> bool:
        return obj["metadata"]["name"] != "cert-manager-webhook" or polls >= 3

    cluster = FakeCluster(ready)
    progress = RecordingProgress()
    _install(cluster, progress=progress)
    waits = [e for e in progress.events if e[0] == "wait"]
    assert waits and all(w[1] == "cert-manager" for w in waits)
    assert "cert-manager-webhook" in waits[0][2]
    first_controller = _applied_order(cluster).index("Deployment kserve/kserve-controller-manager")
    webhook_polls = [
        i for i, c in enumerate(cluster.calls) if c == ("get", "Deployment cert-manager/cert-manager-webhook")
    ]
    apply_positions = [i for i, c in enumerate(cluster.calls) if c[0] == "apply"]
    assert webhook_polls[-1] < apply_positions[first_controller]


def test_a_stage_that_never_becomes_ready_fails_within_its_timeout_naming_the_resource() -> None:
    cluster = FakeCluster(lambda obj, polls: obj["metadata"]["name"] != "iml4e-postgres")
    cluster.events["iml4e/iml4e-postgres"] = [
        "FailedScheduling: 0/1 nodes are available: 1 Insufficient memory"
    ]
    clock = FakeClock()
    config = PlatformConfig.model_validate({"cluster": {"stage_timeout_seconds": 30}})
    with pytest.raises(StageFailed) as raised:
        _install(cluster, config, clock=clock)
    message = str(raised.value)
    assert "stage 'services'" in message and "StatefulSet iml4e/iml4e-postgres" in message
    assert "Insufficient memory" in message and "re-run 'iml4e install'" in message
    assert "MinimumReplicasUnavailable" in message
    assert "\n" not in message
    assert 30 <= clock.now <= 32  # bounded: the wait stops at the timeout, not later
    assert max(clock.sleeps) <= 2.0


def test_re_running_an_installed_cluster_changes_nothing() -> None:
    cluster = FakeCluster()
    first = _install(cluster)
    assert first.changed > 0
    secrets_before = {k: v["body"]["data"] for k, v in cluster.objects.items() if k[0] == "Secret"}
    second = _install(cluster)
    assert second.changed == 0
    assert all(counts["created"] == counts["configured"] == 0 for counts in second.outcomes.values())
    secrets_after = {k: v["body"]["data"] for k, v in cluster.objects.items() if k[0] == "Secret"}
    assert secrets_after == secrets_before  # generated credentials are kept, not regenerated


def test_a_failed_install_resumes_from_the_stage_that_failed() -> None:
    broken = {"on": True}
    cluster = FakeCluster(lambda obj, polls: not (broken["on"] and obj["metadata"]["name"] == "iml4e-mlflow"))
    config = PlatformConfig.model_validate({"cluster": {"stage_timeout_seconds": 10}})
    with pytest.raises(StageFailed):
        _install(cluster, config)
    record = read_record(cluster)
    assert record is not None and record["completed_stages"] == [
        "namespaces-crds",
        "cert-manager",
        "controllers",
    ]
    assert ("ServingRuntime", "iml4e-serving", "iml4e-mlflow") not in cluster.objects
    broken["on"] = False
    report = _install(cluster, config)
    assert report.outcomes["namespaces-crds"]["created"] == 0  # earlier stages are already there
    assert report.outcomes["custom-resources"]["created"] == 1
    record = read_record(cluster)
    assert record is not None and record["completed_stages"] == list(STAGES)


def test_dry_run_applies_nothing_and_does_not_wait() -> None:
    cluster = FakeCluster(lambda obj, polls: False)  # nothing would ever become ready
    report = _install(cluster, dry_run=True)
    assert report.dry_run and report.changed > 0
    assert not cluster.objects
    assert {call for call, _ in cluster.calls} <= {"dry-apply", "get"}


def test_minimal_profile_has_no_cert_manager_stage() -> None:
    config = PlatformConfig(profile="minimal")
    stages = plan_stages(render_platform(config), [("controllers", KFP)], [])
    assert [s.name for s in stages] == ["namespaces-crds", "controllers", "services"]


def test_applies_retry_while_a_webhook_is_starting_and_give_up_at_the_deadline() -> None:
    from iml4e.errors import ServiceError
    from iml4e.installer.install import apply_when_webhooks_answer

    obj = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": "i", "namespace": "kserve"},
    }
    cluster = FakeCluster()
    failures = {"left": 2}
    real_apply = cluster.apply

    def flaky_apply(o: dict[str, Any], dry_run: bool = False) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise ServiceError(
                'applying Issuer kserve/i failed: failed calling webhook "webhook.cert-manager.io"'
            )
        return real_apply(o, dry_run)

    cluster.apply = flaky_apply  # type: ignore[method-assign]
    clock = FakeClock()
    assert apply_when_webhooks_answer(cluster, obj, False, 60, clock, clock.sleep) == "created"
    assert clock.sleeps == [2.0, 2.0]

    failures["left"] = 1000
    with pytest.raises(ServiceError, match="failed calling webhook"):
        apply_when_webhooks_answer(cluster, obj, False, clock.now + 10, clock, clock.sleep)
    assert len(clock.sleeps) <= 2 + 5  # bounded by the deadline

    def broken_apply(o: dict[str, Any], dry_run: bool = False) -> Any:
        raise ServiceError("applying Issuer kserve/i failed: spec.acme: Required value")

    cluster.apply = broken_apply  # type: ignore[method-assign]
    before = len(clock.sleeps)
    with pytest.raises(ServiceError, match="Required value"):
        apply_when_webhooks_answer(cluster, obj, False, clock.now + 60, clock, clock.sleep)
    assert len(clock.sleeps) == before  # other errors are not retried
