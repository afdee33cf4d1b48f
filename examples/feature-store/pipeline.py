"""Build a point-in-time correct training table from the Feast repo (materialize, then join labels)."""

from kfp import dsl

from iml4e_components.datasets.component import load_dataset
from iml4e_components.feature_store.component import get_training_features, materialize_features


@dsl.pipeline(
    name="feature-store-training-table", description="Materialize features and build a training table."
)
def feature_store_training_table(
    repo_path: str, labels: str, end_date: str, feature_service: str = "churn_model_features"
) -> str:
    materialized = materialize_features(repo_path=repo_path, start_date="2025-01-01", end_date=end_date)
    loaded = load_dataset(source=labels)
    get_training_features(
        repo_path=repo_path, entities=loaded.outputs["dataset"], feature_service=feature_service
    ).after(materialized)
    return materialized.output  # type: ignore[no-any-return]
