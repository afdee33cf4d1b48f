"""Rendering: golden files per profile, strict schema validation, configuration applied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from golden_files import render_manifests as golden

from iml4e.errors import UsageError
from iml4e.installer import versions
from iml4e.installer.config import PROFILES, PlatformConfig, parse_config
from iml4e.installer.render import STAGES, containers, render_platform, stage_of
from iml4e_components.conventions import SERVING_NAMESPACE

#: Validated against the oldest and the newest supported Kubernetes.
KUBERNETES_VERSIONS = ["{}.{}".format(*versions.KUBERNETES_MIN), "{}.{}".format(*versions.KUBERNETES_MAX)]


@pytest.mark.parametrize("case", golden.CASES)
def test_rendering_matches_golden_file(case: str) -> None:
    path = golden.GOLDEN_DIR / f"{case}.yaml"
    assert path.read_text(encoding="utf-8") == golden.golden_text(case), (
        f"{path.name} is stale; review the change, then run: make golden"
    )


def test_golden_check_names_stale_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path)
    assert golden.main([]) == 1  # nothing there yet
    assert golden.main(["--update"]) == 0
    assert golden.main([]) == 0
    (tmp_path / "full.yaml").write_text("changed", encoding="utf-8")
    assert golden.main([]) == 1


def _validate_strict(obj: dict[str, Any]) -> None:
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("case", golden.CASES)
def test_every_builtin_object_is_strictly_valid(case: str) -> None:
    rendering = render_platform(golden.CASES[case])
    unchecked = []
    for obj in rendering.objects:
        try:
            _validate_strict(obj)
        except kubernetes_validate.SchemaNotFoundError:
            unchecked.append(obj["kind"])
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {path}: {exc.message}")
    # Only our custom resources lack a Kubernetes schema: the ServingRuntime is checked against KServe's
    # model below, the RayCluster's Pod templates as PodTemplates here and the whole RayCluster by the
    # real KubeRay CRD in tests/controlplane/test_full_profile.py.
    assert set(unchecked) <= {"ServingRuntime", "RayCluster"}


def test_the_ray_clusters_pod_templates_are_strictly_valid_and_sized_from_the_config() -> None:
    from iml4e.installer import versions
    from iml4e.installer.config import parse_config

    config = parse_config(
        {
            "profile": "full",
            "services": {"ray": {"workers": 3, "worker": {"cpu": "2", "memory": "3Gi"}}},
        }
    )
    ray_cluster = next(o for o in render_platform(config).objects if o["kind"] == "RayCluster")
    spec = ray_cluster["spec"]
    assert spec["rayVersion"] == versions.RAY_VERSION
    head, workers = spec["headGroupSpec"], spec["workerGroupSpecs"]
    assert [(g["replicas"], g["minReplicas"], g["maxReplicas"]) for g in workers] == [(3, 3, 3)]
    sizes = [c["resources"] for g in [head, *workers] for c in g["template"]["spec"]["containers"]]
    assert sizes == [
        {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}},
        {"requests": {"cpu": "2", "memory": "3Gi"}, "limits": {"cpu": "2", "memory": "3Gi"}},
    ]
    for group in [head, *workers]:
        template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "ray"}}
        _validate_strict({**template, "template": group["template"]})
        (container,) = group["template"]["spec"]["containers"]
        assert container["image"] == versions.iml4e_image()  # the Ray that detect_errors runs


def test_strict_validation_rejects_an_unknown_field() -> None:
    """Guards the check above: a typo in a field must fail strict validation."""
    deployment = next(
        o for o in render_platform(PlatformConfig(profile="minimal")).objects if o["kind"] == "Deployment"
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_strict(deployment)


def _check_against_model(data: Any, model: str, path: str) -> list[str]:
    """Walk `data` against a KServe/Kubernetes OpenAPI model class; return unknown or mistyped keys."""
    import kserve
    import kubernetes.client

    if model.startswith("list["):
        assert isinstance(data, list), path
        return [
            err
            for i, item in enumerate(data)
            for err in _check_against_model(item, model[5:-1], f"{path}[{i}]")
        ]
    if model.startswith("dict("):
        return [] if isinstance(data, dict) else [f"{path}: expected a mapping"]
    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}
    if model in scalars:
        return [] if isinstance(data, scalars[model]) else [f"{path}: expected {model}"]  # type: ignore[arg-type]
    cls = getattr(kserve, model, None) or getattr(kubernetes.client, model)
    if not isinstance(data, dict):
        return [f"{path}: expected an object ({model})"]
    by_json = {json_key: attr for attr, json_key in cls.attribute_map.items()}
    errors = []
    for key, value in data.items():
        if key not in by_json:
            errors.append(f"{path}.{key}: unknown field of {model}")
            continue
        errors += _check_against_model(value, cls.openapi_types[by_json[key]], f"{path}.{key}")
    return errors


def test_serving_runtime_matches_kserve_schema() -> None:
    """Custom resources checked against the CRD's model as published in the installed KServe SDK."""
    runtime = next(o for o in render_platform(PlatformConfig()).objects if o["kind"] == "ServingRuntime")
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1"
    assert _check_against_model(runtime, "V1alpha1ServingRuntime", "ServingRuntime") == []
    broken = json.loads(json.dumps(runtime))
    broken["spec"]["supportedModelFormat"] = broken["spec"].pop("supportedModelFormats")
    assert _check_against_model(broken, "V1alpha1ServingRuntime", "ServingRuntime")


def test_profiles_add_services_on_top_of_each_other() -> None:
    names = {
        p: {(o["kind"], o["metadata"]["name"]) for o in render_platform(PlatformConfig(profile=p)).objects}
        for p in PROFILES
    }
    assert names["minimal"] < names["standard"] < names["full"]
    assert ("Deployment", "iml4e-mlflow") in names["minimal"]
    assert ("StatefulSet", "iml4e-prometheus") not in names["minimal"]
    assert ("ServingRuntime", "iml4e-mlflow") in names["standard"]
    assert ("Deployment", "iml4e-feast") in names["full"] - names["standard"]


def test_full_overlay_patches_without_copying() -> None:
    standard = render_platform(PlatformConfig(profile="standard")).objects
    full = render_platform(PlatformConfig(profile="full")).objects

    def prometheus(objects: list[dict[str, Any]]) -> dict[str, Any]:
        sts = next(
            o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "iml4e-prometheus"
        )
        return sts["spec"]["template"]["spec"]["containers"][0]

    assert prometheus(standard)["resources"]["requests"]["memory"] == "512Mi"
    assert prometheus(full)["resources"]["requests"]["memory"] == "1Gi"
    assert prometheus(full)["resources"]["requests"]["cpu"] == "200m"  # untouched fields survive the patch
    assert prometheus(full)["args"] == prometheus(standard)["args"]


def test_every_object_has_one_stage_and_stages_are_ordered() -> None:
    rendering = render_platform(PlatformConfig(profile="full"))
    order = [STAGES.index(stage_of(o)) for o in rendering.objects]
    assert order == sorted(order)
    assert stage_of({"kind": "Namespace", "apiVersion": "v1", "metadata": {}}) == "namespaces-crds"
    assert stage_of(
        {"kind": "ServingRuntime", "apiVersion": "serving.kserve.io/v1alpha1", "metadata": {}}
    ) == ("custom-resources")


def test_images_come_from_the_version_matrix() -> None:
    for obj in render_platform(PlatformConfig(profile="full")).objects:
        for container in containers(obj):
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert image == versions.iml4e_image() or versions.IMAGES[name] == tag


def test_external_services_are_not_installed_and_components_are_wired_to_them() -> None:
    config = parse_config(
        {
            "profile": "full",
            "services": {
                "object_store": {
                    "mode": "external",
                    "endpoint": "https://s3.example.org",
                    "credentials_secret": "my-s3",
                },
                "mlflow": {"mode": "external", "uri": "https://mlflow.example.org"},
                "prometheus": {"mode": "external", "url": "http://prom.example.org:9090"},
            },
        }
    )
    rendering = render_platform(config)
    components = {(o["metadata"].get("labels") or {}).get("iml4e.io/component") for o in rendering.objects}
    assert not components & {"object-store", "mlflow", "monitoring"}
    assert "postgres" in components  # still needed by the managed Feast
    endpoints = next(
        o
        for o in rendering.objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "iml4e-endpoints"
    )["data"]
    assert endpoints["AWS_ENDPOINT_URL"] == "https://s3.example.org"
    assert endpoints["MLFLOW_TRACKING_URI"] == "https://mlflow.example.org"
    assert endpoints["PROMETHEUS_URL"] == "http://prom.example.org:9090"
    text = yaml.safe_dump_all(rendering.objects)
    assert "iml4e-s3-credentials" not in text and "my-s3" in text


def test_storage_settings_reach_the_volume_claims() -> None:
    config = parse_config({"storage": {"storage_class": "fast", "postgres": "50Gi"}})
    objects = render_platform(config).objects
    postgres = next(
        o for o in objects if o["metadata"]["name"] == "iml4e-postgres" and o["kind"] == "StatefulSet"
    )
    claim = postgres["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    assert claim["storageClassName"] == "fast"
    assert claim["accessModes"] == ["ReadWriteOnce"]


def test_registry_mirror_rewrites_every_image() -> None:
    objects = render_platform(parse_config({"images": {"registry_mirror": "registry.local:5000"}})).objects
    images = [c["image"] for o in objects for c in containers(o)]
    assert images and all(image.startswith("registry.local:5000/") for image in images)
    assert "registry.local:5000/library/postgres:" + versions.IMAGES["docker.io/library/postgres"] in images


def test_alert_webhook_from_a_secret_becomes_the_receiver() -> None:
    plain = render_platform(PlatformConfig())
    config = next(o for o in plain.objects if o["metadata"]["name"] == "iml4e-alertmanager-config")
    routing = yaml.safe_load(config["data"]["alertmanager.yml"])
    assert routing["receivers"] == [{"name": "iml4e-ui-only"}]  # no invented endpoint
    wired = render_platform(parse_config({"alerting": {"webhook_secret": "team-hook"}}))
    config = next(o for o in wired.objects if o["metadata"]["name"] == "iml4e-alertmanager-config")
    routing = yaml.safe_load(config["data"]["alertmanager.yml"])
    assert routing["route"]["receiver"] == "iml4e-webhook"
    assert routing["receivers"][0]["webhook_configs"][0]["url_file"] == "/etc/alertmanager/webhook/url"
    deployment = next(
        o
        for o in wired.objects
        if o["metadata"]["name"] == "iml4e-alertmanager" and o["kind"] == "Deployment"
    )
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "webhook", "secret": {"secretName": "team-hook"}} in volumes
    assert {"name": "config", "configMap": {"name": "iml4e-alertmanager-config"}} in volumes


def _monitoring_config_maps(manifests: Path) -> tuple[dict[str, str], dict[str, str]]:
    objects = render_platform(PlatformConfig(profile="standard"), manifests).objects
    by_name = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    return by_name["iml4e-grafana-dashboards"]["data"], by_name["iml4e-prometheus-rules"]["data"]


def test_monitoring_renders_without_helper_files(manifests_copy: Path) -> None:
    monitoring = manifests_copy / "base" / "monitoring"
    for file in (monitoring / "dashboards").glob("*.json"):
        file.unlink()
    (monitoring / "alert-rules.yaml").unlink(missing_ok=True)
    dashboards, rules = _monitoring_config_maps(manifests_copy)
    assert set(dashboards) == {"iml4e-platform.json"}
    assert set(rules) == {"platform.yaml"}


def test_monitoring_picks_up_helper_dashboards_and_rules(manifests_copy: Path) -> None:
    monitoring = manifests_copy / "base" / "monitoring"
    (monitoring / "dashboards").mkdir(exist_ok=True)
    (monitoring / "dashboards" / "model-serving.json").write_text('{"title": "serving"}', encoding="utf-8")
    rules = {"groups": [{"name": "drift", "rules": [{"alert": "Drift", "expr": "drift_score > 0.3"}]}]}
    (monitoring / "alert-rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    dashboards, rule_files = _monitoring_config_maps(manifests_copy)
    assert json.loads(dashboards["model-serving.json"]) == {"title": "serving"}
    assert yaml.safe_load(rule_files["alert-rules.yaml"]) == rules
    assert "platform.yaml" in rule_files


def test_untagged_image_without_matrix_entry_is_refused(manifests_copy: Path) -> None:
    mlflow = manifests_copy / "base" / "mlflow" / "mlflow.yaml"
    mlflow.write_text(
        mlflow.read_text(encoding="utf-8").replace("image: iml4e-image", "image: example/unknown")
    )
    with pytest.raises(UsageError, match="has no tag"):
        render_platform(PlatformConfig(profile="minimal"), manifests_copy)


def test_pipelines_are_told_to_deploy_with_kserve_where_it_is_installed() -> None:
    from iml4e_components.deployment import core as deployment

    def endpoints(profile: str) -> dict[str, str]:
        objects = render_platform(PlatformConfig(profile=profile)).objects  # type: ignore[arg-type]
        return next(o for o in objects if o["metadata"]["name"] == "iml4e-endpoints")["data"]  # type: ignore[no-any-return]

    standard = endpoints("standard")
    assert standard[deployment.TARGET_ENV] == "kserve"
    assert standard[deployment.NAMESPACE_ENV] == SERVING_NAMESPACE
    assert deployment.TARGET_ENV not in endpoints("minimal")  # no KServe in minimal
    # The runtime and service account the deploy component defaults to are the ones we ship.
    objects = render_platform(PlatformConfig(profile="standard")).objects
    assert any(
        o["kind"] == "ServingRuntime" and o["metadata"]["name"] == deployment.DEFAULT_RUNTIME for o in objects
    )
    assert any(
        o["kind"] == "ServiceAccount" and o["metadata"]["name"] == deployment.DEFAULT_SERVICE_ACCOUNT
        for o in objects
    )
    runtime = next(o for o in objects if o["kind"] == "ServingRuntime")
    assert runtime["spec"]["annotations"]["prometheus.io/port"] == str(deployment.METRICS_PORT)


def test_mlflow_artifact_destination_is_published_to_pipelines() -> None:
    objects = render_platform(parse_config({"services": {"object_store": {"bucket": "ml"}}})).objects
    endpoints = next(o for o in objects if o["metadata"]["name"] == "iml4e-endpoints")["data"]
    assert endpoints["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://ml/mlflow"
    mlflow = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "iml4e-mlflow")
    container = mlflow["spec"]["template"]["spec"]["containers"][0]
    assert "--artifacts-destination=$(MLFLOW_ARTIFACTS_DESTINATION)" in container["args"]
    assert {"configMapRef": {"name": "iml4e-endpoints"}} in container["envFrom"]


def test_render_into_a_read_only_place_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A read-only filesystem (simulated: creating the directory fails with EROFS) is refused before any
    file is written, not an unexpected OSError halfway."""
    import errno

    from typer.testing import CliRunner

    from iml4e.cli.app import app

    def read_only(self: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    result = CliRunner().invoke(app, ["render", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "Read-only file system" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
