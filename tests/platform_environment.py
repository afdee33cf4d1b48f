"""Keeping the MLflow server a test points at from leaking into the tests after it."""

from __future__ import annotations

import pytest

#: Variables that point a process at one MLflow server; a CLI command run in-process sets the first.
PLATFORM_ENVIRONMENT = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "IML4E_MLFLOW_PORT")


def without_platform_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset PLATFORM_ENVIRONMENT for a test and put each back as it was afterwards, also when the
    test set it (a command run in-process keeps MLFLOW_TRACKING_URI in os.environ). `delenv` alone
    records nothing for an unset variable, so one set during the test would outlive it and point
    later tests on the worker at a server that no longer runs."""
    for name in PLATFORM_ENVIRONMENT:
        monkeypatch.setenv(name, "")  # records the value before (or its absence) for the teardown
        monkeypatch.delenv(name)
