"""KFP wrapper for loading datasets."""

from kfp.dsl import Dataset, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def load_dataset(
    source: str, dataset: Output[Dataset], clean_reference: Output[Dataset], seed: int = 7
) -> None:
    """Load a CSV/Parquet file, an s3:// URI or a generated sample (`sample:churn`,
    `sample:churn-dirty`) into a Parquet dataset artifact.

    `clean_reference` holds the error-free table when one is known (the dirty sample's ground
    truth, for measuring error detection); otherwise it is the loaded table itself.
    """
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "load_dataset",
        inputs={"source": source},
        outputs={"dataset": dataset, "clean_reference": clean_reference},
    ) as step:
        import json

        from iml4e_components.datasets.core import load_sample, load_table, sample_schema
        from iml4e_components.table_digests import table_digest

        clean = None
        if source == "" or source.startswith("sample:"):
            frame, clean = load_sample(source, seed)
        else:
            frame = load_table(source, seed)
        digest = table_digest(frame)
        step.describe_input("source", digest=digest, rows=len(frame))  # the raw data, as loaded
        frame.to_parquet(dataset.path, index=False)
        (frame if clean is None else clean).to_parquet(clean_reference.path, index=False)
        dataset.metadata.update(
            {
                "source": source,
                "rows": len(frame),
                "columns": len(frame.columns),
                "digest": digest,
            }
        )
        schema = sample_schema(source)
        if schema is not None:
            dataset.metadata["schema"] = json.dumps(schema)
        clean_reference.metadata.update({"source": source, "ground_truth": clean is not None})
