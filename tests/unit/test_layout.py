"""Unit tests mirror the packages: tests/unit/<package>/<subpackage>/test_*.py tests that module, so a
module's tests are found from its path (and a folder here names a package that exists)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

UNIT = Path(__file__).resolve().parent
PACKAGES = ("iml4e", "iml4e_components", "iml4e_pipelines")
#: Folders of test data, not of tests.
DATA_FOLDERS = {"fixtures", "__pycache__"}


def _test_folders() -> list[Path]:
    return [
        folder
        for folder in UNIT.rglob("*")
        if folder.is_dir() and not DATA_FOLDERS & set(folder.relative_to(UNIT).parts)
    ]


def test_every_unit_test_folder_names_a_package_of_ours() -> None:
    strays = []
    for folder in _test_folders():
        dotted = ".".join(folder.relative_to(UNIT).parts)
        if dotted.split(".")[0] not in PACKAGES or importlib.util.find_spec(dotted) is None:
            strays.append(str(folder.relative_to(UNIT)))
    assert not strays, (
        f"unit test folders that mirror no package: {strays}; move them to tests/unit/<package>/..."
    )


def test_only_cross_cutting_tests_sit_at_the_top() -> None:
    top = sorted(p.name for p in UNIT.glob("test_*.py"))
    assert top == [
        "test_declared_dependencies.py",
        "test_examples_python.py",
        "test_layout.py",
        "test_platform_environment.py",
        "test_upstream_patches.py",
    ]
