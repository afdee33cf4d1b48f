"""The request log in an object store: uploads from a real model server, windows read back, drops counted.

The store is moto's S3 server on a loopback port (`tests/object_store_emulator.py` says why an
emulator).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from churn_model import FEATURES, register_churn_model
from object_store_emulator import use_s3

from iml4e_components.serving.log_store import (
    BUCKET_ENV,
    ObjectStoreLogStore,
    ObjectStoreLogWriter,
    request_log_store,
)
from iml4e_components.serving.request_log import REQUEST_ID_COLUMN, REQUEST_ROW_COLUMN

pytestmark = pytest.mark.integration
BUCKET = "iml4e"
MONITOR = [sys.executable, "-m", "iml4e_components.monitoring"]


@pytest.fixture
def store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> ObjectStoreLogStore:
    use_s3(monkeypatch, s3_endpoint)
    monkeypatch.setenv(BUCKET_ENV, BUCKET)
    chosen = request_log_store(None)
    assert isinstance(chosen, ObjectStoreLogStore)
    if not chosen.client.bucket_exists(BUCKET):
        chosen.client.make_bucket(BUCKET)
    for item in chosen.client.list_objects(BUCKET, recursive=True):
        chosen.client.remove_object(BUCKET, item.object_name)
    return chosen


def _columns(ages: list[int]) -> dict[str, np.ndarray[Any, Any]]:
    return {"age": np.array(ages), "region": np.array(["north"] * len(ages), dtype=object)}


def test_batches_are_uploaded_under_model_and_day_and_read_back_by_window(
    store: ObjectStoreLogStore,
) -> None:
    writer = ObjectStoreLogWriter(
        store.client, BUCKET, store.prefix, "churn", batch_records=2, flush_seconds=0.2
    )
    now = time.time()
    for offset, ages in enumerate([[30, 40], [50], [60], [70], [80]]):
        assert writer.offer("v2", _columns(ages), np.array([1] * len(ages)), now - 100 + offset, f"r{offset}")
    writer.close()
    keys = sorted(
        o.object_name for o in store.client.list_objects(BUCKET, prefix="request-logs/", recursive=True)
    )
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(keys) == 3 and all(k.startswith(f"request-logs/churn/{day}/requests-") for k in keys)
    assert writer.written == 5 and writer.dropped == 0
    rows = store.read_requests("churn", since=now - 98, now=now)  # the first two requests are older
    assert rows["age"].tolist() == [60, 70, 80]
    assert rows[REQUEST_ID_COLUMN].tolist() == ["r2", "r3", "r4"]
    everything = store.read_requests("churn")
    assert everything["age"].tolist() == [30, 40, 50, 60, 70, 80]
    assert everything[REQUEST_ROW_COLUMN].tolist() == [0, 1, 0, 0, 0, 0]


def test_an_unreachable_store_drops_and_counts_without_blocking_requests(
    store: ObjectStoreLogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client import CollectorRegistry

    from iml4e_components.object_store import client_from_env
    from iml4e_components.serving.metrics import ServingMetrics

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    registry = CollectorRegistry()
    metrics = ServingMetrics("churn", registry)
    writer = ObjectStoreLogWriter(
        client_from_env("the test"),
        BUCKET,
        "request-logs",
        "churn",
        max_pending=3,
        batch_records=1,
        flush_seconds=0.0,
        on_drop=metrics.count_log_dropped,
    )
    started = time.perf_counter()
    accepted = sum(writer.offer("v1", _columns([1]), np.array([0]), time.time()) for _ in range(50))
    assert time.perf_counter() - started < 0.5  # offering never waits for the store
    writer.close(timeout=60)
    assert writer.written == 0
    assert writer.dropped == 50
    assert registry.get_sample_value("iml4e_serving_request_log_dropped_total", {"model": "churn"}) == 50
    assert accepted < 50  # some were refused at once: the queue was full


def _cluster_server_command(model_dir: Path, name: str, port: int) -> list[str]:
    """The command and arguments of the cluster's ServingRuntime, as KServe runs them: the model
    from a plain directory (the storage initializer's /mnt/models), `{{.Name}}` filled in; only the
    address moves to a free loopback port."""
    from iml4e.installer.config import PlatformConfig
    from iml4e.installer.serving_runtime import MODEL_DIR, serving_runtime_objects

    (runtime,) = serving_runtime_objects(PlatformConfig(), {"AWS_ENDPOINT_URL": "", "AWS_DEFAULT_REGION": ""})
    container = runtime["spec"]["containers"][0]
    assert container["command"][0] == "python"
    args = [a.replace("{{.Name}}", name).replace(MODEL_DIR, str(model_dir)) for a in container["args"]]
    return [sys.executable, *container["command"][1:], *args, "--host=127.0.0.1", f"--port={port}"]


def test_the_cluster_runtime_serves_a_model_directory_uploads_its_log_and_the_monitor_reads_it(
    store: ObjectStoreLogStore, s3_endpoint: str, tmp_path: Path
) -> None:
    import mlflow

    tracking_uri, model_uri, data = register_churn_model(tmp_path)
    mlflow.set_tracking_uri(tracking_uri)
    model_dir = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path / "mnt-models")))
    port = _free_port()
    env = {**os.environ, "IML4E_HOME": str(tmp_path / "unused")}
    env.pop("MLFLOW_TRACKING_URI", None)  # on the cluster the server never talks to MLflow
    server = subprocess.Popen(
        _cluster_server_command(model_dir, "churn", port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, server)
        records = json.loads(data[FEATURES].iloc[:120].to_json(orient="records"))
        ids = []
        for start in range(0, 120, 40):
            answer = httpx.post(
                f"{url}/v1/models/churn:predict", json={"instances": records[start : start + 40]}
            )
            assert answer.status_code == 200
            ids.append(answer.headers["x-request-id"])
    finally:
        server.send_signal(signal.SIGTERM)  # the server uploads what it holds on the way out
        server.wait(timeout=60)
    assert not (tmp_path / "unused").exists()  # nothing went to local files
    logged = store.read_requests("churn", since=time.time() - 600)
    assert len(logged) == 120 and sorted(set(logged[REQUEST_ID_COLUMN])) == sorted(ids)
    reference = tmp_path / "reference.csv"
    data[FEATURES].to_csv(reference, index=False)
    monitor_dir = str(tmp_path / "monitor")
    monitor = subprocess.run(
        [*MONITOR, "--once", "--window", "1h", "--watch", f"churn={reference}", "--state-dir", monitor_dir],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert monitor.returncode == 0, monitor.stderr
    summary = json.loads(monitor.stdout.splitlines()[-1])
    assert summary["model"] == "churn" and summary["rows_compared"] == 120
    assert Path(summary["report"]).is_file()


def test_a_missing_bucket_is_named_with_the_fix(store: ObjectStoreLogStore) -> None:
    from iml4e_components.errors import ComponentError

    with pytest.raises(
        ComponentError,
        match=r"cannot list s3://no-such-bucket/request-logs: NoSuchBucket.*IML4E_REQUEST_LOG_BUCKET",
    ):
        ObjectStoreLogStore(store.client, "no-such-bucket").read_requests("churn")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"the server exited: {server.stderr.read().decode() if server.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the model server did not become ready within 120 s")


def test_labels_go_to_the_store_and_come_back(store: ObjectStoreLogStore) -> None:
    from iml4e_components.monitoring.quality import labels_from_lines

    where = store.add_labels("churn", b'{"request_id": "r1", "row": 0, "label": "1"}\n')
    assert where.startswith("s3://iml4e/request-logs/churn/labels/labels-") and where.endswith(".jsonl")
    store.add_labels("churn", b'{"request_id": "r1", "row": 0, "label": "0"}\n')
    assert labels_from_lines(store.label_lines("churn"))["label"].tolist() == ["0"]  # the later one wins


def test_the_rollout_tail_reads_each_new_upload_and_label_object_once(store: ObjectStoreLogStore) -> None:
    """What `iml4e rollout watch --cluster` reads: only objects uploaded after it started, each once."""
    from iml4e_components.rollout.log_tail import ObjectStoreTail

    writer = ObjectStoreLogWriter(
        store.client, BUCKET, store.prefix, "churn", batch_records=2, flush_seconds=0
    )
    fields = {"variant": "canary", "version": "2", "status": 200, "latency_ms": 3.0}
    writer.offer("v2", _columns([30]), np.array([1]), time.time(), "before", fields)
    writer.flush()
    store.add_labels("churn", b'{"request_id": "before", "row": 0, "label": "1"}\n')
    tail = ObjectStoreTail(store, "churn")
    tail.skip_existing()
    assert tail.new_records() == [] and tail.new_labels() == []
    writer.offer("v2", _columns([40, 50]), np.array([0, 1]), time.time(), "after", fields)
    writer.close()
    store.add_labels("churn", b'{"request_id": "after", "row": 1, "label": "0"}\nnot json\n')
    records = tail.new_records()
    assert [(r["id"], r["variant"], r["outputs"]) for r in records] == [("after", "canary", [0, 1])]
    assert tail.new_labels() == [("after", 1, "0")]
    assert tail.new_records() == [] and tail.new_labels() == []
