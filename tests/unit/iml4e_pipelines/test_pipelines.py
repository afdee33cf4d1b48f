"""Compiled pipelines against their golden KFP IR files, and the pipelines' structure."""

from __future__ import annotations

import itertools

import pytest
import yaml
from golden_files.compile_pipelines import MASK, compile_masked, golden_path

from iml4e_pipelines import PIPELINES, load_pipeline


@pytest.mark.parametrize("name", list(PIPELINES))
def test_compiled_pipeline_matches_its_golden_file(name: str) -> None:
    assert golden_path(name).is_file(), "no golden file; run 'make golden'"
    assert compile_masked(name) == golden_path(name).read_text(encoding="utf-8"), (
        f"{name} compiles differently from {golden_path(name)}; if intended, run "
        "'make golden' and review the diff"
    )


def test_volatile_fields_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    text = compile_masked("batch_scoring")
    assert "kfp-2." not in text and "ghcr.io" not in text and f"image: {MASK}" in text


def _tasks(name: str) -> dict[str, dict[str, object]]:
    spec = yaml.safe_load(compile_masked(name))
    return {
        "root": spec["root"]["dag"]["tasks"],
        **{k: v["dag"]["tasks"] for k, v in spec["components"].items() if "dag" in v},
    }


def test_training_stage_order() -> None:
    stage = _tasks("tabular_training")["comp-train-and-register"]
    order = [
        "prepare-data",
        "train-model",
        "calibrate-confidence",
        "evaluate-model",
        "model-card-gate",
        "register-model",
    ]
    for before, after in itertools.pairwise(order):
        assert before in stage[after].get("dependentTasks", []), f"{after} must run after {before}"  # type: ignore[operator]


def test_tabular_training_validates_before_training_and_deploys_only_when_asked() -> None:
    root = _tasks("tabular_training")["root"]
    assert "validate-schema" in root["detect-errors"]["dependentTasks"]  # type: ignore[operator]
    assert {"detect-errors", "validate-schema"} <= set(root["clean-data"]["dependentTasks"])  # type: ignore[arg-type]
    assert "clean-data" in root["train-and-register"]["dependentTasks"]  # type: ignore[operator]
    deploy = root["deploy-model"]
    assert "train-and-register" in deploy["dependentTasks"]  # type: ignore[operator]
    assert deploy["inputs"]["parameters"]["enabled"] == {"componentInputParameter": "deploy"}  # type: ignore[index]


def test_continuous_training_retrains_only_on_the_decision() -> None:
    tasks = _tasks("continuous_training")
    condition = tasks["root"]["condition-1"]["triggerPolicy"]["condition"]  # type: ignore[index]
    assert "decide-retraining" in condition and "retrain" in condition
    assert {"start-tracking", "detect-errors", "clean-data", "train-and-register", "deploy-model"} == set(
        tasks["comp-condition-1"]
    )


def test_catalogue_lists_the_three_pipelines_with_descriptions() -> None:
    assert {"tabular_training", "continuous_training", "batch_scoring"} <= set(PIPELINES)
    for name in PIPELINES:
        assert load_pipeline(name).description
