"""Security defaults as rules over every rendered object of every profile."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from golden_files import render_manifests as golden

from iml4e.installer.render import containers, pod_specs, render_platform

OUR_NAMESPACES = {"iml4e", "iml4e-serving", "iml4e-monitoring", "iml4e-ray"}


@pytest.fixture(scope="module", params=list(golden.CASES))
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render_platform(golden.CASES[request.param]).objects


_CREDENTIAL_KEY = re.compile(r"(password|secret|token|access_?key|api_?key)", re.IGNORECASE)
_KNOWN_DEFAULTS = ("minioadmin", "admin/admin", "changeme", "password123")


def test_no_secret_objects_and_no_credential_literals(objects: list[dict[str, Any]]) -> None:
    assert not [o for o in objects if o["kind"] == "Secret"], (
        "Secrets are generated at install, never rendered"
    )
    text = yaml.safe_dump_all(objects).lower()
    for default in _KNOWN_DEFAULTS:
        assert default not in text
    for obj in objects:
        for container in containers(obj):
            for env in container.get("env", []):
                if env["name"].endswith("_FILE") and str(env.get("value", "")).startswith("/"):
                    continue  # the path of a mounted Secret (POSTGRES_PASSWORD_FILE, GF_..._PASSWORD__FILE)
                if _CREDENTIAL_KEY.search(env["name"]):
                    assert "value" not in env, f"{obj['metadata']['name']}: {env['name']} is a literal"
                    assert "secretKeyRef" in env.get("valueFrom", {})
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            for key, value in (obj.get("data") or {}).items():
                for line in str(value).splitlines():
                    if re.match(r"\s*(password|secret_key|access_key)\s*[:=]", line, re.IGNORECASE):
                        assert "${" in line, f"ConfigMap {obj['metadata']['name']}/{key}: {line.strip()}"


def test_every_pod_runs_as_non_root_without_privilege_escalation(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        for pod in pod_specs(obj):
            pod_context = pod.get("securityContext") or {}
            for container in pod.get("containers", []):
                context = {**pod_context, **(container.get("securityContext") or {})}
                where = f"{obj['kind']} {obj['metadata']['name']}/{container['name']}"
                assert context.get("runAsNonRoot") is True, where
                assert context.get("runAsUser", 0) != 0, where
                assert (container.get("securityContext") or {}).get("allowPrivilegeEscalation") is False, (
                    where
                )
                assert "ALL" in (container.get("securityContext") or {}).get("capabilities", {}).get(
                    "drop", []
                ), where


def test_every_container_has_requests_and_limits(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        for container in containers(obj):
            resources = container.get("resources") or {}
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part) or {}), (
                    f"{obj['metadata']['name']}: {part}"
                )


def test_every_image_is_pinned(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        for container in containers(obj):
            image = container["image"]
            name_and_tag = image.rsplit("/", 1)[-1]
            assert ":" in name_and_tag or "@sha256:" in image, image
            assert not image.endswith((":latest", ":main", ":master", ":nightly")), image


def test_rbac_is_namespaced_and_never_wildcard(objects: list[dict[str, Any]]) -> None:
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        if obj["kind"] == "Role":
            for rule in obj["rules"]:
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule.get(field, []), f"Role {obj['metadata']['name']}: {field}"
                assert not {"secrets"} & set(rule.get("resources", [])), "no Role reads Secrets"
        if obj["kind"] == "RoleBinding":
            assert obj["roleRef"]["kind"] == "Role"


def test_each_platform_namespace_denies_ingress_by_default(objects: list[dict[str, Any]]) -> None:
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    assert namespaces <= OUR_NAMESPACES
    for namespace in namespaces:
        policies = [
            o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == namespace
        ]
        deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
        assert deny, f"namespace {namespace} has no default-deny NetworkPolicy"


def test_postgres_is_reachable_only_from_its_namespace(objects: list[dict[str, Any]]) -> None:
    postgres = next(
        o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "iml4e-postgres"
    )
    labels = postgres["spec"]["template"]["metadata"]["labels"]
    assert labels.get("iml4e.io/exposed") != "true"
    exposed = [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "iml4e-allow-platform-namespaces"
    ]
    assert all(p["spec"]["podSelector"] != {} for p in exposed if p["metadata"]["namespace"] == "iml4e")


def test_mlflow_requires_authentication(objects: list[dict[str, Any]]) -> None:
    mlflow = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "iml4e-mlflow")
    container = mlflow["spec"]["template"]["spec"]["containers"][0]
    assert "--app-name=basic-auth" in container["args"]
    assert not any(arg.startswith("--host=127") for arg in container["args"])


def test_service_account_tokens_are_mounted_only_where_needed(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        for pod in pod_specs(obj):
            if obj["kind"] == "ServingRuntime":
                continue
            if pod.get("serviceAccountName") == "iml4e-prometheus":
                continue  # service discovery needs the API
            assert pod.get("automountServiceAccountToken") is False, obj["metadata"]["name"]


def test_restricted_namespaces_meet_the_restricted_pod_security_standard(
    objects: list[dict[str, Any]],
) -> None:
    restricted = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Namespace"
        and o["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "restricted"
    }
    assert "iml4e" in restricted
    allowed_volumes = {"configMap", "secret", "emptyDir", "persistentVolumeClaim", "projected", "downwardAPI"}
    for obj in objects:
        if obj["metadata"].get("namespace") not in restricted:
            continue
        for pod in pod_specs(obj):
            assert (pod.get("securityContext") or {}).get("seccompProfile", {}).get(
                "type"
            ) == "RuntimeDefault"
            for volume in pod.get("volumes", []):
                assert set(volume) - {"name"} <= allowed_volumes, volume
            assert not pod.get("hostNetwork") and not pod.get("hostPID")


def _accepted_resources(check: str) -> set[str]:
    from policy_scan.scan_manifests import accepted_findings

    return {resource for (accepted, resource) in accepted_findings() if accepted == check}


def _resource_id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}.{obj['metadata'].get('namespace', 'default')}.{obj['metadata']['name']}"


def test_every_container_has_a_read_only_root_filesystem_unless_listed(objects: list[dict[str, Any]]) -> None:
    # The ServingRuntime is included: checkov does not read KServe's resources, this test does.
    may_write = _accepted_resources("CKV_K8S_22")
    for obj in objects:
        for pod in pod_specs(obj):
            for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                if _resource_id(obj) in may_write:
                    continue
                where = f"{_resource_id(obj)}/{container['name']}"
                assert (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is True, where
                mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
                assert "/tmp" in mounts or obj["kind"] != "ServingRuntime", f"{where}: no scratch space"


def test_no_secret_reaches_a_container_through_its_arguments(objects: list[dict[str, Any]]) -> None:
    # Arguments are readable by every process on the node (/proc/PID/cmdline); the environment is not.
    for obj in objects:
        for container in containers(obj):
            from_secrets = {
                env["name"] for env in container.get("env", []) if "secretKeyRef" in env.get("valueFrom", {})
            }
            line = " ".join([*container.get("command", []), *container.get("args", [])])
            where = f"{_resource_id(obj)}/{container['name']}"
            assert not [name for name in from_secrets if f"$({name})" in line], where
            assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", line), f"{where}: a URI with a password"


def test_mlflow_reads_its_database_uri_from_a_secret(objects: list[dict[str, Any]]) -> None:
    mlflow = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "iml4e-mlflow"]
    for deployment in mlflow:
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {item["name"]: item for item in container["env"]}
        reference = env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": "iml4e-mlflow-auth", "key": "backend_store_uri"}
        assert not any("backend-store-uri" in arg for arg in container["args"])


def test_every_accepted_policy_finding_names_a_rendered_object_and_a_reason() -> None:
    from policy_scan.scan_manifests import accepted_findings

    rendered = {
        _resource_id(obj) for config in golden.CASES.values() for obj in render_platform(config).objects
    }
    for (check, resource), reason in accepted_findings().items():
        assert resource in rendered, f"{check} {resource}: no rendered object; remove the entry"
        assert len(reason) > 40, f"{check} {resource}: give the reason"


def test_the_policy_scan_fails_on_a_new_finding_and_on_a_stale_exception() -> None:
    from policy_scan.scan_manifests import Finding, compare

    accepted = {("CKV_K8S_15", "Deployment.iml4e.iml4e-mlflow"): "pinned tags"}
    found = [Finding("CKV_K8S_15", "Deployment.iml4e.iml4e-mlflow"), Finding("CKV_K8S_22", "Job.iml4e.x")]
    assert compare(found, accepted) == ([Finding("CKV_K8S_22", "Job.iml4e.x")], [])
    assert compare([], accepted) == ([], ["CKV_K8S_15 Deployment.iml4e.iml4e-mlflow"])
