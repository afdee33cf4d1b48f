"""lineage_step: START/COMPLETE/FAIL events, dataset facets, parent run, transports that fail."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
from kfp import dsl
from openlineage.client.transport import Transport

from iml4e_components.conventions import lineage_store_path
from iml4e_components.datasets.core import generate_churn
from iml4e_components.lineage import emit
from iml4e_components.lineage.emit import emit_stats, lineage_step
from iml4e_components.lineage.store import read_events
from iml4e_components.table_digests import table_digest

Check = Callable[[dict[str, Any]], None]


@pytest.fixture(autouse=True)
def pipeline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IML4E_PIPELINE_NAME", "tabular_training")
    monkeypatch.setenv("IML4E_PIPELINE_RUN_ID", "20261127-010000-abc123")
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)


def test_step_emits_start_and_complete_with_table_facets(tmp_path: Path, assert_valid_event: Check) -> None:
    raw = tmp_path / "raw.parquet"
    frame = generate_churn(n_rows=50, seed=1)
    frame.loc[0, "region"] = None
    frame.to_parquet(raw, index=False)
    out = dsl.Dataset(name="train", uri=str(tmp_path / "split" / "train"), metadata={"rows": 40})

    with lineage_step("split_dataset", inputs={"dataset": str(raw)}, outputs={"train": out}) as step:
        Path(out.path).parent.mkdir(parents=True)
        frame.head(40).to_parquet(out.path, index=False)
        step.annotate(mlflow_run_id="run-1", model_name=None, r2=float("nan"), counts={"bad": float("inf")})

    events = read_events()
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        assert_valid_event(event)
    start, complete = events
    assert start["run"]["runId"] == complete["run"]["runId"]
    job = complete["job"]
    assert (job["namespace"], job["name"]) == ("iml4e", "tabular_training.split_dataset")
    parent = complete["run"]["facets"]["parent"]
    assert parent["job"]["name"] == "tabular_training"
    expected_parent = uuid.uuid5(uuid.NAMESPACE_URL, "iml4e:pipeline-run:20261127-010000-abc123")
    assert parent["run"]["runId"] == str(expected_parent)
    values = complete["run"]["facets"]["iml4e"]["values"]
    assert values["mlflow_run_id"] == "run-1" and "model_name" not in values
    assert values.get("r2") is None and not values.get("counts", {}).get("bad")  # strict JSON: no NaN
    assert "NaN" not in lineage_store_path().read_text(encoding="utf-8")
    assert values["pipeline_run_id"] == "20261127-010000-abc123"

    (source,) = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("file", str(raw.resolve()))
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == list(frame.columns)
    quality = source["inputFacets"]["dataQualityMetrics"]
    assert quality["rowCount"] == 50 and quality["columnMetrics"]["region"]["nullCount"] == 1
    assert source["facets"]["version"]["datasetVersion"] == table_digest(frame)

    (written,) = complete["outputs"]
    assert written["name"] == str((tmp_path / "split" / "train").resolve())
    assert written["outputFacets"]["outputStatistics"]["rowCount"] == 40
    assert written["facets"]["iml4e_artifact"]["metadata"] == {"rows": 40}
    assert written["facets"]["iml4e_artifact"]["kind"] == "system.Dataset"
    # START describes no output: the step has not written it yet.
    assert "outputStatistics" not in start["outputs"][0].get("outputFacets", {})


def test_failure_emits_fail_with_message_and_reraises_the_same_exception(assert_valid_event: Check) -> None:
    error = ValueError("column 'churned' is missing")
    with pytest.raises(ValueError) as raised, lineage_step("train_model", inputs={"source": "sample:churn"}):
        raise error
    assert raised.value is error
    start, fail = read_events()
    assert fail["eventType"] == "FAIL"
    assert fail["run"]["facets"]["errorMessage"]["message"] == "ValueError: column 'churned' is missing"
    assert fail["inputs"][0]["namespace"] == "sample" and fail["inputs"][0]["name"] == "churn"
    assert_valid_event(start)
    assert_valid_event(fail)


class _BrokenTransport(Transport):  # type: ignore[misc]  # openlineage is Any to mypy
    kind = "broken"

    def __init__(self) -> None:
        self.calls = 0

    def emit(self, event: Any) -> None:
        self.calls += 1
        raise ConnectionError("backend down")


def test_failing_transport_is_retried_counted_never_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("iml4e_components.lineage.emit.time.sleep", lambda seconds: None)
    broken = _BrokenTransport()
    before = emit_stats()
    with lineage_step("evaluate_model", transports=[broken]) as step:
        step.annotate(accuracy=0.8)
    after = emit_stats()
    assert broken.calls == 2 * emit.ATTEMPTS
    assert after["failed"] - before["failed"] == 2
    assert after["retried"] - before["retried"] == 2 * (emit.ATTEMPTS - 1)
    failures = read_events(lineage_store_path().with_name(emit.FAILURES_FILE))
    assert [(f["transport"], f["eventType"]) for f in failures] == [
        ("broken", "START"),
        ("broken", "COMPLETE"),
    ]
    assert failures[0]["error"] == "ConnectionError: backend down"


def test_unreadable_dataset_is_described_as_unknown_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with lineage_step("load_dataset", inputs={"dataset": str(bad)}):
        pass
    complete = read_events()[-1]
    assert complete["eventType"] == "COMPLETE"
    assert "schema" not in complete["inputs"][0]["facets"]


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"path": self.path, "event": json.loads(body)})
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_http_transport_posts_every_event_when_configured(
    collector: str, monkeypatch: pytest.MonkeyPatch, assert_valid_event: Check
) -> None:
    monkeypatch.setenv("OPENLINEAGE_URL", collector)
    with lineage_step("register_model") as step:
        step.annotate(model_name="churn", model_version="3", alias="champion")
    assert [r["path"] for r in _Collector.received] == ["/api/v1/lineage", "/api/v1/lineage"]
    posted = [r["event"] for r in _Collector.received]
    assert [e["eventType"] for e in posted] == ["START", "COMPLETE"]
    assert posted[1]["run"]["facets"]["iml4e"]["values"]["alias"] == "champion"
    for event in posted:
        assert_valid_event(event)
    assert len(read_events()) == 2  # the local store keeps its copy too


def test_unreachable_backend_keeps_local_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("iml4e_components.lineage.emit.time.sleep", lambda seconds: None)
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    before = emit_stats()["failed"]
    with lineage_step("deploy_model"):
        pass
    assert [e["eventType"] for e in read_events()] == ["START", "COMPLETE"]
    assert emit_stats()["failed"] - before == 2


def test_without_pipeline_env_the_job_is_the_step_and_has_no_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IML4E_PIPELINE_NAME")
    monkeypatch.delenv("IML4E_PIPELINE_RUN_ID")
    monkeypatch.delenv("KFP_RUN_ID", raising=False)
    with lineage_step("detect_errors"):
        pass
    event = read_events()[-1]
    assert event["job"]["name"] == "detect_errors"
    assert "parent" not in event["run"]["facets"]
    assert lineage_store_path().is_file()


def test_validator_rejects_a_broken_event(assert_valid_event: Check) -> None:
    with lineage_step("load_dataset"):
        pass
    event = read_events()[0]
    del event["eventTime"]
    with pytest.raises(AssertionError, match="eventTime"):
        assert_valid_event(event)
    frame = pd.DataFrame({"a": [1]})
    assert table_digest(frame).startswith("sha256:")


def test_a_generated_or_remote_input_gets_the_digest_the_step_computed(assert_valid_event: Check) -> None:
    from iml4e_components.lineage.graph import LineageGraph

    frame = generate_churn(n_rows=30, seed=2)
    with lineage_step("load_dataset", inputs={"source": "sample:churn-dirty"}) as step:
        step.describe_input("source", digest=table_digest(frame), rows=len(frame))
        step.describe_input("no-such-input", digest="ignored")  # names no input: nothing to describe

    start, complete = read_events()
    assert_valid_event(complete)
    assert "version" not in start["inputs"][0].get("facets", {})  # not known before loading
    (source,) = complete["inputs"]
    assert source["facets"]["version"]["datasetVersion"] == table_digest(frame)
    assert source["inputFacets"]["dataQualityMetrics"]["rowCount"] == 30
    raw = LineageGraph(read_events()).datasets["sample:churn-dirty"]
    assert raw.digest == table_digest(frame) and raw.rows == 30
