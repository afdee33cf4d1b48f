"""Deciding whether to retrain: fresh data against the champion's reference (training) data."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from iml4e_components.errors import ComponentError


@dataclass(frozen=True)
class RetrainingDecision:
    retrain: bool
    reason: str
    drift_share: float | None = None
    drifted_features: tuple[str, ...] = ()
    champion_version: str | None = None

    def as_json(self) -> str:
        return json.dumps({**asdict(self), "drifted_features": list(self.drifted_features)})


def champion_reference(model_name: str) -> tuple[str, pd.DataFrame] | None:
    """(version, training table) of the model's current champion, or None when there is none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from iml4e_components.registry.core import CHAMPION
    from iml4e_components.training.mlflow_model import REFERENCE_ARTIFACT

    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    if not version.run_id:
        raise ComponentError(
            f"champion of '{model_name}' (version {version.version}) has no training run to compare with"
        )
    with tempfile.TemporaryDirectory(prefix="iml4e-reference-") as folder:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=folder
            )
        except (MlflowException, OSError) as exc:
            raise ComponentError(
                f"champion of '{model_name}' (version {version.version}) has no {REFERENCE_ARTIFACT} in run "
                f"{version.run_id}; retrain with force=true once to record it"
            ) from exc
        return str(version.version), pd.read_parquet(Path(path))


def decide(
    current: pd.DataFrame,
    reference: pd.DataFrame | None,
    force: bool = False,
    exclude: list[str] | None = None,
    drift_share: float = 0.3,
    champion_version: str | None = None,
) -> RetrainingDecision:
    """Retrain when forced (a schedule or a person asked), when there is no champion yet, or when
    the share of drifted feature columns reaches `drift_share`."""
    if current.empty:
        raise ComponentError("the fresh dataset is empty; continuous training needs rows to compare")
    if reference is None:
        return RetrainingDecision(True, "no champion yet")
    from iml4e_components.monitoring.drift import compute_drift

    skipped = set(exclude or [])
    columns = [c for c in reference.columns if c in current.columns and c not in skipped]
    if not columns:
        raise ComponentError(
            "the fresh dataset shares no feature column with the champion's training data; check the dataset"
        )
    result = compute_drift(reference, current, columns=columns, drift_share=drift_share)
    drifted = tuple(result.drifted_features)
    if force:
        reason = "forced (schedule or request)"
    elif result.dataset_drift:
        reason = f"drift in {len(drifted)} of {len(columns)} columns ({', '.join(drifted)})"
    else:
        reason = f"no drift ({len(drifted)} of {len(columns)} columns drifted, below {drift_share:.0%})"
    return RetrainingDecision(
        retrain=force or result.dataset_drift,
        reason=reason,
        drift_share=result.drift_share,
        drifted_features=drifted,
        champion_version=champion_version,
    )
