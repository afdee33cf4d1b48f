"""MLflow model registry: register a version, alias it `challenger`, promote to `champion` if it wins.

Aliases only: registry stages are deprecated in MLflow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from iml4e_components.errors import ComponentError
from iml4e_components.evaluation.core import is_better

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    promoted: bool
    metric: str
    value: float
    previous_champion: str | None
    previous_value: float | None

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.name}@{CHAMPION}"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "champion_uri": self.champion_uri}


def register(model_uri: str, name: str, metric: str, value: float) -> Registration:
    """Register `model_uri` as a new version of `name` and move aliases by the gated `metric`."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        version = mlflow.register_model(model_uri, name)
    except MlflowException as exc:
        raise ComponentError(f"cannot register model URI '{model_uri}': {exc.message}") from exc
    client.set_registered_model_alias(name, CHALLENGER, version.version)

    incumbent, incumbent_value = champion_metric(name, metric)
    promoted = incumbent is None or incumbent_value is None or is_better(value, incumbent_value, metric)
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version.version)
    client.set_model_version_tag(name, version.version, f"iml4e.{metric}", str(value))
    return Registration(
        name=name,
        version=str(version.version),
        promoted=promoted,
        metric=metric,
        value=value,
        previous_champion=incumbent,
        previous_value=incumbent_value,
    )


def champion_metric(name: str, metric: str) -> tuple[str | None, float | None]:
    """The current champion's version and its value of `metric` (from its training run)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None, None
    if not current.run_id:
        return str(current.version), None
    value = client.get_run(current.run_id).data.metrics.get(metric)
    return str(current.version), value
