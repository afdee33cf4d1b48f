"""Evidence probes on a crafted state directory: they prove what is there, explain what is not, never raise.

MLflow-backed probes are exercised against a real server in tests/integration/methodology; here the
server is absent or dead, which must degrade to "not evidenced" with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iml4e.methodology.evidence import (
    PROBES,
    MlflowFacts,
    PlatformSnapshot,
    RunFacts,
    VersionFacts,
    collect_evidence,
    run_probe,
)
from iml4e.ports import free_port


def _run(root: Path, run_id: str, pipeline: str, tasks: list[str], status: str = "SUCCESS") -> None:
    (root / "runs").mkdir(exist_ok=True)
    record = {
        "pipeline": pipeline,
        "run_id": run_id,
        "status": status,
        "parameters": {},
        "output": None,
        "tasks": [{"task": t, "status": "SUCCESS"} for t in tasks],
    }
    (root / "runs" / f"{run_id}.json").write_text(json.dumps(record))


def test_an_empty_state_directory_evidences_nothing_and_explains_every_probe(home: Path) -> None:
    results = collect_evidence()
    assert set(results) == set(PROBES)
    for result in results.values():
        assert result.evidenced is False
        assert result.why, result.probe
    assert "no MLflow server is recorded" in results["experiments_tracked"].why


def test_pipeline_run_records_prove_runs_error_detection_and_validation(home: Path) -> None:
    _run(
        home,
        "20261101-100000-aaaaaa",
        "tabular_training",
        ["load-dataset", "detect-errors", "validate-schema"],
    )
    _run(home, "20261101-110000-bbbbbb", "broken", ["load-dataset"], status="FAILURE")
    results = collect_evidence(
        ["pipeline_runs", "error_detection_used", "data_validation_used", "recurring_runs"]
    )
    assert results["pipeline_runs"].evidenced and "tabular_training x1" in results["pipeline_runs"].why
    assert (
        results["error_detection_used"].evidenced and "detect-errors" in results["error_detection_used"].why
    )
    assert results["data_validation_used"].evidenced
    assert not results["recurring_runs"].evidenced


def test_recurring_runs_need_three_successes_on_two_days(home: Path) -> None:
    for run_id in ("20261101-100000-a", "20261101-120000-b", "20261102-100000-c"):
        _run(home, run_id, "tabular_training", ["train-model"])
    assert run_probe("recurring_runs", PlatformSnapshot()).evidenced
    for path in (home / "runs").glob("20261102*"):
        path.unlink()
    _run(home, "20261101-130000-d", "tabular_training", ["train-model"])
    assert not run_probe("recurring_runs", PlatformSnapshot()).evidenced  # all on one day


def test_lineage_serving_and_monitoring_files_are_evidence(home: Path) -> None:
    (home / "lineage").mkdir()
    event = {"eventType": "COMPLETE", "run": {"runId": "x"}, "job": {"name": "train"}}
    (home / "lineage" / "events.jsonl").write_text(
        json.dumps(event) + "\n" + '{"eventType": "STA'
    )  # truncated tail
    (home / "serving" / "churn").mkdir(parents=True)
    (home / "serving" / "churn" / "requests-20261101.jsonl").write_text('{"inputs": []}\n')
    (home / "monitoring" / "churn").mkdir(parents=True)
    (home / "monitoring" / "churn" / "drift-20261101.json").write_text("{}")
    results = collect_evidence(["lineage_events", "model_served", "request_logs", "drift_reports"])
    assert results["lineage_events"].evidenced and results["lineage_events"].why.startswith("1 OpenLineage")
    assert results["model_served"].evidenced and "churn" in results["model_served"].why
    assert results["request_logs"].evidenced
    assert results["drift_reports"].evidenced


def test_a_served_model_in_state_json_is_evidence(home: Path) -> None:
    state = {"version": 1, "services": {"serve:churn": {"name": "serve:churn", "port": 1, "pid": 1}}}
    (home / "state.json").write_text(json.dumps(state))
    result = run_probe("model_served", PlatformSnapshot())
    assert result.evidenced and "serve:churn" in result.why


def test_a_dead_mlflow_server_is_not_evidence_and_says_so(home: Path) -> None:
    port = free_port()
    record = {"name": "mlflow", "pid": 999999, "port": port, "host": "127.0.0.1", "log": "x", "started_at": 0}
    (home / "state.json").write_text(json.dumps({"version": 1, "services": {"mlflow": record}}))
    results = collect_evidence(["experiments_tracked", "champion_alias", "model_card_pass", "slice_metrics"])
    for result in results.values():
        assert not result.evidenced
        assert f"127.0.0.1:{port}) is not running" in result.why


def test_a_corrupted_state_file_degrades_instead_of_raising(home: Path) -> None:
    (home / "state.json").write_text("{not json")
    (home / "runs").mkdir()
    (home / "runs" / "bad.json").write_text("[1, 2")
    results = collect_evidence()
    assert not any(r.evidenced for r in results.values())


def test_a_failing_probe_is_reported_not_raised(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: PlatformSnapshot) -> tuple[bool, str]:
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(PROBES, "pipeline_runs", ("broken", broken))
    result = run_probe("pipeline_runs", PlatformSnapshot())
    assert not result.evidenced and "disk on fire" in result.why
    assert "unknown probe" in run_probe("nope", PlatformSnapshot()).why


def test_cluster_configuration_and_saved_assessment_are_evidence(home: Path, tmp_path: Path) -> None:
    assert not run_probe("cluster_configured", PlatformSnapshot()).evidenced
    Path("iml4e.yaml").write_text("profile: standard\n")
    configured = run_probe("cluster_configured", PlatformSnapshot())
    assert configured.evidenced and "profile standard" in configured.why
    Path("iml4e.yaml").write_text("profile: gigantic\n")
    invalid = run_probe("cluster_configured", PlatformSnapshot())
    assert not invalid.evidenced and "invalid" in invalid.why
    (home / "assessment").mkdir()
    (home / "assessment" / "answers.yaml").write_text("areas: {}\n")
    assert run_probe("assessment_saved", PlatformSnapshot()).evidenced


def test_feature_store_repository_is_evidence(home: Path) -> None:
    (home / "features" / "repo").mkdir(parents=True)
    (home / "features" / "repo" / "feature_store.yaml").write_text("project: churn\n")
    assert run_probe("feature_store_used", PlatformSnapshot()).evidenced


def _snapshot_with(facts: MlflowFacts) -> PlatformSnapshot:
    snapshot = PlatformSnapshot()
    snapshot.__dict__["mlflow"] = facts  # what the REST reader would return (the integration test reads it)
    return snapshot


def test_mlflow_probes_read_runs_registry_and_card_verdicts(home: Path) -> None:
    run = RunFacts(
        run_id="r1",
        experiment_id="1",
        params={"seed": "42", "estimator": "logistic_regression"},
        metrics={"f1": 0.8, "f1__region:north": 0.7, "calibration_ece_after": 0.02},
        tags={"iml4e.train_digest": "sha256:abc", "iml4e.card_verdict": "pass"},
        dataset_inputs=1,
    )
    facts = MlflowFacts(
        url="http://127.0.0.1:1",
        experiments={"0": "Default", "1": "tabular-training"},
        runs=[run],
        models={"churn": {"champion": "2", "challenger": "2"}},
        versions=[
            VersionFacts("churn", "1", "r0", {}),
            VersionFacts("churn", "2", "r1", {"iml4e.f1": "0.8"}),
        ],
    )
    results = {pid: run_probe(pid, _snapshot_with(facts)) for pid in PROBES}
    for pid in (
        "experiments_tracked", "params_logged", "metrics_logged", "seeded_runs", "dataset_digest_logged",
        "calibration_measured", "slice_metrics", "registered_model", "champion_alias", "promotion_gate",
        "model_card_present", "model_card_pass",
    ):  # fmt: skip
        assert results[pid].evidenced, (pid, results[pid].why)
    assert "'tabular-training'" in results["experiments_tracked"].why
    assert results["champion_alias"].why == "churn@champion is version 2"
    assert "iml4e.f1" in results["promotion_gate"].why
    assert "f1__region:north" in results["slice_metrics"].why


def test_mlflow_probes_without_content_explain_what_is_missing(home: Path) -> None:
    empty = _snapshot_with(MlflowFacts(url="http://127.0.0.1:1", experiments={"0": "Default"}))
    for pid in (
        "experiments_tracked",
        "registered_model",
        "champion_alias",
        "promotion_gate",
        "model_card_pass",
    ):
        result = run_probe(pid, empty)
        assert not result.evidenced and result.why, pid
    assert run_probe("registered_model", empty).why == "the registry at http://127.0.0.1:1 holds no models"
