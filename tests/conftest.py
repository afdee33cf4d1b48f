"""Shared fixtures: every test gets its own state directory; nothing touches the repo's .iml4e."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Test tooling that is not a test (golden_files) is imported by its package name from here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from platform_environment import without_platform_environment

_GROUP_LOST = pytest.StashKey[bool]()
#: MLflow's default store (sqlite:///mlflow.db, relative to the working directory) in the checkout root.
CHECKOUT_MLFLOW_DB = Path(__file__).resolve().parents[1] / "mlflow.db"
_DB_BEFORE = pytest.StashKey[bool]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_DB_BEFORE] = CHECKOUT_MLFLOW_DB.exists()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The per-test check below misses a store written by a module or session fixture (it runs before
    the test's snapshot) or by a server that outlives its test: whatever wrote it, the run fails."""
    if CHECKOUT_MLFLOW_DB.exists() and not session.stash.get(_DB_BEFORE, True):
        CHECKOUT_MLFLOW_DB.unlink()
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"error: this run wrote {CHECKOUT_MLFLOW_DB}: an MLflow client or server ran in the checkout "
                "without a tracking URI (see the isolated_state fixture in tests/conftest.py)",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Note the tests whose xdist_group marker pytest-xdist dropped under --dist loadgroup.

    Tests in a group share one server or cluster and run in order; spread over workers they fail in
    confusing ways (a cluster that was never installed). pytest-xdist marks grouped tests by adding
    "@group" to their node id, which broke silently once (pytest 9.2 with pytest-xdist 3.8).
    """
    if getattr(config.option, "loadgroup", False):
        for item in items:
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
                item.stash[_GROUP_LOST] = True


@pytest.fixture(autouse=True)
def xdist_group_kept(request: pytest.FixtureRequest) -> None:
    if request.node.stash.get(_GROUP_LOST, False):
        pytest.fail(
            "pytest-xdist ignored this test's xdist_group marker, so its group may be split over workers; "
            "use a pytest and pytest-xdist pair that supports --dist loadgroup (see pyproject.toml)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("iml4e-home")
    monkeypatch.setenv("IML4E_HOME", str(home))
    without_platform_environment(monkeypatch)
    stores = {Path.cwd() / "mlflow.db", CHECKOUT_MLFLOW_DB}
    existed = {store for store in stores if store.exists()}
    yield home
    _forget_mlflow_global_uris()
    for store in stores - existed:
        if store.exists():
            store.unlink()
            pytest.fail(
                f"this test wrote {store}: an MLflow client ran without a tracking URI and fell back to "
                "MLflow's default sqlite store in the working directory; give it the URI (MLFLOW_TRACKING_URI)"
            )


def _forget_mlflow_global_uris() -> None:
    """`mlflow.set_tracking_uri`/`set_registry_uri` are process-global and win over the environment: a
    CLI command run in-process (CliRunner) or a fixture that sets them would otherwise point later tests
    on the same worker at a server that no longer runs. MLflow has no public reset, hence its privates."""
    if "mlflow" not in sys.modules:
        return
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_uri = None
    registry_utils._registry_uri = None


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 endpoint on loopback for the module (moto's server; see object_store_emulator)."""
    from object_store_emulator import s3_emulator

    with s3_emulator() as endpoint:
        yield endpoint
