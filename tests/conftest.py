"""Shared fixtures: every test gets its own state directory; nothing touches the repo's .iml4e."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("iml4e-home")
    monkeypatch.setenv("IML4E_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("IML4E_MLFLOW_PORT", raising=False)
    return home
