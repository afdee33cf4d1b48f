"""The capability catalogue at run time: which providers exist here and which capabilities are in use."""

from __future__ import annotations

import importlib.util
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from iml4e.methodology.content import Capability, Provider, load_catalogue, load_maturity_model
from iml4e.methodology.evidence import ProbeResult

ACTIVE = "active"  # provided here, and the platform's state shows it in use
INSTALLED = "installed"  # provided here, no evidence of use yet
PLANNED = "planned"  # nothing provides it yet
MISSING = "missing"  # a listed provider is absent from this installation


def provider_exists(provider: Provider, commands: Collection[str]) -> tuple[bool, str]:
    """Whether `provider` exists in this installation, and how that was checked.

    `commands` are the names of the CLI's commands (the CLI passes them; this layer does not import it).
    """
    if provider.kind in ("component", "module"):
        # Located, not imported: importing every component (sklearn, feast, mlflow) would take seconds.
        # The catalogue-consistency test imports each one.
        try:
            found = importlib.util.find_spec(provider.ref) is not None
        except (ImportError, ValueError) as exc:
            return False, f"module {provider.ref} cannot be located ({exc})"
        return (
            (True, f"module {provider.ref} is installed") if found else (False, f"{provider.ref} is missing")
        )
    if provider.kind == "command":
        if provider.ref in commands:
            return True, f"'iml4e {provider.ref}' is a command"
        return False, f"'iml4e {provider.ref}' is not a command of this CLI"
    if provider.kind == "pipeline":
        from iml4e_pipelines import PIPELINES

        if provider.ref in PIPELINES:
            return True, f"pipeline {provider.ref} is registered"
        return False, f"pipeline {provider.ref} is not in iml4e_pipelines.PIPELINES"
    from iml4e.paths import manifests_dir

    path = manifests_dir() / provider.ref
    if path.exists():
        return True, f"manifests/{provider.ref} exists"
    return False, f"manifests/{provider.ref} does not exist"


@dataclass(frozen=True)
class CapabilityStatus:
    capability: Capability
    status: str
    why: str
    statements: list[str]
    ml_tests: list[str]

    def as_dict(self) -> dict[str, Any]:
        c = self.capability
        return {
            "id": c.id,
            "name": c.name,
            "category": c.category,
            "description": c.description,
            "providers": [{"kind": p.kind, "ref": p.ref, "use": p.label()} for p in c.providers],
            "planned": c.planned,
            "status": self.status,
            "why": self.why,
            "statements": self.statements,
            "ml_tests": self.ml_tests,
        }


def capability_statuses(
    commands: Collection[str], evidence: dict[str, ProbeResult] | None = None
) -> list[CapabilityStatus]:
    """Every capability with its status here and the maturity statements and ML tests it supports."""
    from iml4e.methodology.content import load_ml_test_score

    model = load_maturity_model()
    tests = load_ml_test_score()
    result = []
    for capability in load_catalogue().capabilities:
        statements = [s.id for a in model.areas for s in a.statements if s.capability == capability.id]
        ml_tests = [t.id for s in tests.sections for t in s.tests if t.capability == capability.id]
        status, why = capability_status(capability, commands, evidence)
        result.append(CapabilityStatus(capability, status, why, statements, ml_tests))
    return result


def capability_status(
    capability: Capability, commands: Collection[str], evidence: dict[str, ProbeResult] | None
) -> tuple[str, str]:
    """The status of one capability here and why: planned, missing, installed or active."""
    if not capability.providers:
        return PLANNED, f"not provided yet; planned: {capability.planned}"
    for provider in capability.providers:
        exists, why = provider_exists(provider, commands)
        if not exists:
            return MISSING, why
    found = evidence.get(capability.evidence) if evidence and capability.evidence else None
    if found is not None and found.evidenced:
        return ACTIVE, found.why
    if found is not None:
        return INSTALLED, f"installed; not in use yet ({found.why})"
    return INSTALLED, "installed"
