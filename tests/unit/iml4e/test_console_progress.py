"""Long work without a terminal: a progress line on stderr every few seconds, never a silent pipe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from iml4e import console


def _wait_for(condition: Callable[[], bool]) -> None:
    """Polls `condition` (the heartbeat runs on its own thread); fails only if it never holds."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "no progress line came"
        time.sleep(0.01)


def test_piped_long_work_says_what_runs_until_it_ends(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(console, "HEARTBEAT_SECONDS", 0.02)
    written: list[str] = []

    def seen(text: str) -> bool:
        written.append(capsys.readouterr().err)
        return text in "".join(written)

    assert not console.err.is_terminal
    with console.working("training the model...") as progress:
        _wait_for(lambda: seen("... training the model ("))
        progress.update("evaluating...")
        _wait_for(lambda: seen("... evaluating ("))
    assert not any(t.name == "iml4e-heartbeat" for t in threading.enumerate())
    written.append(capsys.readouterr().err)
    lines = "".join(written).splitlines()
    assert lines and all(line.startswith("  ... ") and line.endswith(" s)") for line in lines)
    assert capsys.readouterr().out == ""  # progress never mixes with data
