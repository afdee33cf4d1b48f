"""KFP wrapper for data preparation: split plus the fitted preprocessor."""

from kfp.dsl import Dataset, Input, Model, Output

from iml4e_components.kfp_component import iml4e_component


@iml4e_component
def prepare_data(
    dataset: Input[Dataset],
    target: str,
    train: Output[Dataset],
    calibration: Output[Dataset],
    test: Output[Dataset],
    preprocessor: Output[Model],
    test_size: float = 0.2,
    calibration_size: float = 0.2,
    drop_columns: str = "",
    seed: int = 42,
) -> None:
    """Seeded stratified train/calibration/test split; imputer, scaler and encoder fitted on train."""
    from iml4e_components.lineage.emit import lineage_step

    with lineage_step(
        "prepare_data",
        inputs={"dataset": dataset},
        outputs={"train": train, "calibration": calibration, "test": test, "preprocessor": preprocessor},
    ):
        import joblib
        import pandas as pd

        from iml4e_components.preparation.core import parse_columns, prepare

        prepared = prepare(
            pd.read_parquet(dataset.path),
            target,
            test_size=test_size,
            calibration_size=calibration_size,
            seed=seed,
            drop_columns=parse_columns(drop_columns),
        )
        for artifact, frame in (
            (train, prepared.split.train),
            (calibration, prepared.split.calibration),
            (test, prepared.split.test),
        ):
            frame.to_parquet(artifact.path, index=False)
            artifact.metadata["rows"] = len(frame)
        joblib.dump(prepared.preprocessor, preprocessor.path)
        preprocessor.metadata.update({"features": ",".join(prepared.features), "target": target})
