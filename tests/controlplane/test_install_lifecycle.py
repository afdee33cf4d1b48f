"""The install lifecycle on one real control plane, in the order a platform engineer goes through it.

minimal: dry run on a fresh cluster -> install -> a second install changes nothing -> a bucket change
shows in the dry run and rolls out -> uninstall keeps every volume -> --purge removes the rest; then
standard on the same control plane, twice.

Webhook admission is off on this API server (DISABLE_WEBHOOKS): standard installs cert-manager and
KServe, whose admission webhooks point at Services with no running Pod (no container runtime here).
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Cluster

from iml4e.installer.checksums import CHECKSUM_ANNOTATION

DISABLE_WEBHOOKS = True
pytestmark = [pytest.mark.timeout(1200)]

OUR_NAMESPACES = ("iml4e", "iml4e-serving", "iml4e-monitoring")


def _versions(cluster: Cluster) -> dict[str, str]:
    """kind/namespace/name -> resourceVersion of every object iml4e or upstream put in their namespaces."""
    from kubernetes import dynamic

    client = dynamic.DynamicClient(cluster.api())
    found: dict[str, str] = {}
    kinds = [
        ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ServiceAccount"),
        ("v1", "PersistentVolumeClaim"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
        ("batch/v1", "Job"), ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("networking.k8s.io/v1", "NetworkPolicy"),
    ]  # fmt: skip
    for api_version, kind in kinds:
        for item in client.resources.get(api_version=api_version, kind=kind).get().items:
            namespace = item.metadata.namespace
            if namespace in ("iml4e", "kubeflow") and item.metadata.name != "openshift-service-ca.crt":
                found[f"{kind}/{namespace}/{item.metadata.name}"] = item.metadata.resourceVersion
    for item in (
        client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
        .get()
        .items
    ):
        found[f"CRD/{item.metadata.name}"] = item.metadata.resourceVersion
    return found


def _namespaces(cluster: Cluster) -> set[str]:
    from kubernetes import client

    return {ns.metadata.name for ns in client.CoreV1Api(cluster.api()).list_namespace().items}


def _claims(cluster: Cluster) -> set[str]:
    from kubernetes import client

    claims = client.CoreV1Api(cluster.api()).list_persistent_volume_claim_for_all_namespaces().items
    return {f"{c.metadata.namespace}/{c.metadata.name}" for c in claims}


def _deployment(cluster: Cluster, namespace: str, name: str) -> Any:
    from kubernetes import client

    return client.AppsV1Api(cluster.api()).read_namespaced_deployment(name, namespace)


def test_dry_run_on_a_fresh_cluster_lists_what_would_be_created(cluster: Cluster) -> None:
    config = cluster.config(profile="minimal")
    report = cluster.iml4e_json("install", "-c", str(config), "--dry-run")
    created = {change["object"] for change in report["changes"] if change["outcome"] == "created"}
    assert report["dry_run"] and report["changed"] == len(report["changes"]) > 50
    assert {"Namespace kubeflow", "Namespace iml4e", "Deployment iml4e/iml4e-mlflow"} <= created
    assert "ServiceAccount kubeflow/kubeflow-pipelines-cache-deployer-sa" in created
    assert "iml4e" not in _namespaces(cluster)  # nothing was applied


def test_install_completes_and_a_second_install_changes_nothing(cluster: Cluster) -> None:
    config = cluster.config(profile="minimal")
    first = cluster.iml4e_json("install", "-c", str(config))
    assert first["changed"] > 50 and not first["dry_run"]
    before = _versions(cluster)
    again = cluster.iml4e_json("install", "-c", str(config))
    assert again["changed"] == 0, again["changes"]
    assert _versions(cluster) == before  # not one object was written again
    status = cluster.iml4e_json("status", "--cluster", "-c", str(config))
    assert status["installed"] and status["healthy"], status["components"]


def test_a_bucket_change_shows_in_the_dry_run_and_rolls_out(cluster: Cluster) -> None:
    from kubernetes import client

    batch = client.BatchV1Api(cluster.api())
    job_before = batch.read_namespaced_job("iml4e-object-store-bucket", "iml4e").metadata.uid
    mlflow_before = _deployment(cluster, "iml4e", "iml4e-mlflow").spec.template.metadata.annotations
    config = cluster.config(profile="minimal", services={"object_store": {"bucket": "models-2027"}})

    plan = cluster.iml4e_json("install", "-c", str(config), "--dry-run")
    assert {(c["object"], c["outcome"]) for c in plan["changes"]} == {
        ("ConfigMap iml4e/iml4e-endpoints", "configured"),
        ("ConfigMap kubeflow/iml4e-endpoints", "configured"),
        ("Deployment iml4e/iml4e-mlflow", "configured"),  # its pod template's config checksum
        ("Job iml4e/iml4e-object-store-bucket", "configured"),  # replaced, so it runs again
    }
    applied = cluster.iml4e_json("install", "-c", str(config))
    assert {c["object"] for c in applied["changes"]} == {c["object"] for c in plan["changes"]}

    mlflow = _deployment(cluster, "iml4e", "iml4e-mlflow")
    assert (
        mlflow.spec.template.metadata.annotations[CHECKSUM_ANNOTATION] != mlflow_before[CHECKSUM_ANNOTATION]
    )
    assert mlflow.status.updated_replicas == 1 and mlflow.status.ready_replicas == 1  # restarted, ready
    job = batch.read_namespaced_job("iml4e-object-store-bucket", "iml4e")
    assert job.metadata.uid != job_before and job.status.succeeded == 1  # ran again
    endpoints = client.CoreV1Api(cluster.api()).read_namespaced_config_map("iml4e-endpoints", "iml4e")
    assert endpoints.data["IML4E_BUCKET"] == "models-2027"


def test_uninstall_keeps_every_volume_and_the_credentials(cluster: Cluster) -> None:
    from kubernetes import client

    config = cluster.config(profile="minimal", services={"object_store": {"bucket": "models-2027"}})
    claims = _claims(cluster)
    assert {"kubeflow/mysql-pv-claim", "kubeflow/seaweedfs-pvc", "iml4e/data-iml4e-postgres-0"} <= claims
    result = cluster.iml4e_json("uninstall", "-c", str(config), "--yes")
    assert _claims(cluster) == claims
    assert not any("PersistentVolumeClaim" in deleted for deleted in result["deleted"])
    core = client.CoreV1Api(cluster.api())
    assert core.read_namespaced_secret("iml4e-postgres", "iml4e").data["password"]
    assert "Deployment iml4e/iml4e-mlflow" in result["deleted"]
    status = cluster.iml4e_json("status", "--cluster", "-c", str(config))
    assert not status["installed"] and status["state"] == "uninstalled"
    again = cluster.iml4e("uninstall", "-c", str(config), "--yes", expect=1)
    assert "uninstalled (data kept)" in again.stderr


def test_purge_after_a_plain_uninstall_removes_the_rest(cluster: Cluster) -> None:
    config = cluster.config(profile="minimal")
    result = cluster.iml4e_json("uninstall", "-c", str(config), "--yes", "--purge")
    assert result["terminating"] == []
    assert not {"iml4e", "kubeflow"} & _namespaces(cluster)  # finished terminating
    assert _claims(cluster) == set()
    deleted = result["deleted"]
    assert len(deleted) == len(set(deleted))  # each object once
    assert "CustomResourceDefinition workflows.argoproj.io" in deleted
    listed = cluster.iml4e("uninstall", "-c", str(config), "--yes", "--purge", expect=1)
    assert "not installed" in listed.stderr


def test_standard_installs_on_the_same_control_plane_and_a_second_install_changes_nothing(
    cluster: Cluster,
) -> None:
    from kubernetes import client

    config = cluster.config(profile="standard")
    first = cluster.iml4e_json("install", "-c", str(config))
    created = {c["object"] for c in first["changes"]}
    # KServe's release manifest has no Namespace: the installer creates it, enforcing restricted.
    assert "Namespace kserve" in created and "ServingRuntime iml4e-serving/iml4e-mlflow" in created
    kserve = client.CoreV1Api(cluster.api()).read_namespace("kserve")
    assert kserve.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # KServe's local-model agent selects no node here: 0 of 0 ready is its ready state.
    agent = client.AppsV1Api(cluster.api()).read_namespaced_daemon_set(
        "kserve-localmodelnode-agent", "kserve"
    )
    assert agent.status.desired_number_scheduled == 0
    before = _versions(cluster)
    again = cluster.iml4e_json("install", "-c", str(config))
    assert again["changed"] == 0, again["changes"]
    assert _versions(cluster) == before
