"""KFP wrappers for loading datasets."""


from kfp.dsl import Dataset, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def load_dataset(source: str, dataset: Output[Dataset], seed: int = 7) -> None:
    """Load a CSV/Parquet file, an s3:// URI or `sample:churn` into a Parquet dataset artifact."""
    from iml4e_components.datasets.core import load_table, table_digest

    frame = load_table(source, seed=seed)
    frame.to_parquet(dataset.path, index=False)
    dataset.metadata.update(
        {"source": source, "rows": len(frame), "columns": len(frame.columns), "digest": table_digest(frame)}
    )
