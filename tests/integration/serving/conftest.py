"""One real model server for the module: a churn classifier registered in a sqlite MLflow store,
served through `iml4e.local.serving.serve_detached` (the same path as `iml4e serve --detach`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from churn_model import FEATURES, ServedChurn, register_churn_model


@pytest.fixture(scope="session")
def served_churn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedChurn]:
    root = tmp_path_factory.mktemp("serving")
    home = root / "home"
    with pytest.MonkeyPatch.context() as patch:
        tracking_uri, model_uri, data = register_churn_model(root)
        patch.setenv("IML4E_HOME", str(home))
        patch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        from iml4e.local import processes
        from iml4e.local.serving import serve_detached

        record = serve_detached(model_uri, "churn")
        try:
            yield ServedChurn(
                record.url, record.pid, home, model_uri, tracking_uri, data[[*FEATURES, "churned"]]
            )
        finally:
            from iml4e.local import platform

            platform.down()  # whatever server the tests left recorded under this home
            processes.stop(record.pid)
