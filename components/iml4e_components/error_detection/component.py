"""KFP wrappers for error detection: detect_errors (mask, HTML report, metrics) and clean_data."""

from kfp.dsl import HTML, Dataset, Input, Metrics, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def detect_errors(
    dataset: Input[Dataset],
    mask: Output[Dataset],
    report: Output[HTML],
    metrics: Output[Metrics],
    budget: int = 20,
    seed: int = 42,
    labels_source: str = "",
    run_id: str = "",
    engine: str = "local",
    ray_address: str = "",
) -> None:
    """Flag erroneous cells of a dataset with the shipped knowledge base.

    `labels_source` empty: zero-label mode (no human in the loop); otherwise a clean table or a labels
    file (header row,column,error) that labels `budget` tuples. Writes the mask (Parquet, one boolean
    per cell), an HTML report, and error counts to the metrics (and to MLflow run `run_id` when
    MLFLOW_TRACKING_URI is set). `engine` `ray` runs detection as Ray tasks: on the Ray cluster at
    `ray_address` (`ray://HOST:PORT`), else on a Ray started inside the step; the same mask as `local`.
    """
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "detect_errors", inputs={"dataset": dataset}, outputs={"mask": mask, "report": report}
    ) as step:
        import os

        from iml4e_components.error_detection.report import render_report
        from iml4e_components.error_detection.service import detect_table, oracle_from_source
        from iml4e_components.error_detection.tables import as_string_frame, read_string_table
        from iml4e_components.output_files import write_text_atomically

        table = read_string_table(dataset.path, what="dataset", compact=True)
        oracle = oracle_from_source(labels_source, table) if labels_source else None
        result = detect_table(
            table, budget=budget, seed=seed, oracle=oracle, engine=engine, ray_address=ray_address or None
        )
        result.mask.to_parquet(mask.path, index=False)
        write_text_atomically(report.path, render_report(as_string_frame(table), result), "detection report")
        counts = {
            "error_detection_flagged_cells": float(result.n_detected),
            "error_detection_flagged_rows": float(result.mask.to_numpy().any(axis=1).sum()),
            "error_detection_flagged_share": float(result.n_detected / max(result.mask.size, 1)),
            "error_detection_labeled_tuples": float(len(result.labeled_rows)),
        }
        step.annotate(mlflow_run_id=run_id or None, error_counts=counts)
        for name, value in counts.items():
            metrics.log_metric(name, value)
        mask.metadata.update({"mode": result.mode, "flagged_cells": result.n_detected})
        if run_id and os.environ.get("MLFLOW_TRACKING_URI"):
            import mlflow

            client = mlflow.MlflowClient()
            for name, value in counts.items():
                client.log_metric(run_id, name, value)
            client.log_artifact(run_id, report.path, artifact_path="error_detection")


@iml4e_component
def clean_data(
    dataset: Input[Dataset], mask: Input[Dataset], cleaned: Output[Dataset], policy: str = "null"
) -> None:
    """Null the flagged cells (`null`) or drop rows holding any (`drop_rows`); writes Parquet."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step("clean_data", inputs={"dataset": dataset, "mask": mask}, outputs={"cleaned": cleaned}):
        from iml4e_components.error_detection.cleaning import clean_flagged_cells
        from iml4e_components.error_detection.service import read_mask
        from iml4e_components.error_detection.tables import read_any_table

        frame = read_any_table(dataset.path)
        result = clean_flagged_cells(frame, read_mask(mask.path), policy)
        result.to_parquet(cleaned.path, index=False)
        cleaned.metadata.update({"rows": len(result), "policy": policy})
