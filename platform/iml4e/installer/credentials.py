"""Credentials generated at install time: random values stored as Secrets, never written to git.

`plan_secrets` returns the Secret objects to apply. Values already in the cluster are kept (a
re-run changes nothing); derived Secrets (the MLflow auth file and database URI, the object store's
identity file, KServe's storage Secret) are rebuilt from the same base values so they always agree.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable

from iml4e.errors import UsageError
from iml4e.installer.compose import Object
from iml4e.installer.config import Mode, PlatformConfig
from iml4e.installer.render import (
    MONITORING_NAMESPACE,
    PIPELINES_NAMESPACE,
    PLATFORM_NAMESPACE,
    S3_CREDENTIALS_SECRET,
    endpoints,
)
from iml4e_components.conventions import SERVING_NAMESPACE

ADMIN_USER = "admin"
GENERATED_ANNOTATION = "iml4e.io/generated"

#: Reads a Secret's decoded values from the cluster (None when absent).
SecretReader = Callable[[str, str], "dict[str, str] | None"]


def random_password(length: int = 32) -> str:
    """URL-safe random text (safe inside connection URIs and INI files)."""
    return secrets.token_urlsafe(length)[:length]


def secret_object(
    namespace: str, name: str, values: dict[str, str], annotations: dict[str, str] | None = None
) -> Object:
    metadata: dict[str, object] = {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "iml4e", "app.kubernetes.io/part-of": "iml4e"},
        "annotations": {GENERATED_ANNOTATION: "true", **(annotations or {})},
    }
    data = {key: base64.b64encode(value.encode("utf-8")).decode("ascii") for key, value in values.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": data}


def _keep_or_generate(
    read: SecretReader, namespace: str, name: str, keys: dict[str, Callable[[], str]]
) -> dict[str, str]:
    existing = read(namespace, name) or {}
    return {key: existing.get(key) or make() for key, make in keys.items()}


def _admin_account(read: SecretReader, namespace: str, name: str) -> dict[str, str]:
    """username/password of a service's admin account, generated once."""
    return _keep_or_generate(
        read, namespace, name, {"username": lambda: ADMIN_USER, "password": random_password}
    )


def _given_secret(read: SecretReader, name: str, keys: tuple[str, ...], setting: str) -> dict[str, str]:
    """A Secret the user created for an external service; must hold `keys`."""
    values = read(PLATFORM_NAMESPACE, name) or {}
    if not set(keys) <= set(values):
        raise UsageError(
            f"Secret {PLATFORM_NAMESPACE}/{name} with keys {' and '.join(keys)} is missing; "
            f"create it (kubectl create secret generic ...) or change {setting}"
        )
    return {key: values[key] for key in keys}


def _postgres_uri(postgres_password: str, database: str) -> str:
    return f"postgresql://iml4e:{postgres_password}@iml4e-postgres.iml4e.svc:5432/{database}"


def _mlflow_auth_ini(admin_password: str, postgres_password: str) -> str:
    return (
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {_postgres_uri(postgres_password, 'mlflow_auth')}\n"
        f"admin_username = {ADMIN_USER}\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )


def plan_secrets(config: PlatformConfig, read: SecretReader) -> list[Object]:
    """Every Secret the install creates for this config, reusing values already in the cluster."""
    planned: list[Object] = []
    postgres: dict[str, str] = {}
    if config.managed("mlflow") or config.managed("feast"):
        postgres = _keep_or_generate(
            read, PLATFORM_NAMESPACE, "iml4e-postgres", {"password": random_password}
        )
        planned.append(secret_object(PLATFORM_NAMESPACE, "iml4e-postgres", postgres))

    store = config.services.object_store
    if store.mode is Mode.managed:
        s3 = _keep_or_generate(
            read,
            PLATFORM_NAMESPACE,
            S3_CREDENTIALS_SECRET,
            {
                "AWS_ACCESS_KEY_ID": lambda: "iml4e" + secrets.token_hex(8),
                "AWS_SECRET_ACCESS_KEY": random_password,
            },
        )
        planned.append(secret_object(PLATFORM_NAMESPACE, S3_CREDENTIALS_SECRET, s3))
        identity = {
            "identities": [
                {
                    "name": "iml4e",
                    "credentials": [
                        {"accessKey": s3["AWS_ACCESS_KEY_ID"], "secretKey": s3["AWS_SECRET_ACCESS_KEY"]}
                    ],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        planned.append(
            secret_object(
                PLATFORM_NAMESPACE, "iml4e-object-store-s3-config", {"s3.json": json.dumps(identity)}
            )
        )
    else:
        s3 = _given_secret(
            read,
            store.credentials_secret or "",
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
            "services.object_store.credentials_secret",
        )

    if config.managed("mlflow"):
        admin = _admin_account(read, PLATFORM_NAMESPACE, "iml4e-mlflow-auth")
        admin["basic_auth.ini"] = _mlflow_auth_ini(admin["password"], postgres["password"])
        # Read by the MLflow Deployment as MLFLOW_BACKEND_STORE_URI: a password never goes into arguments.
        admin["backend_store_uri"] = _postgres_uri(postgres["password"], "mlflow")
        planned.append(secret_object(PLATFORM_NAMESPACE, "iml4e-mlflow-auth", admin))
        client = {
            "MLFLOW_TRACKING_USERNAME": admin["username"],
            "MLFLOW_TRACKING_PASSWORD": admin["password"],
        }
        planned.append(secret_object(PIPELINES_NAMESPACE, "iml4e-mlflow-client", client))
    else:
        # An external MLflow: its credentials (if any) come from the user's Secret; empty values
        # mean no authentication (MLflow's client sends basic auth only when both are set).
        secret_name = config.services.mlflow.credentials_secret
        given = (
            _given_secret(read, secret_name, ("username", "password"), "services.mlflow.credentials_secret")
            if secret_name
            else {}
        )
        external = {
            "MLFLOW_TRACKING_USERNAME": given.get("username", ""),
            "MLFLOW_TRACKING_PASSWORD": given.get("password", ""),
        }
        planned.append(secret_object(PIPELINES_NAMESPACE, "iml4e-mlflow-client", external))

    if config.includes("serving"):
        urls = endpoints(config)
        endpoint = urls["AWS_ENDPOINT_URL"]
        host = endpoint.split("://", 1)[-1].rstrip("/")
        annotations = {
            "serving.kserve.io/s3-endpoint": host,
            "serving.kserve.io/s3-usehttps": "1" if endpoint.startswith("https://") else "0",
            "serving.kserve.io/s3-region": store.region,
            "serving.kserve.io/s3-useanoncredential": "false",
        }
        planned.append(secret_object(SERVING_NAMESPACE, "iml4e-serving-s3", s3, annotations))
        if config.managed("prometheus"):
            grafana = _admin_account(read, MONITORING_NAMESPACE, "iml4e-grafana-admin")
            planned.append(secret_object(MONITORING_NAMESPACE, "iml4e-grafana-admin", grafana))
    return planned


#: (namespace, secret, what) shown by `iml4e credentials`.
SHOWN_CREDENTIALS: tuple[tuple[str, str, str], ...] = (
    (PLATFORM_NAMESPACE, "iml4e-mlflow-auth", "mlflow"),
    (MONITORING_NAMESPACE, "iml4e-grafana-admin", "grafana"),
    (PLATFORM_NAMESPACE, S3_CREDENTIALS_SECRET, "object-store"),
)


def read_credentials(read: SecretReader) -> list[dict[str, str]]:
    """The credentials a user logs in with, read back from the cluster's Secrets."""
    rows = []
    for namespace, name, service in SHOWN_CREDENTIALS:
        values = read(namespace, name)
        if not values:
            continue
        if "AWS_ACCESS_KEY_ID" in values:
            user, password = values["AWS_ACCESS_KEY_ID"], values.get("AWS_SECRET_ACCESS_KEY", "")
        else:
            user, password = values.get("username", ""), values.get("password", "")
        rows.append(
            {"service": service, "username": user, "password": password, "secret": f"{namespace}/{name}"}
        )
    return rows
