"""Install time on a real Kubernetes API server: `iml4e install` against `kubectl apply` of the same objects.

For each profile, on a fresh control plane each time (etcd, kube-apiserver, controller-manager and
scheduler v1.36 from KUBEBUILDER_ASSETS, with the tests' stand-in kubelet that marks scheduled Pods
ready, see tests/controlplane):
  * `iml4e install` as a user runs it (a new process: interpreter start, doctor, staged apply,
    bounded waits for each stage), then a second `iml4e install` on the installed cluster (verify);
  * what a user would otherwise do with the same objects: `iml4e render -o DIR --with-upstream`
    (not timed), then `kubectl apply --server-side -f` of each stage's file in order, re-applying a
    file while its custom resources wait for their CRDs, and `kubectl wait` for every Deployment
    to be Available.
No container runtime runs here, so image pulls and container start-up are not in these figures: they
measure API round trips, ordering and waiting. Webhook admission is off (cert-manager's and KServe's
webhooks would need running Pods). Results go to stdout and benchmarks/results/install_controlplane.json.

Run: `python benchmarks/install_controlplane.py [--profiles minimal standard full]` (part of `make bench`;
prints why and exits 0 when KUBEBUILDER_ASSETS is not set).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "controlplane"))

from envtest import ControlPlane, find_assets  # noqa: E402
from kubelet_standin import KubeletStandIn  # noqa: E402

BUNDLE = Path(os.environ.get("IML4E_UPSTREAM_BUNDLE") or REPO.parent / "shared" / "k8s")
RESULTS = REPO / "benchmarks" / "results" / "install_controlplane.json"
IML4E = [sys.executable, "-m", "iml4e"]


class Plane:
    """A fresh control plane with the stand-in kubelet, and an iml4e.yaml pointing at it."""

    def __init__(self, assets: Path, work: Path, profile: str) -> None:
        self.plane = ControlPlane(work / "cp", assets, disable_webhooks=True)
        self.plane.start()
        self.standin = KubeletStandIn(self.plane.api_client()).start()
        self.config = work / "iml4e.yaml"
        settings = {
            "profile": profile,
            "upstream": {"bundle_dir": str(BUNDLE)},
            "cluster": {"kubeconfig": str(self.plane.kubeconfig), "stage_timeout_seconds": 600},
        }
        self.config.write_text(yaml.safe_dump(settings), encoding="utf-8")
        self.kubectl = [str(self.plane.kubectl), "--kubeconfig", str(self.plane.kubeconfig)]

    def stop(self) -> None:
        self.standin.stop()
        self.plane.stop()


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def with_iml4e(assets: Path, work: Path, profile: str, env: dict[str, str]) -> dict[str, float]:
    plane = Plane(assets, work, profile)
    try:
        install = _timed([*IML4E, "install", "-c", str(plane.config), "--json"], env)
        verify = _timed([*IML4E, "install", "-c", str(plane.config), "--json"], env)
    finally:
        plane.stop()
    return {"install_s": install, "reinstall_s": verify}


def with_kubectl(assets: Path, work: Path, profile: str, env: dict[str, str]) -> dict[str, float]:
    plane = Plane(assets, work, profile)
    rendered = work / "rendered"
    try:
        _timed([*IML4E, "render", "-c", str(plane.config), "-o", str(rendered), "--with-upstream"], env)
        started = time.perf_counter()
        for stage_file in sorted(rendered.glob("*.yaml")):
            apply = [*plane.kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(stage_file)]
            for _ in range(30):  # custom resources wait until their CRDs are established
                if subprocess.run(apply, capture_output=True, env=env, check=False).returncode == 0:
                    break
                time.sleep(2)
            else:
                raise SystemExit(f"kubectl apply -f {stage_file.name} kept failing")
        wait = [
            *plane.kubectl,
            "wait",
            "deployment",
            "--all",
            "-A",
            "--for=condition=Available",
            "--timeout=600s",
        ]
        _timed(wait, env)
        apply_and_wait = time.perf_counter() - started
    finally:
        plane.stop()
    return {"apply_and_wait_s": apply_and_wait}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["minimal", "standard"])
    args = parser.parse_args(argv)
    assets, reason = find_assets()
    if assets is None or not (BUNDLE / "upstream").is_dir():
        print(f"skipped: {reason or f'no upstream bundle at {BUNDLE}'}")
        return 0
    env = {**os.environ, "PATH": f"{assets}{os.pathsep}{os.environ.get('PATH', '')}"}
    rows: list[dict[str, Any]] = []
    for profile in args.profiles:
        with tempfile.TemporaryDirectory(prefix="iml4e-bench-") as tmp:
            ours = with_iml4e(assets, Path(tmp) / "iml4e", profile, env)
            theirs = with_kubectl(assets, Path(tmp) / "kubectl", profile, env)
        rows.append(
            {"profile": profile, **ours, **theirs, "ratio": ours["install_s"] / theirs["apply_and_wait_s"]}
        )
    print(
        f"{'profile':<10} {'iml4e install s':>16} {'re-install s':>13} {'kubectl apply+wait s':>21} {'ratio':>6}"
    )
    for row in rows:
        print(
            f"{row['profile']:<10} {row['install_s']:>16.1f} {row['reinstall_s']:>13.1f} "
            f"{row['apply_and_wait_s']:>21.1f} {row['ratio']:>6.2f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    RESULTS.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
