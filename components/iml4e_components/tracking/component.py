"""KFP wrapper that opens the MLflow run the other steps log into."""

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def start_tracking(experiment: str, pipeline_name: str) -> str:
    """Create the MLflow run for this pipeline run; returns its run id."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step("start_tracking") as step:
        from iml4e_components.tracking.core import start_run

        run_id = start_run(experiment, run_name=pipeline_name, tags={"iml4e.pipeline": pipeline_name})
        step.annotate(mlflow_run_id=run_id)
        return run_id
