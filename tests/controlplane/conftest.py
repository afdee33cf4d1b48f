"""Fixtures of the control-plane tests: a real API server per module, the kubelet stand-in, the CLI.

Every test here runs iml4e against a real kube-apiserver, controller-manager and scheduler (see
envtest.py); only the kubelet is stood in for (kubelet_standin.py). Upstream manifests come from
`../shared/k8s` (the real KFP, cert-manager and KServe releases) as `upstream.bundle_dir`, or from
IML4E_UPSTREAM_BUNDLE. Without KUBEBUILDER_ASSETS the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from envtest import ControlPlane, find_assets
from kubelet_standin import KubeletStandIn

REPO = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("IML4E_UPSTREAM_BUNDLE") or REPO.parent / "shared" / "k8s")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups for --dist loadgroup
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents:
            item.add_marker(pytest.mark.controlplane)
            # A module's tests share one control plane and run in order (install, then upgrade, then
            # uninstall); spread over two workers, each would get its own cluster and miss the steps before.
            item.add_marker(pytest.mark.xdist_group(f"controlplane-{path.stem}"))


@dataclass
class Cluster:
    """A running control plane with what the tests need to drive iml4e against it."""

    plane: ControlPlane
    standin: KubeletStandIn | None
    workdir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    def config(self, name: str = "iml4e.yaml", **settings: Any) -> Path:
        """An iml4e.yaml for this cluster: the bundle from ../shared/k8s, short stage waits."""
        data: dict[str, Any] = {
            "upstream": {"bundle_dir": str(BUNDLE)},
            "cluster": {"kubeconfig": str(self.kubeconfig), "stage_timeout_seconds": 120},
        }
        for key, value in settings.items():
            data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
        path = self.workdir / name
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    def iml4e(self, *args: str, expect: int | None = 0) -> Any:
        """Run the CLI in this process (as a user would type it); checks the exit code when `expect` is set."""
        from typer.testing import CliRunner

        from iml4e.cli.app import app

        result = CliRunner().invoke(app, list(args))
        if expect is not None and result.exit_code != expect:
            raise AssertionError(
                f"iml4e {' '.join(args)} exited {result.exit_code}, expected {expect}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def iml4e_json(self, *args: str) -> Any:
        return json.loads(self.iml4e(*args, "--json").stdout)

    def api(self) -> Any:
        return self.plane.api_client()

    def kubectl(self, *args: str) -> str:
        import subprocess

        kubectl = self.plane.kubectl or "kubectl"
        return subprocess.run(
            [str(kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout


def _start(tmp: Path, disable_webhooks: bool, with_node: bool) -> Iterator[Cluster]:
    assets, reason = find_assets()
    if assets is not None and not (BUNDLE / "upstream").is_dir():
        assets, reason = None, f"no upstream bundle at {BUNDLE} (set IML4E_UPSTREAM_BUNDLE)"
    if assets is None:
        if os.environ.get("IML4E_REQUIRE_CONTROLPLANE"):  # CI: the suite must run, not skip
            pytest.fail(f"the control-plane tests cannot run: {reason}")
        pytest.skip(reason)
    # `iml4e open` and `run --cluster` call kubectl: the one of the control plane's version.
    os.environ["PATH"] = f"{assets}{os.pathsep}{os.environ.get('PATH', '')}"
    plane = ControlPlane(tmp / "cp", assets, disable_webhooks=disable_webhooks)
    try:
        plane.start()
        standin = KubeletStandIn(plane.api_client()).start() if with_node else None
        yield Cluster(plane, standin, tmp)
    finally:
        if "standin" in locals() and standin is not None:
            standin.stop()
        plane.stop()


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A fresh control plane for the module, with a stand-in node.

    A module that installs cert-manager or KServe sets DISABLE_WEBHOOKS = True: their admission
    webhooks point at Services with no running Pod behind them (no container runtime here), so the
    API server could not call them.
    """
    disable = bool(getattr(request.module, "DISABLE_WEBHOOKS", False))
    yield from _start(tmp_path_factory.mktemp("controlplane"), disable, with_node=True)


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A fresh control plane with no node registered (nothing can be scheduled)."""
    yield from _start(tmp_path_factory.mktemp("controlplane-bare"), False, with_node=False)
