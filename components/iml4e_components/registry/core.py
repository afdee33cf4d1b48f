"""MLflow model registry: register a version, alias it `challenger`, promote to `champion` if it wins.

With a canary rollout a winner stays `challenger` (`Registration.canary`): it is served beside the
champion first, and `champion` moves only when the canary is promoted. Aliases only: registry
stages are deprecated in MLflow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from iml4e_components.conventions import CARD_VERDICT_TAG, ROLLOUTS
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
    #: The version won but waits as `challenger` for a canary rollout (rollout=canary).
    canary: bool = False

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.name}@{CHAMPION}"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "champion_uri": self.champion_uri}


#: Model version tag carrying the model card gate's verdict (pass|fail).


def verdict_tags(card_verdict: str) -> dict[str, str]:
    """Version tags from the model card gate's verdict JSON ("" when there was no gate)."""
    import json

    if not card_verdict.strip():
        return {}
    try:
        verdict = json.loads(card_verdict)
    except json.JSONDecodeError as exc:
        raise ComponentError(
            f"card_verdict is not the gate's JSON verdict ({exc.msg}); pass model_card_gate's output"
        ) from exc
    if not isinstance(verdict, dict) or "passed" not in verdict:
        raise ComponentError("card_verdict has no 'passed' field; pass model_card_gate's output")
    return {CARD_VERDICT_TAG: "pass" if verdict["passed"] else "fail"}


def register(
    model_uri: str,
    name: str,
    metric: str,
    value: float,
    tags: dict[str, str] | None = None,
    rollout: str = "replace",
) -> Registration:
    """Register `model_uri` as a new version of `name` and move aliases by the gated `metric`.

    `rollout=canary`: a version that beats an existing champion keeps only the `challenger` alias
    (it is deployed as the canary); the first version of a model has nothing to be compared with
    live and becomes champion at once."""
    if rollout not in ROLLOUTS:
        raise ComponentError(f"rollout='{rollout}' is not a rollout mode; use one of: {', '.join(ROLLOUTS)}")
    import mlflow
    from mlflow.exceptions import MlflowException

    if not name.strip():
        raise ComponentError(
            "model_name is empty; name the registered model, e.g. model_name=churn-classifier"
        )
    client = mlflow.MlflowClient()
    try:
        version = mlflow.register_model(model_uri, name)
    except MlflowException as exc:
        raise ComponentError(f"cannot register model URI '{model_uri}': {exc.message}") from exc
    client.set_registered_model_alias(name, CHALLENGER, version.version)

    incumbent, incumbent_value = champion_metric(name, metric)
    wins = incumbent is None or incumbent_value is None or is_better(value, incumbent_value, metric)
    canary = wins and rollout == "canary" and incumbent is not None
    promoted = wins and not canary
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version.version)
    client.set_model_version_tag(name, version.version, f"iml4e.{metric}", str(value))
    for key, tag in (tags or {}).items():
        client.set_model_version_tag(name, version.version, key, tag)
    return Registration(
        name=name,
        version=str(version.version),
        promoted=promoted,
        metric=metric,
        value=value,
        previous_champion=incumbent,
        previous_value=incumbent_value,
        canary=canary,
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


def gated_value(metrics: dict[str, object], metric: str) -> float:
    """The value of the gated `metric` among the evaluation's metrics; errors list what exists."""
    if metric not in metrics:
        overall = sorted(k for k in metrics if "__" not in k)
        raise ComponentError(f"gate_metric '{metric}' was not computed; available: {', '.join(overall)}")
    return float(metrics[metric])  # type: ignore[arg-type]  # the evaluation's metrics are numbers
