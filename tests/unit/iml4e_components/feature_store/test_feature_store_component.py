"""The Feast KFP wrappers compile with typed artifacts and no per-task installs."""

from __future__ import annotations

from pathlib import Path

import yaml
from kfp import compiler

from iml4e_components.feature_store.component import get_training_features, materialize_features


def compiled(component: object, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    target = tmp_path / "component.yaml"
    compiler.Compiler().compile(component, str(target))  # type: ignore[arg-type]
    return yaml.safe_load(target.read_text())  # type: ignore[no-any-return]


def test_get_training_features_compiles_with_dataset_artifacts(tmp_path: Path) -> None:
    spec = compiled(get_training_features, tmp_path)
    component = next(iter(spec["components"].values()))
    assert (
        component["inputDefinitions"]["artifacts"]["entities"]["artifactType"]["schemaTitle"]
        == "system.Dataset"
    )
    assert (
        component["outputDefinitions"]["artifacts"]["training_features"]["artifactType"]["schemaTitle"]
        == "system.Dataset"
    )
    executor = next(iter(spec["deploymentSpec"]["executors"].values()))
    assert "pip install" not in " ".join(executor["container"]["command"])


def test_materialize_features_compiles_with_parameters(tmp_path: Path) -> None:
    spec = compiled(materialize_features, tmp_path)
    component = next(iter(spec["components"].values()))
    parameters = component["inputDefinitions"]["parameters"]
    assert set(parameters) == {"repo_path", "end_date", "start_date", "feature_views_json", "apply"}
    assert parameters["apply"]["defaultValue"] is True
    assert component["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "STRING"
