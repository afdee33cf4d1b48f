"""The catalogue stays honest: every provider it names exists in this installation."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e.methodology.content import Provider, load_catalogue
from iml4e.paths import manifests_dir
from iml4e_pipelines import PIPELINES

PROVIDERS = [(c.id, p) for c in load_catalogue().capabilities for p in c.providers]


def _commands() -> set[str]:
    group = typer.main.get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("capability", "provider"), PROVIDERS, ids=[f"{c}:{p.ref}" for c, p in PROVIDERS])
def test_every_named_provider_exists(capability: str, provider: Provider) -> None:
    if provider.kind == "component":
        assert provider.ref.startswith("iml4e_components."), capability
        importlib.import_module(provider.ref)
    elif provider.kind == "module":
        assert provider.ref.startswith("iml4e."), capability
        importlib.import_module(provider.ref)
    elif provider.kind == "command":
        assert provider.ref in _commands(), f"{capability}: 'iml4e {provider.ref}' is not a command"
    elif provider.kind == "pipeline":
        assert provider.ref in PIPELINES, capability
    else:
        assert (manifests_dir() / provider.ref).exists(), f"{capability}: manifests/{provider.ref} is missing"


def test_the_catalogue_names_the_capabilities_the_issue_asks_for() -> None:
    ids = {c.id for c in load_catalogue().capabilities}
    assert {
        "data-versioning",
        "data-validation",
        "error-detection",
        "experiment-tracking",
        "pipeline-orchestration",
        "model-registry",
        "model-serving",
        "monitoring-metrics",
        "drift-detection",
        "lineage",
        "model-documentation",
        "feature-store",
        "calibration",
    } <= ids


def test_capabilities_command_lists_every_capability_with_provider_and_status(home: Path) -> None:
    result = CliRunner().invoke(app, ["capabilities", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [c["id"] for c in listed] == [c.id for c in load_catalogue().capabilities]
    for item in listed:
        assert item["providers"] or item["planned"], item["id"]
        assert item["status"] in {"active", "installed", "planned"}, item
        assert item["status"] != "active"  # nothing has run in an empty state directory
    by_id = {c["id"]: c for c in listed}
    assert by_id["pipeline-orchestration"]["providers"][0]["use"] == "iml4e run"
    assert "DEV-2.3" in by_id["pipeline-orchestration"]["statements"]
    assert "infra-3" in by_id["pipeline-orchestration"]["ml_tests"]


def test_capabilities_table_is_printed_to_stdout(home: Path) -> None:
    result = CliRunner().invoke(app, ["capabilities", "--no-evidence"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Experiment tracking" in result.stdout and "installed" in result.stdout


def test_a_missing_provider_shows_as_missing_and_evidence_makes_a_capability_active() -> None:
    from iml4e.methodology.catalogue import capability_status
    from iml4e.methodology.content import Capability
    from iml4e.methodology.evidence import ProbeResult

    def capability(*providers: dict[str, str]) -> Capability:
        return Capability.model_validate(
            {
                "id": "x",
                "name": "X",
                "category": "data",
                "description": "d",
                "providers": list(providers),
                "evidence": "pipeline_runs",
            }
        )

    gone = capability({"kind": "component", "ref": "iml4e_components.no_such_thing"})
    assert capability_status(gone, _commands(), None)[0] == "missing"
    assert capability_status(capability({"kind": "command", "ref": "fly"}), _commands(), None)[0] == "missing"
    assert (
        capability_status(capability({"kind": "manifest", "ref": "base/nothing.yaml"}), set(), None)[0]
        == "missing"
    )
    present = capability({"kind": "pipeline", "ref": "tabular_training"})
    assert capability_status(present, set(), None) == ("installed", "installed")
    used = {"pipeline_runs": ProbeResult("pipeline_runs", True, "1 run")}
    assert capability_status(present, set(), used) == ("active", "1 run")
    unused = {"pipeline_runs": ProbeResult("pipeline_runs", False, "no run")}
    assert capability_status(present, set(), unused)[0] == "installed"
