"""KFP wrappers for the Feast feature store: materialize a feature repo, fetch training features."""

from kfp.dsl import Dataset, Input, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def materialize_features(
    repo_path: str,
    end_date: str = "",
    start_date: str = "",
    feature_views_json: str = "[]",
    apply: bool = True,
) -> str:
    """Apply the feature repo and load its features into the online store; returns a JSON summary.

    `feature_views_json` is a JSON list of view names (empty: all views of the repo).
    """
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step("materialize_features", inputs={"repo": repo_path}):
        import json

        from iml4e_components.feature_store.core import materialize_features as materialize
        from iml4e_components.feature_store.core import parse_name_list

        views = parse_name_list(feature_views_json, "feature_views_json", '["customer_stats"]')
        result = materialize(
            repo_path, end_date=end_date, start_date=start_date, feature_views=views, apply=apply
        )
        return json.dumps(result.as_dict())


@iml4e_component
def get_training_features(
    repo_path: str,
    entities: Input[Dataset],
    training_features: Output[Dataset],
    features_json: str = "[]",
    feature_service: str = "",
) -> None:
    """Join the entity table (join keys, event_timestamp, labels) with its point-in-time features.

    Name the features either as a JSON list of `view:feature` references or as a feature service.
    """
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "get_training_features",
        inputs={"repo": repo_path, "entities": entities},
        outputs={"training_features": training_features},
    ):
        import pandas as pd

        from iml4e_components.feature_store.core import get_training_features as fetch
        from iml4e_components.feature_store.core import parse_name_list
        from iml4e_components.table_digests import table_digest

        features = parse_name_list(features_json, "features_json", '["view:feature"]')
        frame = fetch(
            repo_path, pd.read_parquet(entities.path), features=features, feature_service=feature_service
        )
        frame.to_parquet(training_features.path, index=False)
        training_features.metadata.update(
            {
                "repo_path": repo_path,
                "rows": len(frame),
                "columns": len(frame.columns),
                "digest": table_digest(frame),
            }
        )
