"""Library chatter is turned off by environment, and a value the user set wins."""

from __future__ import annotations

import os

import pytest

from iml4e_components.conventions import QUIET_LIBRARIES, quiet_libraries


def test_quiet_defaults_reach_mlflow_and_keep_the_users_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {k: v for k, v in os.environ.items() if k not in QUIET_LIBRARIES}
    monkeypatch.setattr(os, "environ", {**environment, "TQDM_DISABLE": "0"})
    effective = quiet_libraries()
    assert effective["TQDM_DISABLE"] == "0"  # the user's
    assert effective["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    from mlflow.environment_variables import (
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR,
        MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT,
    )

    assert MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.get() is True
    assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get() is False
