"""A real model server on a free loopback port: both protocols, metrics, bad requests, concurrency, request log."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from churn_model import FEATURES
from conftest import ServedChurn

pytestmark = pytest.mark.integration
V2_TYPES = {"age": "INT64", "region": "BYTES", "contract": "BYTES", "tenure_months": "INT64"}
V2_TYPES |= {"monthly_charges": "FP64", "support_calls": "INT64"}


def _records(served: ServedChurn, rows: int, start: int = 0) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(
        served.data[FEATURES].iloc[start : start + rows].to_json(orient="records")
    )
    return records


def _v2_body(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "req-1",
        "inputs": [
            {"name": c, "shape": [len(records)], "datatype": t, "data": [r[c] for r in records]}
            for c, t in V2_TYPES.items()
        ],
    }


def test_health_and_metadata(served_churn: ServedChurn) -> None:
    url = served_churn.url
    assert httpx.get(f"{url}/v2/health/live").status_code == 200
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{url}/v1/models/churn").json()["ready"] is True
    metadata = httpx.get(f"{url}/v2/models/churn").json()
    assert metadata["name"] == "churn"
    assert {i["name"]: i["datatype"] for i in metadata["inputs"]} == V2_TYPES
    assert metadata["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert httpx.get(f"{url}/v2/models/other").status_code == 404


def test_binds_loopback_only(served_churn: ServedChurn) -> None:
    listening = [c for c in psutil.Process(served_churn.pid).connections() if c.status == psutil.CONN_LISTEN]
    assert listening and all(c.laddr.ip == "127.0.0.1" for c in listening)


def test_both_protocols_answer_like_the_model(
    served_churn: ServedChurn, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn

    # The registry the model is in; without it MLflow falls back to ./mlflow.db in the working directory.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served_churn.tracking_uri)
    records = _records(served_churn, 25)
    expected = mlflow.pyfunc.load_model(served_churn.model_uri).predict(served_churn.data[FEATURES].head(25))
    v1 = httpx.post(f"{served_churn.url}/v1/models/churn:predict", json={"instances": records})
    assert v1.status_code == 200, v1.text
    assert v1.json()["predictions"] == np.asarray(expected).tolist()
    lists = [[r[c] for c in FEATURES] for r in records]
    assert (
        httpx.post(f"{served_churn.url}/v1/models/churn:predict", json={"instances": lists}).json()
        == v1.json()
    )
    v2 = httpx.post(f"{served_churn.url}/v2/models/churn/infer", json=_v2_body(records))
    assert v2.status_code == 200, v2.text
    answer = v2.json()
    assert answer["model_name"] == "churn" and answer["model_version"] == "1" and answer["id"] == "req-1"
    output, probabilities = answer["outputs"]  # no outputs asked for: all of them (OIP)
    assert output["name"] == "predict" and output["shape"] == [25] and output["datatype"] == "INT64"
    assert output["data"] == v1.json()["predictions"]
    expected_proba = mlflow.sklearn.load_model(served_churn.model_uri).predict_proba(
        served_churn.data[FEATURES].head(25)
    )
    assert probabilities["name"] == "predict_proba" and probabilities["shape"] == [25, 2]
    assert probabilities["datatype"] == "FP64"
    assert probabilities["data"] == pytest.approx(np.asarray(expected_proba).reshape(-1).tolist())

    asked = httpx.post(
        f"{served_churn.url}/v2/models/churn/infer",
        json={**_v2_body(records), "outputs": [{"name": "predict_proba"}]},
    )
    assert asked.status_code == 200, asked.text
    assert [o["name"] for o in asked.json()["outputs"]] == ["predict_proba"]
    assert asked.json()["outputs"][0]["data"] == probabilities["data"]


@pytest.mark.parametrize(
    ("path", "content", "status", "message"),
    [
        ("/v1/models/churn:predict", b"{not json", 400, "not valid JSON"),
        ("/v1/models/churn:predict", b"", 400, "body is empty"),
        ("/v1/models/churn:predict", b'{"instances": [{"age": 3}]}', 400, "lacks input 'region'"),
        ("/v2/models/churn/infer", b'{"inputs": []}', 400, "non-empty"),
        ("/v2/models/other/infer", b'{"inputs": []}', 404, "serves 'churn'"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(
    served_churn: ServedChurn, path: str, content: bytes, status: int, message: str
) -> None:
    response = httpx.post(served_churn.url + path, content=content)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_wrong_types_and_shapes_get_400(served_churn: ServedChurn) -> None:
    body = _v2_body(_records(served_churn, 2))
    body["inputs"][0]["datatype"] = "FP32"
    wrong_type = httpx.post(f"{served_churn.url}/v2/models/churn/infer", json=body)
    assert wrong_type.status_code == 400 and "send it as INT64" in wrong_type.json()["error"]
    body = _v2_body(_records(served_churn, 2))
    body["inputs"][2]["shape"] = [5]
    wrong_shape = httpx.post(f"{served_churn.url}/v2/models/churn/infer", json=body)
    assert wrong_shape.status_code == 400 and "shape [5]" in wrong_shape.json()["error"]


def test_oversized_body_gets_413(served_churn: ServedChurn) -> None:
    response = httpx.post(f"{served_churn.url}/v1/models/churn:predict", content=b" " * (9 * 1024 * 1024))
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_get_on_infer_gets_405(served_churn: ServedChurn) -> None:
    assert httpx.get(f"{served_churn.url}/v2/models/churn/infer").status_code == 405


def test_a_thousand_concurrent_requests_get_no_5xx(served_churn: ServedChurn) -> None:
    import aiohttp

    records = _records(served_churn, 50)
    v1 = [json.dumps({"instances": [r]}).encode() for r in records]
    v2 = [json.dumps(_v2_body([r])).encode() for r in records]
    bad = b'{"instances": [{"age": "old"}]}'

    async def send_all() -> list[int]:
        connector = aiohttp.TCPConnector(limit=1000)
        timeout = aiohttp.ClientTimeout(total=240)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(i: int) -> int:
                if i % 50 == 49:
                    path, body = "/v1/models/churn:predict", bad
                elif i % 2:
                    path, body = "/v1/models/churn:predict", v1[i % 50]
                else:
                    path, body = "/v2/models/churn/infer", v2[i % 50]
                async with session.post(served_churn.url + path, data=body) as response:
                    await response.read()
                    return response.status

            return await asyncio.gather(*(one(i) for i in range(1000)))

    statuses = asyncio.run(send_all())
    assert statuses.count(400) == 20
    assert statuses.count(200) == 980


def test_metrics_count_requests_latency_errors_and_predictions(served_churn: ServedChurn) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    httpx.post(f"{served_churn.url}/v2/models/churn/infer", json=_v2_body(_records(served_churn, 3)))
    httpx.post(f"{served_churn.url}/v1/models/churn:predict", content=b"{")
    text = httpx.get(f"{served_churn.url}/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    primary = (("variant", "primary"), ("version", "1"))
    v2 = (("code", "200"), ("model", "churn"), ("protocol", "v2"), *primary)
    assert samples[("iml4e_serving_requests_total", v2)] >= 1
    assert (
        samples[
            (
                "iml4e_serving_requests_total",
                (("code", "400"), ("model", "churn"), ("protocol", "v1"), *primary),
            )
        ]
        >= 1
    )
    assert (
        samples[
            (
                "iml4e_serving_request_errors_total",
                (("kind", "client"), ("model", "churn"), ("protocol", "v1"), *primary),
            )
        ]
        >= 1
    )
    count = samples[
        ("iml4e_serving_request_duration_seconds_count", (("model", "churn"), ("protocol", "v2"), *primary))
    ]
    assert count >= 1
    predicted = sum(v for (name, _), v in samples.items() if name == "iml4e_serving_predictions_total")
    assert predicted >= 3


def test_requests_are_logged_and_checked_for_drift(
    served_churn: ServedChurn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from iml4e.cli.app import app
    from iml4e_components.monitoring import read_request_log

    httpx.post(
        f"{served_churn.url}/v1/models/churn:predict", json={"instances": _records(served_churn, 200, 100)}
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if len(read_request_log(served_churn.home, "churn")) >= 200:
                break
        except ValueError:
            pass
        time.sleep(0.2)
    logged = read_request_log(served_churn.home, "churn")
    assert set(FEATURES) <= set(logged.columns) and len(logged) >= 200
    reference = served_churn.home.parent / "reference.csv"
    served_churn.data.to_csv(reference, index=False)
    monkeypatch.setenv("IML4E_HOME", str(served_churn.home))
    result = CliRunner().invoke(
        app, ["monitor", "models:/churn@champion", "--reference", str(reference), "--once", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["features"]) == set(FEATURES)
    assert report["rows_compared"] == len(read_request_log(served_churn.home, "churn"))
    assert (served_churn.home / "monitoring" / "churn" / "drift.prom").read_text().count(
        "iml4e_drift_feature_score{"
    ) == 6
    assert report["report"].endswith(".html")


def test_status_lists_the_server_and_serving_again_reuses_it(
    served_churn: ServedChurn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iml4e.local import platform
    from iml4e.local.serving import serve_detached

    monkeypatch.setenv("IML4E_HOME", str(served_churn.home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served_churn.tracking_uri)
    (status,) = [s for s in platform.status() if s.record.name == "serve:churn"]
    assert status.healthy and status.record.extra["model_uri"] == served_churn.model_uri
    assert serve_detached(served_churn.model_uri, "churn").pid == served_churn.pid


def test_demo_serving_answers_requests_and_writes_a_drift_report(
    served_churn: ServedChurn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iml4e.local.serving import demo_serving

    monkeypatch.setenv("IML4E_HOME", str(served_churn.home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served_churn.tracking_uri)
    reference = served_churn.home.parent / "demo-reference.csv"
    served_churn.data.to_csv(reference, index=False)
    summary = demo_serving(served_churn.model_uri, served_churn.tracking_uri, str(reference), rows=30)
    assert summary["requests answered"] == "2 (30 rows)"
    assert summary["served model (V2)"].endswith("/v2/models/churn/infer")
    report = summary["drift report"].split(" (")[0]
    assert report.endswith(".html") and Path(report).is_file()


def test_another_uri_replaces_the_server_and_up_restarts_a_dead_one(
    served_churn: ServedChurn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs last: it replaces the module's server."""
    from iml4e.local import processes
    from iml4e.local.serving import restart_served_models, serve_detached
    from iml4e.local.state import load_state

    monkeypatch.setenv("IML4E_HOME", str(served_churn.home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", served_churn.tracking_uri)
    replaced = serve_detached("models:/churn/1", "churn")
    assert replaced.pid != served_churn.pid and not processes.is_alive(served_churn.pid)
    assert replaced.extra["model_uri"] == "models:/churn/1"
    processes.stop(replaced.pid)
    assert restart_served_models("http://127.0.0.1:1") == (["serve:churn"], {})
    restarted = load_state(served_churn.home).services["serve:churn"]
    assert restarted.pid != replaced.pid and restarted.extra["model_uri"] == "models:/churn/1"
    answer = httpx.post(
        f"{restarted.url}/v1/models/churn:predict", json={"instances": _records(served_churn, 1)}
    )
    assert answer.status_code == 200


def test_labels_sent_later_give_the_monitor_the_models_quality(
    served_churn: ServedChurn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from iml4e.cli.app import app
    from iml4e_components.monitoring import read_request_log

    records = _records(served_churn, 30, 300)
    truth = served_churn.data["churned"].iloc[300:330].tolist()
    answered: list[tuple[str, int, Any, Any]] = []  # request id, row, prediction, true label
    for start in range(0, 30, 10):
        body = {**_v2_body(records[start : start + 10]), "id": f"label-test-{start}"}
        response = httpx.post(f"{served_churn.url}/v2/models/churn/infer", json=body)
        assert response.headers["x-request-id"] == f"label-test-{start}" == response.json()["id"]
        predictions = response.json()["outputs"][0]["data"]
        answered += [(f"label-test-{start}", row, predictions[row], truth[start + row]) for row in range(10)]
    v1 = httpx.post(f"{served_churn.url}/v1/models/churn:predict", json={"instances": records[:1]})
    assert len(v1.headers["x-request-id"]) == 32  # generated when the client gives none
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        logged = read_request_log(served_churn.home, "churn")
        if "request_id" in logged and logged["request_id"].isin([a[0] for a in answered]).sum() == 30:
            break
        time.sleep(0.2)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "request_id,row,label\n" + "".join(f"{rid},{row},{label}\n" for rid, row, _, label in answered[:20]),
        encoding="utf-8",
    )
    monkeypatch.setenv("IML4E_HOME", str(served_churn.home))
    runner = CliRunner()
    stored = runner.invoke(app, ["label", "models:/churn@champion", "--labels", str(labels)])
    assert stored.exit_code == 0, stored.output
    reference = tmp_path / "reference.csv"
    served_churn.data.to_csv(reference, index=False)
    result = runner.invoke(
        app, ["monitor", "models:/churn@champion", "--reference", str(reference), "--once", "--json"]
    )
    assert result.exit_code == 0, result.output
    quality = json.loads(result.stdout)["quality"]
    expected = sum(str(p) == str(t) for _, _, p, t in answered[:20]) / 20
    assert quality["labeled_rows"] == 20 and quality["accuracy"] == pytest.approx(expected)
    # two classes: precision, recall and F1 of the positive (later) class, as in Evidently's page
    from sklearn.metrics import f1_score

    truth = [str(t) for _, _, _, t in answered[:20]]
    said = [str(p) for _, _, p, _ in answered[:20]]
    assert quality["averaging"] == "binary" and quality["positive_class"] == "1"
    assert quality["f1"] == pytest.approx(f1_score(truth, said, pos_label="1", zero_division=0))
    gauges = (served_churn.home / "monitoring" / "churn" / "drift.prom").read_text()
    gauge = next(line for line in gauges.splitlines() if line.startswith('iml4e_quality_f1{model="churn"}'))
    assert float(gauge.split()[-1]) == pytest.approx(quality["f1"])
