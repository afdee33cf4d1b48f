"""Status, upgrade plan and uninstall against the recording fake cluster (no API server runs here)."""

from __future__ import annotations

from typing import Any

from fake_cluster import FakeClock, FakeCluster

from iml4e.installer import versions
from iml4e.installer.config import PlatformConfig
from iml4e.installer.credentials import plan_secrets, read_credentials
from iml4e.installer.install import plan_stages, run_install
from iml4e.installer.lifecycle import cluster_status, uninstall, upgrade_plan
from iml4e.installer.render import render_platform


def _installed(ready: Any = None) -> tuple[FakeCluster, PlatformConfig]:
    cluster = FakeCluster(ready)
    config = PlatformConfig.model_validate({"cluster": {"stage_timeout_seconds": 5}})
    clock = FakeClock()
    run_install(cluster, config, render_platform(config), [], clock=clock, sleep=clock.sleep)
    return cluster, config


def test_status_reports_health_per_component_from_conditions() -> None:
    cluster, _ = _installed()
    status = cluster_status(cluster)
    by_name = {c["component"]: c for c in status["components"]}
    assert {"mlflow", "postgres", "object-store", "monitoring"} <= set(by_name)
    assert by_name["mlflow"]["healthy"] and by_name["mlflow"]["ready"] == "1/1"
    # Upstream parts were not applied in this test: they show as unhealthy with the fix.
    assert not by_name["kubeflow-pipelines"]["healthy"]
    assert "iml4e install" in by_name["kubeflow-pipelines"]["problems"][0]
    assert status["profile"] == "standard" and not status["healthy"]


def test_status_names_the_unready_workload() -> None:
    cluster, _ = _installed()
    cluster._ready = lambda obj, polls: obj["metadata"]["name"] != "iml4e-grafana"
    status = cluster_status(cluster)
    monitoring = next(c for c in status["components"] if c["component"] == "monitoring")
    assert not monitoring["healthy"]
    assert monitoring["problems"] == [
        "Deployment iml4e-monitoring/iml4e-grafana: 0/1 ready (MinimumReplicasUnavailable)"
    ]


def test_upgrade_plan_lists_only_changed_versions() -> None:
    cluster, _ = _installed()
    assert upgrade_plan(cluster) == []
    record = cluster.objects[("ConfigMap", "iml4e", "iml4e-install")]["body"]
    record["data"]["versions"] = record["data"]["versions"].replace(versions.UPSTREAM["kserve"], "v0.1.0")
    plan = upgrade_plan(cluster)
    target = versions.UPSTREAM["kserve"]
    assert plan == [
        {"component": "kserve", "installed": "v0.1.0", "target": target},
        {"component": "storage-initializer", "installed": "v0.1.0", "target": target},  # released with KServe
    ]


def test_uninstall_keeps_volumes_and_credentials_unless_purged() -> None:
    cluster, config = _installed()
    cluster.claims["iml4e"] = ["data-iml4e-postgres-0"]
    stages = plan_stages(render_platform(config), [], plan_secrets(config, lambda ns, name: None))
    result = uninstall(cluster, stages, purge=False)
    remaining = set(cluster.objects)
    assert ("Deployment", "iml4e", "iml4e-mlflow") not in remaining
    assert ("Secret", "iml4e", "iml4e-postgres") in remaining  # the data volume was written with it
    assert ("Namespace", "", "iml4e") in remaining  # holds a PVC
    assert ("Namespace", "", "iml4e-serving") not in remaining
    assert cluster.claims["iml4e"] == ["data-iml4e-postgres-0"]
    assert any("holds PersistentVolumeClaims" in kept for kept in result["kept"])
    purged = uninstall(cluster, stages, purge=True)
    assert cluster.claims["iml4e"] == []
    assert not [k for k in cluster.objects if k[1].startswith("iml4e") or k[2].startswith("iml4e")]
    assert "PersistentVolumeClaim iml4e/data-iml4e-postgres-0" in purged["deleted"]


def test_credentials_are_generated_once_and_shown_back() -> None:
    cluster, config = _installed()
    from iml4e.installer.cluster import secret_values

    def read(namespace: str, name: str) -> dict[str, str] | None:
        return secret_values(cluster.get("v1", "Secret", name, namespace))

    rows = {row["service"]: row for row in read_credentials(read)}
    assert set(rows) == {"mlflow", "grafana", "object-store"}
    assert rows["mlflow"]["username"] == "admin" and len(rows["mlflow"]["password"]) == 32
    auth = read("iml4e", "iml4e-mlflow-auth") or {}
    postgres = read("iml4e", "iml4e-postgres") or {}
    assert f"iml4e:{postgres['password']}@" in auth["basic_auth.ini"]
    assert rows["grafana"]["password"] != rows["mlflow"]["password"]
    again = {s["metadata"]["name"]: s["data"] for s in plan_secrets(config, read)}
    assert (
        again["iml4e-mlflow-auth"]
        == cluster.objects[("Secret", "iml4e", "iml4e-mlflow-auth")]["body"]["data"]
    )


def test_external_services_take_credentials_from_the_users_secrets() -> None:
    import pytest

    from iml4e.errors import UsageError
    from iml4e.installer.cluster import secret_values
    from iml4e.installer.config import parse_config

    config = parse_config(
        {
            "services": {
                "mlflow": {
                    "mode": "external",
                    "uri": "https://mlflow.example.org",
                    "credentials_secret": "ml",
                },
                "object_store": {
                    "mode": "external",
                    "endpoint": "https://s3.example.org",
                    "credentials_secret": "s3",
                },
            }
        }
    )
    given = {
        ("iml4e", "ml"): {"username": "team", "password": "from-the-user"},
        ("iml4e", "s3"): {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"},
    }
    secrets = {s["metadata"]["name"]: s for s in plan_secrets(config, lambda ns, name: given.get((ns, name)))}
    assert (
        "iml4e-postgres" not in secrets and "iml4e-s3-credentials" not in secrets
    )  # nothing managed to protect
    client = secret_values(secrets["iml4e-mlflow-client"])
    assert client == {"MLFLOW_TRACKING_USERNAME": "team", "MLFLOW_TRACKING_PASSWORD": "from-the-user"}
    serving = secrets["iml4e-serving-s3"]
    assert secret_values(serving) == {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}
    assert serving["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"] == "s3.example.org"
    assert serving["metadata"]["annotations"]["serving.kserve.io/s3-usehttps"] == "1"
    with pytest.raises(UsageError, match="iml4e/s3 with keys AWS_ACCESS_KEY_ID"):
        plan_secrets(config, lambda ns, name: None)
