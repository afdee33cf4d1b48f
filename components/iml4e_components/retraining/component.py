"""KFP wrapper for the retraining decision of `continuous_training`."""

from typing import NamedTuple

from kfp.dsl import Dataset, Input

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def decide_retraining(
    dataset: Input[Dataset],
    model_name: str,
    target: str,
    force: bool = False,
    drift_share: float = 0.3,
    id_columns: str = "customer_id",
) -> NamedTuple("Decision", [("retrain", bool), ("decision", str)]):  # type: ignore[valid-type]  # KFP reads this form
    """Compare the fresh data with the champion's training data (Evidently drift); retrain when
    forced, when there is no champion, or when enough columns drifted."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step("decide_retraining", inputs={"dataset": dataset}) as step:
        from collections import namedtuple

        import pandas as pd

        from iml4e_components.preparation.core import parse_columns
        from iml4e_components.retraining.core import champion_reference, decide

        found = champion_reference(model_name)
        step.annotate(model_name=model_name, champion_version=found[0] if found else None)
        outcome = decide(
            pd.read_parquet(dataset.path),
            found[1] if found else None,
            force=force,
            exclude=[target, *parse_columns(id_columns)],
            drift_share=drift_share,
            champion_version=found[0] if found else None,
        )
        Decision = namedtuple("Decision", ["retrain", "decision"])  # KFP reads the outputs by field name
        return Decision(outcome.retrain, outcome.as_json())  # KFP's NamedTuple form
