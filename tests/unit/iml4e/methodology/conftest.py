from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
EXAMPLE_ANSWERS = REPO / "examples" / "assessment" / "answers.yaml"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty state directory (never the repository's .iml4e) and a working directory without iml4e.yaml."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("IML4E_HOME", str(state))
    monkeypatch.delenv("IML4E_CONFIG", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return state
