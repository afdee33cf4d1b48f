"""The full profile on a real API server: Pod Security admission, RBAC, custom resources, upgrade.

Webhook admission is off on this API server (DISABLE_WEBHOOKS): the full profile installs cert-manager
and KServe, whose admission webhooks point at Services with no running Pod (no container runtime
here). Every other admission plugin, Pod Security included, is the API server's own.

The KubeRay operator is installed (its Deployment, RBAC and the real CRDs of release v1.7.0), but its
controller cannot run without a container runtime, so nothing creates the RayCluster's Pods or writes
its status: the Pod templates are dry-run through admission here instead, and one test writes the
status the operator would write (a stand-in, like the kubelet's) to see `iml4e status` read it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Cluster

DISABLE_WEBHOOKS = True
pytestmark = [pytest.mark.timeout(1200)]

WORKLOADS = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
)


@pytest.fixture(scope="module")
def full(cluster: Cluster) -> Iterator[Path]:
    config = cluster.config(profile="full")
    report = cluster.iml4e_json("install", "-c", str(config))
    assert report["changed"] > 250
    yield config


def _dynamic(cluster: Cluster) -> Any:
    from kubernetes import dynamic

    return dynamic.DynamicClient(cluster.api())


def _restricted_namespaces(cluster: Cluster) -> list[str]:
    from kubernetes import client

    return sorted(
        ns.metadata.name
        for ns in client.CoreV1Api(cluster.api()).list_namespace().items
        if (ns.metadata.labels or {}).get("pod-security.kubernetes.io/enforce") == "restricted"
    )


def _ray_cluster(cluster: Cluster) -> dict[str, Any]:
    from kubernetes import client

    found = client.CustomObjectsApi(cluster.api()).get_namespaced_custom_object(
        "ray.io", "v1", "iml4e-ray", "rayclusters", "iml4e-ray"
    )
    return dict(found)


def test_the_full_profile_installs_healthy_and_status_reads_the_ray_cluster(
    cluster: Cluster, full: Path
) -> None:
    from kubernetes import client

    status = cluster.iml4e_json("status", "--cluster", "-c", str(full))
    components = {c["component"]: c for c in status["components"]}
    assert {"mlflow", "feast", "monitoring", "kserve", "cert-manager", "kubeflow-pipelines"} <= set(
        components
    )
    assert components["kuberay-operator"]["healthy"], components["kuberay-operator"]
    operator = client.AppsV1Api(cluster.api()).read_namespaced_deployment("kuberay-operator", "kuberay")
    assert "--watch-namespace=iml4e-ray" in operator.spec.template.spec.containers[0].args
    # Nothing has reconciled the RayCluster yet (the operator's controller cannot run here): said so.
    assert not status["healthy"] and not components["ray"]["healthy"]
    (problem,) = components["ray"]["problems"]
    assert problem == (
        "RayCluster iml4e-ray/iml4e-ray: not reconciled yet; is the KubeRay operator (namespace kuberay) running?"
    )
    # What KubeRay v1.7 writes once the head and both workers are ready (status subresource).
    ready = {"state": "ready", "readyWorkerReplicas": 2, "desiredWorkerReplicas": 2}
    client.CustomObjectsApi(cluster.api()).patch_namespaced_custom_object_status(
        "ray.io", "v1", "iml4e-ray", "rayclusters", "iml4e-ray", {"status": ready}
    )
    status = cluster.iml4e_json("status", "--cluster", "-c", str(full))
    assert status["profile"] == "full" and status["healthy"], status["components"]
    (ray,) = [c for c in status["components"] if c["component"] == "ray"]
    assert ray["ready"] == "1/1" and ray["problems"] == []


# KServe's node agent for its opt-in local model cache mounts a hostPath, which no Pod Security level
# short of privileged allows. It only runs on nodes labelled kserve/localmodel=worker; iml4e keeps the
# kserve namespace restricted and documents how to relax it for that feature.
REFUSED_BY_DESIGN = {("kserve", "DaemonSet", "kserve-localmodelnode-agent")}


def test_pod_security_admits_every_pod_where_restricted_is_enforced(cluster: Cluster, full: Path) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    restricted = _restricted_namespaces(cluster)
    assert restricted == ["cert-manager", "iml4e", "iml4e-monitoring", "iml4e-ray", "kserve", "kuberay"]
    core = client.CoreV1Api(cluster.api())
    admitted, refused = set(), {}
    for namespace in restricted:
        for api_version, kind in WORKLOADS:
            resource = _dynamic(cluster).resources.get(api_version=api_version, kind=kind)
            for workload in resource.get(namespace=namespace).to_dict()["items"]:
                template = copy.deepcopy(workload["spec"]["template"])
                # A StatefulSet's claims become volumes of its Pods; an emptyDir stands for each here.
                for claim in workload["spec"].get("volumeClaimTemplates") or []:
                    template["spec"].setdefault("volumes", []).append(
                        {"name": claim["metadata"]["name"], "emptyDir": {}}
                    )
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"generateName": "psa-check-"},
                    "spec": template["spec"],
                }
                key = (namespace, kind, workload["metadata"]["name"])
                try:  # the API server's own admission decides (server-side dry run: nothing is created)
                    core.create_namespaced_pod(namespace, pod, dry_run="All")
                    admitted.add(key)
                except ApiException as error:
                    refused[key] = str(error.body)
    # The RayCluster's head and worker Pods, as the KubeRay operator would create them from its templates.
    for group, template in _ray_pod_templates(_ray_cluster(cluster)):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "psa-check-"}, **template}
        key = ("iml4e-ray", "RayCluster", group)
        try:
            core.create_namespaced_pod("iml4e-ray", pod, dry_run="All")
            admitted.add(key)
        except ApiException as error:
            refused[key] = str(error.body)
    assert set(refused) == REFUSED_BY_DESIGN, refused
    # The controllers' own Pods got past admission too (iml4e-ray's come from the operator, which
    # does not run here: its templates were dry-run above).
    for namespace in set(restricted) - {"iml4e-ray"}:
        assert core.list_namespaced_pod(namespace).items, f"no Pod was admitted in {namespace}"
    assert all("violates PodSecurity" in body and "hostPath" in body for body in refused.values())
    assert {("iml4e-ray", "RayCluster", "head"), ("iml4e-ray", "RayCluster", "detection")} <= admitted
    assert ("kuberay", "Deployment", "kuberay-operator") in admitted
    assert len(admitted) >= 15
    assert {namespace for namespace, _, _ in admitted} == set(restricted)
    root = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.37", "securityContext": {"runAsUser": 0}}]},
    }
    with pytest.raises(ApiException) as denied:  # enforcement is on: a Pod running as root is refused
        core.create_namespaced_pod("iml4e", root, dry_run="All")
    assert denied.value.status == 403 and "violates PodSecurity" in str(denied.value.body), denied.value.body


def _ray_pod_templates(ray_cluster: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    spec = ray_cluster["spec"]
    groups = [("head", spec["headGroupSpec"])]
    groups += [(group["groupName"], group) for group in spec["workerGroupSpecs"]]
    return [(name, {"spec": copy.deepcopy(group["template"]["spec"])}) for name, group in groups]


def _can(cluster: Cluster, user: str, verb: str, resource: str, namespace: str = "", group: str = "") -> bool:
    from kubernetes import client

    review = client.AuthorizationV1Api(cluster.api()).create_subject_access_review(
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", "system:authenticated"],
                "resourceAttributes": {
                    "verb": verb,
                    "resource": resource,
                    "namespace": namespace,
                    "group": group,
                },
            },
        }
    )
    return bool(review.status.allowed)


def test_service_accounts_can_do_their_work_and_nothing_more(cluster: Cluster, full: Path) -> None:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api())
    ours = [
        (sa.metadata.namespace, sa.metadata.name)
        for namespace in ("iml4e", "iml4e-serving", "iml4e-monitoring", "iml4e-ray")
        for sa in core.list_namespaced_service_account(namespace).items
        if (sa.metadata.labels or {}).get("app.kubernetes.io/managed-by") == "iml4e"
    ]
    assert len(ours) >= 8 and ("iml4e-ray", "iml4e-ray") in ours
    for namespace, name in ours:
        user = f"system:serviceaccount:{namespace}:{name}"
        assert not _can(cluster, user, "list", "secrets"), f"{user} reads Secrets cluster-wide"
        assert not _can(cluster, user, "get", "secrets", "kube-system"), user
        for other in ("default", "kube-system", "kubeflow"):
            assert not _can(cluster, user, "create", "configmaps", other), f"{user} writes in {other}"
            assert not _can(cluster, user, "create", "pods", other), f"{user} creates Pods in {other}"
    prometheus = "system:serviceaccount:iml4e-monitoring:iml4e-prometheus"
    for namespace in ("iml4e", "iml4e-serving", "iml4e-monitoring"):
        assert _can(cluster, prometheus, "list", "pods", namespace)  # scrape discovery
    assert not _can(cluster, prometheus, "list", "pods", "kube-system")
    runner = "system:serviceaccount:kubeflow:pipeline-runner"  # pipelines deploy models there only
    assert _can(cluster, runner, "create", "inferenceservices", "iml4e-serving", "serving.kserve.io")
    assert not _can(cluster, runner, "create", "inferenceservices", "iml4e", "serving.kserve.io")


def test_custom_resources_are_accepted_by_the_real_crds_and_a_bad_one_is_refused_in_one_line(
    cluster: Cluster, full: Path
) -> None:
    from iml4e.errors import ServiceError
    from iml4e.installer.cluster import KubernetesCluster
    from iml4e_components.deployment.core import build_inference_service

    api = KubernetesCluster(str(cluster.kubeconfig))
    runtime = api.get("serving.kserve.io/v1alpha1", "ServingRuntime", "iml4e-mlflow", "iml4e-serving")
    assert runtime is not None and runtime["spec"]["protocolVersions"]
    service = build_inference_service("churn-classifier", "s3://iml4e/mlflow/1/model")
    assert api.apply(service, dry_run=True) == "created"  # validated by KServe v0.20's CRD schema
    assert api.apply(service) == "created"
    assert api.apply(service) == "unchanged"
    broken = copy.deepcopy(service)
    broken["metadata"]["name"] = "broken"
    broken["spec"]["predictor"]["minReplicas"] = "many"
    with pytest.raises(ServiceError) as refused:
        api.apply(broken)
    message = str(refused.value)
    assert "\n" not in message and "InferenceService iml4e-serving/broken" in message
    assert "spec.predictor.minReplicas" in message


def test_the_ray_cluster_is_accepted_by_kuberays_crd_and_a_bad_one_is_refused_in_one_line(
    cluster: Cluster, full: Path
) -> None:
    from iml4e.errors import ServiceError
    from iml4e.installer import versions
    from iml4e.installer.cluster import KubernetesCluster
    from iml4e.installer.config import load_config
    from iml4e.installer.render import render_platform

    api = KubernetesCluster(str(cluster.kubeconfig))
    crd = api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "rayclusters.ray.io")
    assert crd is not None and {"v1"} <= {v["name"] for v in crd["spec"]["versions"] if v["served"]}
    live = _ray_cluster(cluster)  # installed by `iml4e install`, so admitted by KubeRay v1.7.0's schema
    assert live["spec"]["rayVersion"] == versions.RAY_VERSION
    assert [g["replicas"] for g in live["spec"]["workerGroupSpecs"]] == [2]
    (rendered,) = [o for o in render_platform(load_config(full)).objects if o["kind"] == "RayCluster"]
    assert api.apply(rendered, dry_run=True) == "unchanged"  # nothing the schema prunes or defaults away
    broken = copy.deepcopy(rendered)
    broken["metadata"]["name"] = "broken"
    broken["spec"]["workerGroupSpecs"][0]["replicas"] = "two"
    with pytest.raises(ServiceError) as refused:
        api.apply(broken)
    message = str(refused.value)
    assert "\n" not in message and "RayCluster iml4e-ray/broken" in message
    assert "spec.workerGroupSpecs[0].replicas" in message
    del broken["spec"]["workerGroupSpecs"][0]["groupName"]  # required by the schema, no default
    broken["spec"]["workerGroupSpecs"][0]["replicas"] = 2
    with pytest.raises(ServiceError) as missing:
        api.apply(broken)
    assert "\n" not in str(missing.value) and "groupName: Required value" in str(missing.value)
    # KubeRay's schema sets no minimum on replicas (its operator refuses them later, in its log), so
    # services.ray.workers is checked by iml4e's config instead (tests/unit/iml4e/installer/test_config.py).
    negative = copy.deepcopy(rendered)
    negative["metadata"]["name"] = "negative"
    negative["spec"]["workerGroupSpecs"][0]["replicas"] = -1
    assert api.apply(negative, dry_run=True) == "created"


def test_the_upgrade_plan_reads_the_live_objects_and_the_upgrade_applies_it(
    cluster: Cluster, full: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes import client

    from iml4e.installer import versions

    assert cluster.iml4e_json("upgrade", "-c", str(full))["plan"] == []
    old = versions.IMAGES["docker.io/library/postgres"]
    monkeypatch.setitem(versions.IMAGES, "docker.io/library/postgres", "18.2-bookworm")
    plan = cluster.iml4e_json("upgrade", "-c", str(full))["plan"]
    assert plan == [
        {
            "object": "StatefulSet iml4e/iml4e-postgres",
            "container": "postgres",
            "installed": f"docker.io/library/postgres:{old}",
            "target": "docker.io/library/postgres:18.2-bookworm",
        }
    ]
    applied = cluster.iml4e_json("upgrade", "-c", str(full), "--yes")
    assert "StatefulSet iml4e/iml4e-postgres" in {c["object"] for c in applied["changes"]}
    live = client.AppsV1Api(cluster.api()).read_namespaced_stateful_set("iml4e-postgres", "iml4e")
    assert live.spec.template.spec.containers[0].image == "docker.io/library/postgres:18.2-bookworm"
    assert cluster.iml4e_json("upgrade", "-c", str(full))["plan"] == []


def test_a_pod_security_level_set_on_an_upstream_namespace_survives_a_reinstall(
    cluster: Cluster, full: Path
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api())
    enforce = "pod-security.kubernetes.io/enforce"
    core.patch_namespace("kserve", {"metadata": {"labels": {enforce: "privileged"}}})
    cluster.iml4e_json("install", "-c", str(full))
    assert core.read_namespace("kserve").metadata.labels[enforce] == "privileged"
    assert core.read_namespace("cert-manager").metadata.labels[enforce] == "restricted"
    agent = client.AppsV1Api(cluster.api()).read_namespaced_daemon_set(
        "kserve-localmodelnode-agent", "kserve"
    )
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "agent-"}}
    pod["spec"] = cluster.api().sanitize_for_serialization(agent.spec.template.spec)
    core.create_namespaced_pod("kserve", pod, dry_run="All")  # the local model cache can now run


def test_the_doctor_counts_the_ray_cluster_and_the_operator(cluster: Cluster, full: Path) -> None:
    from iml4e.installer.config import load_config
    from iml4e.installer.render import render_platform
    from iml4e.installer.requests import profile_requests, sum_requests

    config = load_config(full)
    totals, counted = profile_requests(config, Path(config.upstream.bundle_dir or "") / "upstream")
    assert "kuberay-operator" in counted
    ray = sum_requests([o for o in render_platform(config).objects if o["kind"] == "RayCluster"])
    assert (ray.pods, ray.cpu) == (3, 2.5)
    checks = {c["check"]: c for c in cluster.iml4e_json("doctor", "-c", str(full))["checks"]}
    assert (
        f"profile full requests {totals.cpu:.2f} CPU / {totals.memory / 1024**3:.2f} GiB"
        in (checks["capacity"]["detail"])
    )
    off = cluster.config("ray-off.yaml", profile="full", services={"ray": {"mode": "off"}})
    checks = {c["check"]: c for c in cluster.iml4e_json("doctor", "-c", str(off))["checks"]}
    without, _ = profile_requests(load_config(off), Path(config.upstream.bundle_dir or "") / "upstream")
    assert without.cpu == pytest.approx(totals.cpu - 2.5 - 0.1)  # the RayCluster, the operator (100m)
    assert f"requests {without.cpu:.2f} CPU" in checks["capacity"]["detail"]
