"""MLflow must not import Feast through its header-provider plugin in component processes."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys


def test_feast_plugin_is_installed_so_the_filter_matters() -> None:
    names = {e.name for e in importlib.metadata.entry_points(group="mlflow.request_header_provider")}
    assert "feast" in names


def test_mlflow_tracking_does_not_import_feast() -> None:
    code = (
        "import json, sys, iml4e_components\n"
        "import mlflow.tracking.request_header.registry as r\n"
        "print(json.dumps({'feast': 'feast' in sys.modules,"
        " 'providers': [type(p).__name__ for p in r._request_header_provider_registry]}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["feast"] is False
    assert "FeastMLflowHeaderProvider" not in result["providers"]
    assert "DefaultRequestHeaderProvider" in result["providers"]
