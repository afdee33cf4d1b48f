"""Credentials generated at install: random once, kept on re-runs, derived Secrets agree, user Secrets used."""

from __future__ import annotations

import pytest

from iml4e.errors import UsageError
from iml4e.installer.cluster import secret_values
from iml4e.installer.config import PlatformConfig, parse_config
from iml4e.installer.credentials import plan_secrets, read_credentials


def test_credentials_are_generated_once_and_shown_back() -> None:
    config = PlatformConfig()
    stored: dict[tuple[str, str], dict[str, str] | None] = {}

    def read(namespace: str, name: str) -> dict[str, str] | None:
        return stored.get((namespace, name))

    first = plan_secrets(config, read)
    for secret in first:
        stored[(secret["metadata"]["namespace"], secret["metadata"]["name"])] = secret_values(secret)
    rows = {row["service"]: row for row in read_credentials(read)}
    assert set(rows) == {"mlflow", "grafana", "object-store"}
    assert rows["mlflow"]["username"] == "admin" and len(rows["mlflow"]["password"]) == 32
    auth = read("iml4e", "iml4e-mlflow-auth") or {}
    postgres = read("iml4e", "iml4e-postgres") or {}
    assert f"iml4e:{postgres['password']}@" in auth["basic_auth.ini"]
    assert auth["backend_store_uri"] == (
        f"postgresql://iml4e:{postgres['password']}@iml4e-postgres.iml4e.svc:5432/mlflow"
    )
    assert rows["grafana"]["password"] != rows["mlflow"]["password"]
    again = {s["metadata"]["name"]: s["data"] for s in plan_secrets(config, read)}
    assert again == {s["metadata"]["name"]: s["data"] for s in first}  # a re-run keeps every value


def test_external_services_take_credentials_from_the_users_secrets() -> None:
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
    assert "iml4e-postgres" not in secrets and "iml4e-s3-credentials" not in secrets  # nothing managed
    client = secret_values(secrets["iml4e-mlflow-client"])
    assert client == {"MLFLOW_TRACKING_USERNAME": "team", "MLFLOW_TRACKING_PASSWORD": "from-the-user"}
    serving = secrets["iml4e-serving-s3"]
    assert secret_values(serving) == {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}
    assert serving["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"] == "s3.example.org"
    assert serving["metadata"]["annotations"]["serving.kserve.io/s3-usehttps"] == "1"
    with pytest.raises(UsageError, match="iml4e/s3 with keys AWS_ACCESS_KEY_ID"):
        plan_secrets(config, lambda ns, name: None)
