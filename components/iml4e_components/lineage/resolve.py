"""Which MLflow run produced a model: resolve `models:/name@alias`, `models:/name/3`, `models:/m-<id>`
or `runs:/<run>/model` through the MLflow tracking server the environment names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from iml4e_components.errors import ComponentError


@dataclass
class ModelRef:
    uri: str
    name: str = ""
    version: str = ""
    run_id: str = ""
    model_id: str = ""
    source: str = ""
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_model_uri(text: str) -> bool:
    return text.startswith(("models:/", "runs:/"))


def resolve_model(uri: str) -> ModelRef:
    """Look the model up in MLflow; a one-line error says what was not found and how to list models."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    where = mlflow.get_tracking_uri()
    try:
        if uri.startswith("runs:/"):
            run_id = uri.removeprefix("runs:/").split("/", 1)[0]
            client.get_run(run_id)
            return ModelRef(uri=uri, run_id=run_id, source=uri)
        reference = uri.removeprefix("models:/").strip("/")
        if not reference:
            raise ComponentError(
                f"model URI '{uri}' names no model; write models:/NAME@ALIAS or models:/NAME/VERSION"
            )
        if "@" in reference:
            name, alias = reference.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        elif "/" in reference:
            name, number = reference.split("/", 1)
            version = client.get_model_version(name, number)
        elif reference.startswith("m-"):
            logged = client.get_logged_model(reference)
            return ModelRef(uri=uri, name=logged.name, run_id=logged.source_run_id or "", model_id=reference)
        else:
            versions = client.search_model_versions(f"name='{reference}'", order_by=["version_number DESC"])
            if not versions:
                raise ComponentError(f"registered model '{reference}' has no versions at {where}")
            version = versions[0]
    except MlflowException as exc:
        message = str(exc.message).splitlines()[0]
        raise ComponentError(
            f"model '{uri}' not found in the MLflow registry at {where} ({message}); "
            "check the name, version or alias (list them with 'iml4e models list')"
        ) from exc
    return ModelRef(
        uri=uri,
        name=str(version.name),
        version=str(version.version),
        run_id=str(version.run_id or ""),
        model_id=str(getattr(version, "model_id", "") or ""),
        source=str(version.source or ""),
        aliases=list(version.aliases or []),
        tags=dict(version.tags or {}),
    )
