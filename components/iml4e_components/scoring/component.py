"""KFP wrapper for batch scoring with a registered model."""

from kfp.dsl import Dataset, Input, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def score_batch(
    dataset: Input[Dataset],
    model_uri: str,
    predictions: Output[Dataset],
    output_path: str = "",
) -> str:
    """Add the model's predictions to every row; write them as a Dataset artifact and, when
    `output_path` is given, also to that file (Parquet, or CSV for .csv). Returns a JSON summary."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "score_batch",
        inputs={"dataset": dataset, "model": model_uri},
        outputs={"predictions": predictions, "file": output_path},
    ) as step:
        import json

        import pandas as pd

        from iml4e_components.scoring.core import load_model, score, write_table

        step.annotate(model_uri=model_uri)
        scored = score(load_model(model_uri), pd.read_parquet(dataset.path))
        scored.to_parquet(predictions.path, index=False)
        written = str(write_table(scored, output_path)) if output_path else ""
        predictions.metadata.update({"model_uri": model_uri, "rows": len(scored)})
        return json.dumps(
            {"model_uri": model_uri, "rows": len(scored), "predictions": written or predictions.uri}
        )
