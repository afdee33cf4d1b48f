"""`batch_scoring`: load a table -> validate -> score it with the champion -> write predictions."""

from kfp import dsl

from iml4e_components.datasets.component import load_dataset
from iml4e_components.scoring.component import score_batch
from iml4e_components.validation.component import validate_schema


@dsl.pipeline(
    name="batch-scoring",
    description="Score a dataset with the registered champion and write the predictions.",
)
def batch_scoring(
    dataset: str = "sample:churn",
    model_uri: str = "models:/churn-classifier@champion",
    schema: str = "",
    output_path: str = "",
) -> str:
    loaded = load_dataset(source=dataset, seed=11)
    validated = validate_schema(dataset=loaded.outputs["dataset"], schema=schema)
    scored = score_batch(dataset=validated.outputs["validated"], model_uri=model_uri, output_path=output_path)
    return scored.outputs["Output"]  # type: ignore[no-any-return]  # kfp task outputs are Any
