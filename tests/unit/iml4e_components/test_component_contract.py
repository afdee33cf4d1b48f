"""The component contract (components/README.md), checked for every component in the library:
each compiles on its own, is built by `iml4e_component` (one image, no pip installs, a version),
and its capability has unit tests on its core. A new component without them fails here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

import iml4e_components
from iml4e_components.kfp_component import component_image

LIBRARY = Path(iml4e_components.__file__).parent
TESTS = Path(__file__).resolve().parents[2]


def _capabilities() -> list[str]:
    return sorted(p.parent.name for p in LIBRARY.glob("*/component.py"))


def _components() -> list[tuple[str, str, Any]]:
    from kfp.dsl.python_component import PythonComponent

    found = []
    for capability in _capabilities():
        module = importlib.import_module(f"iml4e_components.{capability}.component")
        for name, value in vars(module).items():
            if isinstance(value, PythonComponent) and value.python_func.__module__ == module.__name__:
                found.append((capability, name, value))
    return found


COMPONENTS = _components()


def test_the_library_has_its_components() -> None:
    names = {name for _, name, _ in COMPONENTS}
    assert {
        "load_dataset",
        "validate_schema",
        "prepare_data",
        "train_model",
        "calibrate_confidence",
        "evaluate_model",
        "register_model",
        "deploy_model",
        "score_batch",
        "decide_retraining",
    } <= names


@pytest.mark.parametrize(("capability", "name", "component"), COMPONENTS, ids=[n for _, n, _ in COMPONENTS])
def test_component_compiles_alone_and_follows_the_contract(
    capability: str, name: str, component: Any, tmp_path: Path
) -> None:
    from kfp import compiler

    target = tmp_path / f"{name}.yaml"
    compiler.Compiler().compile(component, str(target))
    text = target.read_text()
    assert f"image: {component_image()}" in text
    assert "pip install" not in text, f"{name} installs packages at run time"
    assert component.iml4e_version == iml4e_components.__version__
    assert component.component_spec.name == name.replace("_", "-")
    source = Path(
        importlib.import_module(f"iml4e_components.{capability}.component").__file__ or ""
    ).read_text()
    assert "from __future__ import annotations" not in source, "KFP cannot read postponed annotations"


def _core_test_files(capability: str) -> list[Path]:
    pattern = re.compile(
        rf"iml4e_components\.{capability}\.(?!component\b)\w+|iml4e_components\.{capability} import"
    )
    folder = TESTS / "unit" / "iml4e_components" / capability  # unit tests mirror the packages
    return [p for p in folder.rglob("test_*.py") if pattern.search(p.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("capability", _capabilities())
def test_every_capability_has_core_unit_tests(capability: str) -> None:
    assert _core_test_files(capability), (
        f"iml4e_components.{capability} has components but no unit test under "
        f"tests/unit/iml4e_components/{capability} imports its core; "
        "add tests that call the core functions directly"
    )
