from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.preparation.core import prepare
from iml4e_components.scoring.core import load_model, score, write_table
from iml4e_components.training.core import fit_estimator


def test_score_adds_predictions_and_confidence(churn: pd.DataFrame, tmp_path: Path) -> None:
    prepared = prepare(churn, "churned", seed=8)
    model = fit_estimator(prepared.split.train, "churned", prepared.preprocessor).model
    fresh = prepared.split.test.drop(columns=["churned"])
    scored = score(model, fresh)
    assert len(scored) == len(fresh) and set(scored["prediction"]) <= {0, 1}
    assert scored["confidence"].between(0.5, 1.0).all()
    assert list(scored.columns[: len(fresh.columns)]) == list(fresh.columns)
    target = write_table(scored, tmp_path / "out" / "predictions.csv")
    assert pd.read_csv(target)["prediction"].tolist() == scored["prediction"].tolist()
    assert [p.name for p in target.parent.iterdir()] == ["predictions.csv"]  # no temporary left behind
    with pytest.raises(ComponentError, match="no column 'age'"):
        score(model, fresh.drop(columns=["age"]))
    with pytest.raises(ComponentError, match="empty"):
        score(model, fresh.head(0))


def test_nonexistent_model_uri_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(ComponentError, match=f"cannot load model URI '{missing}'"):
        load_model(missing)
    with pytest.raises(ComponentError, match="model_uri is empty"):
        load_model(" ")
