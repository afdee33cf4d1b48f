"""`iml4e assess --evidence` after the demo's pipeline proves more statements than before it.

Real parts only: the CLI in a subprocess, a real MLflow server started by `iml4e run`, a real kfp.local
run of `tabular_training`, all under a temporary IML4E_HOME; the platform is stopped afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _iml4e(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IML4E_HOME": str(home), "COLUMNS": "200"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("IML4E_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "iml4e", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _assess(home: Path, *extra: str) -> dict[str, Any]:
    result = _iml4e(
        home, "assess", "--evidence", "--no-input", "--ml-test-score", "--json", *extra, timeout=120
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _evidenced(data: dict[str, Any]) -> set[str]:
    return {s["id"] for a in data["areas"] for s in a["statements"] if s["evidenced"]}


def test_evidence_after_the_demo_pipeline_proves_more_statements(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    before = _assess(home)
    assert before["evidence"]["experiments_tracked"]["why"].startswith("no MLflow server is recorded")
    try:
        run = _iml4e(home, "run", "tabular_training", "--json")
        assert run.returncode == 0, run.stderr[-3000:]
        after = _assess(home, "--report", str(tmp_path / "r.html"))
        capabilities = _iml4e(home, "capabilities", "--json", timeout=120)
    finally:
        down = _iml4e(home, "down", timeout=120)
    assert down.returncode == 0, down.stderr

    assert after["overall"]["evidenced"] > before["overall"]["evidenced"]
    proven = _evidenced(after) - _evidenced(before)
    # Pipeline record, MLflow run with params/seed/digest/metrics, registry with a champion alias.
    assert {"DATA-1.1", "DATA-2.1", "DATA-2.3", "DEV-1.2", "DEV-2.1", "DEV-2.2", "DEV-2.3"} <= proven
    assert {"TEST-1.1", "TEST-2.1", "DEPLOY-1.1", "DEPLOY-2.1", "DEPLOY-2.2", "GOV-1.1"} <= proven
    assert {"DATA-3.1", "DATA-3.2"} <= proven  # the pipeline validates the schema and detects errors
    score = {t["id"]: t for t in after["ml_test_score"]["tests"]}
    assert score["infra-1"]["answer"] == "automated" and score["infra-1"]["source"] == "evidence"
    assert score["infra-3"]["answer"] == "automated"

    listed = {c["id"]: c for c in json.loads(capabilities.stdout)}
    assert listed["experiment-tracking"]["status"] == "active"
    assert listed["model-registry"]["status"] == "active"
    assert "evidenced" in (tmp_path / "r.html").read_text()

    stopped = _assess(home)  # the run records stay; MLflow is down and the probes say so
    assert "DATA-1.1" in _evidenced(stopped)
    assert not stopped["evidence"]["experiments_tracked"]["evidenced"]
    assert "'iml4e up'" in stopped["evidence"]["experiments_tracked"]["why"]
