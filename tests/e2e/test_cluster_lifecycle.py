"""A real cluster, end to end: install -> status -> pipeline run -> uninstall.

Opt-in: runs only with IML4E_E2E_KUBECONFIG pointing at a kubeconfig (the kind workflow in
.github/workflows/e2e-kind.yml does that). The cluster needs network access to the upstream
releases and the iml4e image loaded or pullable. IML4E_E2E_PROFILE picks the profile (minimal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

KUBECONFIG = os.environ.get("IML4E_E2E_KUBECONFIG")
PROFILE = os.environ.get("IML4E_E2E_PROFILE", "minimal")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not KUBECONFIG, reason="set IML4E_E2E_KUBECONFIG to run against a real cluster"),
    pytest.mark.timeout(3600),
]


def iml4e(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    result = subprocess.run(
        [sys.executable, "-m", "iml4e", *args], capture_output=True, text=True, env=env, timeout=3000
    )
    if check and result.returncode != 0:
        pytest.fail(f"iml4e {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="module")
def installed() -> Iterator[None]:
    iml4e("doctor", "--profile", PROFILE)
    iml4e("install", "--profile", PROFILE)
    yield
    iml4e("uninstall", "--purge", "--yes", check=False)


def test_install_is_healthy_and_idempotent(installed: None) -> None:
    status = json.loads(iml4e("status", "--cluster", "--json").stdout)
    assert status["installed"] and status["profile"] == PROFILE
    assert status["healthy"], status["components"]
    again = json.loads(iml4e("install", "--profile", PROFILE, "--json").stdout)
    assert again["changed"] == 0


def test_credentials_are_generated(installed: None) -> None:
    rows = json.loads(iml4e("credentials", "--json").stdout)
    mlflow = next(row for row in rows if row["service"] == "mlflow")
    assert mlflow["username"] == "admin" and len(mlflow["password"]) >= 24


def test_pipeline_runs_on_the_cluster(installed: None, tmp_path: Path) -> None:
    result = json.loads(iml4e("run", "tabular_training", "--cluster", "--json").stdout)
    assert result["state"] == "SUCCEEDED"


def test_uninstall_keeps_volumes_without_purge(installed: None) -> None:
    result = json.loads(iml4e("uninstall", "--yes", "--json").stdout)
    assert any("PersistentVolumeClaims" in kept for kept in result["kept"])
    status = json.loads(iml4e("status", "--cluster", "--json").stdout)
    assert not status["installed"]
