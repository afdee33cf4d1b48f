"""What goes wrong on a real cluster ends in one line that names the object and the fix.

A cluster with no nodes, a workload that never becomes ready (the kubelet stand-in withholds its
readiness), a namespace stuck terminating, an object the API server refuses, bad credentials, an
unreachable server, a bundle missing an entry, and the cluster options of every cluster command.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from conftest import BUNDLE, Cluster

pytestmark = [pytest.mark.timeout(900)]


def _one_line(stderr: str) -> str:
    """The error: exactly one line, the last one (progress and warnings may come before it)."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    assert "Traceback" not in stderr
    return errors[0]


def test_doctor_on_a_cluster_with_no_nodes_says_so(bare_cluster: Cluster) -> None:
    result = bare_cluster.iml4e(
        "doctor", "-c", str(bare_cluster.config(profile="minimal")), "--json", expect=1
    )
    import json

    checks = {c["check"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["nodes"]["status"] == "fail" and "no nodes" in checks["nodes"]["detail"]
    assert checks["node architecture"]["status"] == "fail"
    assert checks["capacity"]["status"] == "fail"
    assert "doctor found problems: nodes" in _one_line(result.stderr)


def test_a_rollout_on_a_cluster_without_kserve_says_to_install_it(bare_cluster: Cluster) -> None:
    kubeconfig = str(bare_cluster.kubeconfig)
    for command in ("status", "promote", "rollback"):
        result = bare_cluster.iml4e(
            "rollout", command, "churn", "--cluster", "--kubeconfig", kubeconfig, expect=2
        )
        assert _one_line(result.stderr) == (
            "error: the cluster does not serve serving.kserve.io/v1beta1 InferenceServices (KServe is not "
            "installed); install it with 'iml4e install' (profile standard or full)"
        )


def test_doctor_passes_on_a_ready_node_with_a_default_storage_class(cluster: Cluster) -> None:
    result = cluster.iml4e_json("doctor", "-c", str(cluster.config(profile="minimal")))
    checks = {c["check"]: c for c in result["checks"]}
    assert result["ok"], checks
    assert checks["nodes"]["detail"] == "1 of 1 nodes ready and schedulable"
    assert checks["storage class"]["detail"] == "default StorageClass 'standin'"
    assert checks["node architecture"]["detail"] == "amd64"


def test_a_stage_whose_object_never_becomes_ready_fails_after_its_bounded_wait_then_resumes(
    cluster: Cluster,
) -> None:
    assert cluster.standin is not None
    cluster.standin.withhold = lambda pod: pod.metadata.name.startswith("iml4e-mlflow-")
    config = cluster.config(profile="minimal", cluster={"stage_timeout_seconds": 15})
    started = time.monotonic()
    failed = cluster.iml4e("install", "-c", str(config), expect=1)
    took = time.monotonic() - started
    line = _one_line(failed.stderr)
    assert "stage 'services' not ready after 15 s: Deployment iml4e/iml4e-mlflow: 0/1 ready" in line
    assert "re-run 'iml4e install' to resume" in line
    assert took < 15 + 60  # the bounded wait, plus applying two earlier stages
    status = cluster.iml4e_json("status", "--cluster", "-c", str(config))
    assert status["completed_stages"] == ["namespaces-crds", "controllers"]

    cluster.standin.withhold = lambda pod: False
    resumed = cluster.iml4e_json("install", "-c", str(config))
    assert resumed["stages"]["namespaces-crds"]["created"] == 0  # finished stages change nothing
    assert cluster.iml4e_json("status", "--cluster", "-c", str(config))["healthy"]


def test_every_cluster_command_takes_the_cluster_options(cluster: Cluster, tmp_path: Path) -> None:
    config = cluster.config(profile="minimal")
    kubeconfig = str(cluster.kubeconfig)
    for args in (
        ("status", "--cluster", "--kubeconfig", kubeconfig, "--context", "envtest"),
        ("credentials", "--kubeconfig", kubeconfig, "--context", "envtest"),
        ("doctor", "-c", str(config), "--context", "envtest"),
    ):
        cluster.iml4e(*args, "--json")
    wrong = cluster.iml4e("status", "--cluster", "--kubeconfig", kubeconfig, "--context", "nope", expect=2)
    assert "has no context 'nope'" in _one_line(wrong.stderr)
    # No kubelet answers port-forwards here: both commands get that far and say so in one line.
    opened = cluster.iml4e("open", "mlflow", "-c", str(config), "--context", "envtest", expect=1)
    assert "port-forward to iml4e/iml4e-mlflow failed" in _one_line(opened.stderr)
    ran = cluster.iml4e("run", "tabular_training", "--cluster", "-c", str(config), expect=1)
    assert "port-forward to kubeflow/ml-pipeline failed" in _one_line(ran.stderr)


def test_an_object_the_api_server_refuses_is_named_with_its_reason_in_one_line(cluster: Cluster) -> None:
    from iml4e.errors import ServiceError
    from iml4e.installer.cluster import KubernetesCluster

    api = KubernetesCluster(str(cluster.kubeconfig))
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.org"},
        "spec": {
            "group": "example.org",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [],  # a CRD must serve a version
        },
    }
    with pytest.raises(ServiceError) as refused:
        api.apply(crd)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("applying CustomResourceDefinition widgets.example.org failed:")
    assert "spec.versions" in message


def test_bad_credentials_and_an_unreachable_server_end_in_one_line(cluster: Cluster, tmp_path: Path) -> None:
    expired = cluster.plane.write_kubeconfig(tmp_path / "expired", "someone", token="0" * 48)
    refused = cluster.iml4e("doctor", "--kubeconfig", str(expired), expect=1)
    line = _one_line(refused.stderr)
    assert "refused the credentials of context 'envtest'" in line and "401" in line

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    nowhere = tmp_path / "nowhere"
    nowhere.write_text(expired.read_text().replace(cluster.plane.server, f"https://127.0.0.1:{closed}"))
    unreachable = cluster.iml4e("install", "--kubeconfig", str(nowhere), expect=1)
    assert "cannot reach the Kubernetes API" in _one_line(unreachable.stderr)


def test_a_bundle_missing_an_entry_is_named_with_the_fix(cluster: Cluster, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "upstream").mkdir(parents=True)
    for entry in (BUNDLE / "upstream").iterdir():
        if entry.name != "kserve":
            (bundle / "upstream" / entry.name).symlink_to(entry)
    config = cluster.config("partial.yaml", profile="standard", upstream={"bundle_dir": str(bundle)})
    result = cluster.iml4e("install", "-c", str(config), "--dry-run", expect=2)
    line = _one_line(result.stderr)
    assert f"the bundle {bundle} has no kserve v0.20.0" in line and "iml4e bundle -o DIR" in line
    assert not (bundle / "upstream" / "kserve").exists()  # nothing was downloaded into the bundle


def test_a_namespace_stuck_terminating_is_named_with_the_fix(cluster: Cluster) -> None:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api())
    blocker = {
        "metadata": {"name": "held", "finalizers": ["example.org/hold"]},
        "data": {"why": "a finalizer nobody removes keeps the namespace terminating"},
    }
    core.create_namespaced_config_map("kubeflow", blocker)
    config = cluster.config(profile="minimal", cluster={"stage_timeout_seconds": 10})
    purge = cluster.iml4e("uninstall", "-c", str(config), "--yes", "--purge", expect=1)
    assert "namespaces kubeflow are still terminating" in _one_line(purge.stderr)
    again = cluster.iml4e("install", "-c", str(config), expect=1)
    line = _one_line(again.stderr)
    assert "namespace kubeflow is still terminating" in line and "finalizers" in line
    core.patch_namespaced_config_map("held", "kubeflow", {"metadata": {"finalizers": None}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "kubeflow" in {
        n.metadata.name for n in core.list_namespace().items
    }:
        time.sleep(1)
    assert shutil.which("kubectl")  # the control plane's kubectl is on PATH for the commands above
