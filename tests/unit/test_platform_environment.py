"""The test isolation itself: a tracking URI a test sets does not outlive it."""

from __future__ import annotations

import os

import pytest
from platform_environment import PLATFORM_ENVIRONMENT, without_platform_environment


@pytest.mark.parametrize("before", [None, "http://127.0.0.1:5000"])
def test_what_a_test_sets_is_put_back_as_it_was(before: str | None) -> None:
    outer = pytest.MonkeyPatch()
    try:
        if before is None:
            outer.delenv("MLFLOW_TRACKING_URI", raising=False)
        else:
            outer.setenv("MLFLOW_TRACKING_URI", before)
        patch = pytest.MonkeyPatch()
        without_platform_environment(patch)
        assert not any(name in os.environ for name in PLATFORM_ENVIRONMENT)
        os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9"  # as an in-process `iml4e serve` does
        patch.undo()
        assert os.environ.get("MLFLOW_TRACKING_URI") == before
    finally:
        outer.undo()
