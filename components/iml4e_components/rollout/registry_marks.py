"""A rollout in MLflow's registry: the `challenger` alias marks the canary's model version, `champion`
moves to it only on promotion, and each decision is written as tags on the version and its run."""

from __future__ import annotations

import contextlib
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
#: Tag prefix of rollout decisions (on the canary's model version and on the run that logged it).
TAG_PREFIX = "iml4e.rollout"


def registered_version(model_uri: str) -> tuple[str, str] | None:
    """(registered model, version) behind a `models:/name@alias` or `models:/name/version` URI;
    None for other URIs or when the registry does not know it."""
    if not model_uri.startswith("models:/"):
        return None
    import mlflow
    from mlflow.exceptions import MlflowException

    reference = model_uri.removeprefix("models:/")
    client = mlflow.MlflowClient()
    try:
        if "@" in reference:
            name, alias = reference.split("@", 1)
            return name, str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = reference.partition("/")
        return (name, str(client.get_model_version(name, version).version)) if version else None
    except MlflowException:
        return None


def mark_challenger(canary_uri: str) -> tuple[str, str] | None:
    """Point the `challenger` alias at the canary's version (when it is a registered one)."""
    found = registered_version(canary_uri)
    if found is not None:
        import mlflow

        mlflow.MlflowClient().set_registered_model_alias(found[0], CHALLENGER, found[1])
    return found


def clear_challenger(name: str) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # no challenger alias: nothing to clear
        mlflow.MlflowClient().delete_registered_model_alias(name, CHALLENGER)


def promote_version(name: str, version: str) -> None:
    """`champion` moves to the promoted version; `challenger` is cleared."""
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(name, CHAMPION, version)
    clear_challenger(name)


def tag_decision(name: str, version: str, tags: dict[str, Any]) -> None:
    """Write the decision's tags on the model version and on the run that logged it."""
    import mlflow

    client = mlflow.MlflowClient()
    values = {f"{TAG_PREFIX}.{key}": str(value) for key, value in tags.items()}
    for key, value in values.items():
        client.set_model_version_tag(name, version, key, value)
    run_id = client.get_model_version(name, version).run_id
    if run_id:
        for key, value in values.items():
            client.set_tag(run_id, key, value)
