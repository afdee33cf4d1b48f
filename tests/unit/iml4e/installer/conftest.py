"""Fixtures of the installer tests: configs, renderings, a fake upstream and a recording cluster."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from iml4e.paths import manifests_dir


@pytest.fixture
def manifests_copy(tmp_path: Path) -> Path:
    """A private copy of manifests/ a test may change (e.g. add dashboards)."""
    target = tmp_path / "manifests"
    shutil.copytree(manifests_dir(), target)
    return target
