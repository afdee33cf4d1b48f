"""The KFP components run as their plain Python functions on real artifact objects, with the shipped
default knowledge base (the pipeline owner runs them under kfp.local in the pipeline tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from kfp.dsl import HTML, Dataset, Metrics

from iml4e_components.error_detection.component import clean_data, detect_errors
from iml4e_components.error_detection.injection import inject_errors
from iml4e_components.error_detection.synthetic_tables import generate_table
from iml4e_components.errors import ComponentError

pytestmark = pytest.mark.integration


def _artifact(kind: type, path: Path) -> object:
    artifact = kind(uri=str(path))
    artifact.path = str(path)  # type: ignore[attr-defined]
    return artifact


def test_detect_then_clean_with_a_clean_table_as_labels(tmp_path: Path) -> None:
    clean = generate_table("people", 300, 8)
    dirty, _ = inject_errors(clean, 0.05, ["typo", "missing", "placeholder"], 8)
    dirty.to_parquet(tmp_path / "dataset", index=False)
    clean.to_csv(tmp_path / "clean.csv", index=False)
    dataset = _artifact(Dataset, tmp_path / "dataset")
    mask = _artifact(Dataset, tmp_path / "mask")
    report = _artifact(HTML, tmp_path / "report.html")
    metrics = Metrics(uri=str(tmp_path / "metrics"))
    detect_errors.python_func(
        dataset=dataset,
        mask=mask,
        report=report,
        metrics=metrics,
        budget=20,
        seed=1,
        labels_source=str(tmp_path / "clean.csv"),
    )
    flags = pd.read_parquet(tmp_path / "mask")
    assert flags.shape == dirty.shape
    assert metrics.metadata["error_detection_flagged_cells"] == flags.to_numpy().sum() > 0
    assert metrics.metadata["error_detection_labeled_tuples"] == 20
    assert "<svg" in (tmp_path / "report.html").read_text()
    cleaned = _artifact(Dataset, tmp_path / "cleaned")
    clean_data.python_func(dataset=dataset, mask=mask, cleaned=cleaned, policy="drop_rows")
    assert len(pd.read_parquet(tmp_path / "cleaned")) == len(dirty) - flags.any(axis=1).sum()
    with pytest.raises(ComponentError, match="null, drop_rows"):
        clean_data.python_func(dataset=dataset, mask=mask, cleaned=cleaned, policy="shred")


def test_zero_label_mode_on_the_churn_sample(tmp_path: Path) -> None:
    from iml4e_components.datasets.core import generate_churn

    generate_churn(300, seed=3).to_parquet(tmp_path / "dataset", index=False)
    metrics = Metrics(uri=str(tmp_path / "metrics"))
    detect_errors.python_func(
        dataset=_artifact(Dataset, tmp_path / "dataset"),
        mask=_artifact(Dataset, tmp_path / "mask"),
        report=_artifact(HTML, tmp_path / "report.html"),
        metrics=metrics,
    )
    assert metrics.metadata["error_detection_labeled_tuples"] == 0
    assert pd.read_parquet(tmp_path / "mask").shape == (300, 8)
