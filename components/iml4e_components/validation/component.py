"""KFP wrapper for schema validation."""

from kfp.dsl import Artifact, Dataset, Input, Metrics, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def validate_schema(
    dataset: Input[Dataset],
    validated: Output[Dataset],
    report: Output[Artifact],
    metrics: Output[Metrics],
    schema: str = "",
    target: str = "",
) -> None:
    """Check the table against a declared schema (JSON text or a JSON/YAML file; empty: the schema
    the dataset carries, if any); fail above the schema's violation threshold; write the table
    with the declared types and a per-column violation report."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "validate_schema", inputs={"dataset": dataset}, outputs={"validated": validated, "report": report}
    ):
        import json

        import pandas as pd

        from iml4e_components.validation.core import resolve_schema, validate_table

        typed, outcome = validate_table(
            pd.read_parquet(dataset.path), resolve_schema(schema, dataset.metadata.get("schema")), target
        )
        typed.to_parquet(validated.path, index=False)
        validated.metadata.update({k: v for k, v in dataset.metadata.items() if k != "schema"})
        validated.metadata["rows"] = len(typed)
        summary = (
            outcome.as_dict()
            if outcome
            else {"rows": len(typed), "passed": True, "columns": [], "schema": "none"}
        )
        with open(report.path, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2)
        for name, value in (outcome.metrics() if outcome else {}).items():
            metrics.log_metric(name, value)
