"""Scan the rendered manifests with a Kubernetes policy scanner (checkov), offline; fail on new findings.

    make scan-manifests                                  # what `make lint` runs
    PYTHONPATH=tests python -m policy_scan.scan_manifests [--checkov PATH] [--json]

Every configuration the golden files hold (each profile, and the standard profile with a drift
monitor) is rendered into a temporary directory and scanned by checkov's Kubernetes checks. Checkov
runs with every download off (`--skip-download`, BC_SKIP_MAPPING, no API key, no update check), so
it needs no network. A finding passes only when manifests/policy-exceptions.yaml accepts it, with
its reason; an accepted finding that no longer occurs fails too, so the list never goes stale.
Exit 0: no new findings; 1: new or stale findings (each named on one line); 2: the scan could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from golden_files.render_manifests import CASES

from iml4e.installer.render import dump_objects, render_platform

ROOT = Path(__file__).resolve().parents[2]
EXCEPTIONS = ROOT / "manifests" / "policy-exceptions.yaml"
DEFAULT_CHECKOV = ROOT / ".venv-scanners" / "bin" / "checkov"
#: checkov's settings that keep it offline: no mapping or policy downloads, no update check.
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}


@dataclass(frozen=True, order=True)
class Finding:
    check: str
    resource: str
    title: str = ""


def accepted_findings(path: Path = EXCEPTIONS) -> dict[tuple[str, str], str]:
    """(check, resource) -> reason, from the reviewed list; every entry must give its reason."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    accepted: dict[tuple[str, str], str] = {}
    for entry in data.get("accepted", []):
        reason = str(entry.get("reason") or "").strip()
        if not reason:
            raise ValueError(f"{path}: {entry.get('check')} has no reason; say why the finding is accepted")
        for resource in entry["resources"]:
            accepted[(str(entry["check"]), str(resource))] = reason
    return accepted


def render_cases(directory: Path) -> list[Path]:
    files = []
    for name, config in CASES.items():
        file = directory / f"{name}.yaml"
        file.write_text(dump_objects(render_platform(config).objects), encoding="utf-8")
        files.append(file)
    return files


def run_checkov(checkov: Path, directory: Path) -> list[Finding]:
    command = [
        str(checkov.absolute()), "--directory", str(directory), "--framework", "kubernetes",
        "--skip-download", "--quiet", "--compact", "--output", "json",
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BC_API_KEY", "PRISMA_"))}
    result = subprocess.run(  # nosec B603: a fixed argument list, no shell
        command, capture_output=True, text=True, check=False, env={**env, **OFFLINE_ENV}, cwd=directory
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"checkov exited {result.returncode}: {last}")
    reports: Any = json.loads(result.stdout)
    if isinstance(reports, dict):
        reports = [reports]
    findings = set()
    for report in reports:
        if report.get("summary", {}).get("parsing_errors"):
            raise RuntimeError(f"checkov could not parse {report['results'].get('parsing_errors')}")
        for failed in report.get("results", {}).get("failed_checks", []):
            findings.add(Finding(failed["check_id"], failed["resource"], failed.get("check_name", "")))
    return sorted(findings)


def compare(findings: list[Finding], accepted: dict[tuple[str, str], str]) -> tuple[list[Finding], list[str]]:
    """New findings (not in the list) and stale entries (in the list, no longer found)."""
    found = {(finding.check, finding.resource) for finding in findings}
    new = [finding for finding in findings if (finding.check, finding.resource) not in accepted]
    stale = [f"{check} {resource}" for check, resource in sorted(accepted) if (check, resource) not in found]
    return new, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", type=Path, default=DEFAULT_CHECKOV, help="checkov executable")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not args.checkov.is_file():
        print(f"{args.checkov} is missing; run 'make scanners' to install checkov", file=sys.stderr)
        return 2
    try:
        accepted = accepted_findings()
        with tempfile.TemporaryDirectory(prefix="iml4e-policy-scan-") as tmp:
            files = render_cases(Path(tmp))
            findings = run_checkov(args.checkov, Path(tmp))
    except (RuntimeError, ValueError, OSError, KeyError) as exc:
        print(f"policy scan failed: {exc}", file=sys.stderr)
        return 2
    new, stale = compare(findings, accepted)
    if args.json:
        result = {
            "configurations": [file.stem for file in files],
            "findings": len(findings),
            "accepted": len(findings) - len(new),
            "new": [finding.__dict__ for finding in new],
            "stale": stale,
        }
        print(json.dumps(result, indent=2))
    for finding in new:
        print(
            f"new finding {finding.check} {finding.resource}: {finding.title}; fix the manifest, or accept it "
            f"with its reason in {EXCEPTIONS.relative_to(ROOT)}",
            file=sys.stderr,
        )
    for entry in stale:
        print(
            f"accepted finding {entry} no longer occurs; remove it from {EXCEPTIONS.relative_to(ROOT)}",
            file=sys.stderr,
        )
    if not new and not stale:
        print(
            f"policy scan: {len(findings)} findings in {len(files)} rendered configurations, all accepted "
            f"in {EXCEPTIONS.relative_to(ROOT)}",
            file=sys.stderr,
        )
    return 1 if new or stale else 0


if __name__ == "__main__":
    sys.exit(main())
