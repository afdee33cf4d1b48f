"""The drift monitor Deployment: rendered only when models are configured, wired to the object store
and Prometheus, least privilege; the settings are checked with messages that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from iml4e.errors import UsageError
from iml4e.installer.config import parse_config
from iml4e.installer.credentials import plan_secrets
from iml4e.installer.render import containers, render_platform

MODELS = [
    {"name": "churn-classifier", "reference": "s3://iml4e/reference/churn.csv"},
    {"name": "energy", "reference": "s3://iml4e/reference/energy.parquet"},
]


def _monitor(config: dict[str, Any]) -> list[dict[str, Any]]:
    objects = render_platform(parse_config(config)).objects
    return [o for o in objects if o["metadata"]["name"] == "iml4e-drift-monitor"]


def test_no_models_no_monitor() -> None:
    assert _monitor({}) == []
    assert _monitor({"profile": "full"}) == []


def test_one_deployment_watches_every_configured_model() -> None:
    rendered = _monitor(
        {
            "profile": "full",
            "services": {"object_store": {"bucket": "ml-data"}},
            "monitoring": {"drift": {"models": MODELS, "interval_seconds": 600, "window": "6h"}},
        }
    )
    kinds = sorted(o["kind"] for o in rendered)
    assert kinds == ["Deployment", "ServiceAccount"]
    deployment = next(o for o in rendered if o["kind"] == "Deployment")
    (container,) = containers(deployment)
    assert container["command"] == ["python", "-m", "iml4e_components.monitoring"]
    assert "--watch=churn-classifier=s3://iml4e/reference/churn.csv" in container["args"]
    assert "--watch=energy=s3://iml4e/reference/energy.parquet" in container["args"]
    assert {"--interval=600", "--window=6h", "--metrics-port=9108", "--host=0.0.0.0"} <= set(
        container["args"]
    )
    env = {e["name"]: e for e in container["env"]}
    assert env["IML4E_REQUEST_LOG_BUCKET"]["value"] == "ml-data"
    assert env["AWS_ENDPOINT_URL"]["value"] == "http://iml4e-object-store.iml4e.svc:8333"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "iml4e-serving-s3", "key": key}
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9108"
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert ":" in container["image"] and not container["image"].endswith(":latest")


def test_its_credentials_secret_is_generated_in_its_namespace() -> None:
    config = parse_config({"monitoring": {"drift": {"models": MODELS[:1]}}})
    secrets = plan_secrets(config, lambda namespace, name: None)
    (secret,) = [s for s in secrets if s["metadata"]["name"] == "iml4e-serving-s3"]
    assert secret["metadata"]["namespace"] == "iml4e-serving"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(secret.get("stringData") or secret["data"])


def test_no_role_is_bound_to_the_monitor() -> None:
    objects = render_platform(parse_config({"monitoring": {"drift": {"models": MODELS}}})).objects
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert all(s.get("name") != "iml4e-drift-monitor" for s in binding.get("subjects", []))


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        (
            {"models": [{"name": "Churn_Model", "reference": "s3://b/k.csv"}]},
            "models.0.name: 'Churn_Model' is not an endpoint name",
        ),
        (
            {"models": [{"name": "churn", "reference": "data/churn.csv"}]},
            "is not in the object store; upload the reference table",
        ),
        ({"models": [MODELS[0], MODELS[0]]}, "listed more than once"),
        ({"window": "soon"}, "monitoring.drift.window: window 'soon' is not a duration"),
        (
            {"interval_seconds": 5},
            "monitoring.drift.interval_seconds: Input should be greater than or equal to 60",
        ),
        ({"every": 5}, "unknown key 'monitoring.drift.every'"),
    ],
)
def test_bad_settings_name_the_key_and_the_fix(drift: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace(".", r"\.").replace("'", "'")):
        parse_config({"monitoring": {"drift": drift}})


def test_minimal_profile_refuses_models() -> None:
    with pytest.raises(UsageError, match="profile minimal lacks; use profile standard or full"):
        parse_config({"profile": "minimal", "monitoring": {"drift": {"models": MODELS}}})
