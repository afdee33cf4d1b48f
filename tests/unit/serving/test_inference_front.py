"""The inference front in-process (httpx over ASGI): routing, status codes, batching, metrics, logging."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from iml4e_components.serving.metrics import ServingMetrics
from iml4e_components.serving.model import MLflowServedModel
from iml4e_components.serving.request_log import RequestLogWriter, read_request_log
from iml4e_components.serving.server import PredictionBatcher, build_app
from iml4e_components.serving.validation import Columns, columns_from_signature


class CountingModel:
    """Predicts age > 50; fails on age 13; records batch sizes."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, columns: Columns) -> np.ndarray[Any, Any]:
        self.batches.append(len(columns["age"]))
        if (columns["age"] == 13).any():
            raise RuntimeError("unlucky")
        return (columns["age"] > 50).astype(np.int64)


def _model(predict: CountingModel) -> MLflowServedModel:
    model = MLflowServedModel("churn", "models:/churn@champion")
    model.columns = columns_from_signature([("age", "long"), ("region", "string")])
    model.predict_columns = predict  # type: ignore[method-assign]
    model.ready = True
    return model


def _client(tmp_path: Path, predict: CountingModel, **kwargs: Any) -> tuple[httpx.AsyncClient, Any]:
    log = RequestLogWriter(tmp_path, "churn")
    app = build_app(_model(predict), ServingMetrics("churn", CollectorRegistry()), log, **kwargs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"), app


def _v2(age: int) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "age", "shape": [1], "datatype": "INT64", "data": [age]},
            {"name": "region", "shape": [1], "datatype": "BYTES", "data": ["n"]},
        ]
    }


def test_concurrent_requests_share_one_prediction(tmp_path: Path) -> None:
    predict = CountingModel()
    client, _ = _client(tmp_path, predict)

    async def send() -> list[httpx.Response]:
        async with client:
            return await asyncio.gather(
                *(client.post("/v2/models/churn/infer", json=_v2(40 + i)) for i in range(20))
            )

    responses = asyncio.run(send())
    assert [r.json()["outputs"][0]["data"] for r in responses] == [[int(40 + i > 50)] for i in range(20)]
    assert sum(predict.batches) == 20 and len(predict.batches) < 20


def test_a_failing_request_does_not_fail_its_batch(tmp_path: Path) -> None:
    predict = CountingModel()
    client, app = _client(tmp_path, predict)

    async def send() -> list[httpx.Response]:
        async with client:
            return await asyncio.gather(
                *(
                    client.post("/v1/models/churn:predict", json={"instances": [{"age": a, "region": "n"}]})
                    for a in (60, 13, 20)
                )
            )

    ok, failed, other = asyncio.run(send())
    assert ok.json() == {"predictions": [1]} and other.json() == {"predictions": [0]}
    assert failed.status_code == 500 and "unlucky" in failed.json()["error"]
    text = generate_latest(app.metrics.registry).decode()
    assert 'iml4e_serving_request_errors_total{kind="server",model="churn",protocol="v1"} 1.0' in text
    assert 'iml4e_serving_predictions_total{model="churn",prediction="1"} 1.0' in text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/v1/models/other:predict", b"{}", 404, "serves 'churn'"),
        ("GET", "/v1/models/churn:predict", b"", 405, "takes POST"),
        ("POST", "/v1/models/churn:predict", b"[1", 400, "not valid JSON"),
        ("POST", "/v1/models/churn:predict", b"x" * 2048, 413, "larger than 1024 bytes"),
    ],
)
def test_refusals(tmp_path: Path, method: str, path: str, body: bytes, status: int, message: str) -> None:
    client, _ = _client(tmp_path, CountingModel(), max_body_bytes=1024)

    async def send() -> httpx.Response:
        async with client:
            return await client.request(method, path, content=body)

    response = asyncio.run(send())
    assert response.status_code == status
    assert message in response.json()["error"]


def test_kserve_answers_health_and_metadata(tmp_path: Path) -> None:
    client, _ = _client(tmp_path, CountingModel())

    async def send() -> list[httpx.Response]:
        async with client:
            return [
                await client.get(p)
                for p in ("/v2/health/ready", "/v2/models/churn", "/v2/models/churn/ready")
            ]

    ready, metadata, model_ready = asyncio.run(send())
    assert ready.json() == {"ready": True} and model_ready.status_code == 200
    assert [i["name"] for i in metadata.json()["inputs"]] == ["age", "region"]


def test_served_requests_are_logged(tmp_path: Path) -> None:
    client, app = _client(tmp_path, CountingModel())

    async def send() -> None:
        async with client:
            await client.post("/v2/models/churn/infer", json=_v2(70))
            await client.get("/metrics")

    asyncio.run(send())
    app.request_log.close()
    logged = read_request_log(tmp_path, "churn")
    assert logged["age"].tolist() == [70] and logged["prediction"].tolist() == [1]


def test_batcher_predicts_large_submissions_at_once() -> None:
    calls: list[int] = []

    def predict(columns: Columns) -> np.ndarray[Any, Any]:
        calls.append(len(columns["x"]))
        return columns["x"] * 2

    async def run() -> list[list[int]]:
        batcher = PredictionBatcher(predict, max_rows=4)
        futures = [batcher.submit({"x": np.arange(3)}, 3), batcher.submit({"x": np.arange(2)}, 2)]
        return [list(f) for f in await asyncio.gather(*futures)]

    assert asyncio.run(run()) == [[0, 2, 4], [0, 2]]
    assert calls == [5]


def test_batcher_waits_while_each_loop_turn_brings_requests() -> None:
    """Requests arriving on consecutive loop turns share one predict call; the batch goes once a turn is quiet."""
    calls: list[int] = []

    def predict(columns: Columns) -> np.ndarray[Any, Any]:
        calls.append(len(columns["x"]))
        return columns["x"] + 1

    async def arrive(batcher: PredictionBatcher, value: int, turns: int) -> list[int]:
        for _ in range(turns):
            await asyncio.sleep(0)  # one event-loop turn
        return list(await batcher.submit({"x": np.array([value])}, 1))

    async def run() -> tuple[list[list[int]], list[int]]:
        batcher = PredictionBatcher(predict)
        # Two requests in the first turn, then one in each of the next three turns (as under load).
        together = await asyncio.gather(*(arrive(batcher, v, turns=max(v - 1, 0)) for v in range(5)))
        alone = await arrive(batcher, 10, turns=0)
        return [*together, alone], calls

    answers, batches = asyncio.run(run())
    assert answers == [[1], [2], [3], [4], [5], [11]]
    assert batches == [5, 1]


def test_text_labels_are_answered_in_both_protocols(tmp_path: Path) -> None:
    def predict(columns: Columns) -> np.ndarray[Any, Any]:
        return np.where(columns["age"] > 50, "stays", "leaves").astype(object)

    model = _model(CountingModel())
    model.predict_columns = predict  # type: ignore[method-assign]
    app = build_app(model, ServingMetrics("churn", CollectorRegistry()))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    async def send() -> list[httpx.Response]:
        async with client:
            return [
                await client.post("/v2/models/churn/infer", json=_v2(70)),
                await client.post("/v1/models/churn:predict", json={"instances": [[20, "s"]]}),
            ]

    v2, v1 = asyncio.run(send())
    assert v2.json()["outputs"][0] == {
        "name": "predict",
        "shape": [1],
        "datatype": "BYTES",
        "data": ["stays"],
    }
    assert v1.json() == {"predictions": ["leaves"]}
    assert 'prediction="stays"' in generate_latest(app.metrics.registry).decode()


def test_fallback_routes_answer_client_errors_with_4xx_not_5xx(tmp_path: Path) -> None:
    """What the server does not offer is the client's 4xx, so it never counts against the 5xx alert:
    :explain without an explainer (KServe: 501), loading a model it does not hold (KServe: 503)."""
    client, _ = _client(tmp_path, CountingModel())
    body = {"instances": [{"age": 1, "region": "n"}]}

    async def send() -> list[httpx.Response]:
        async with client:
            return [
                await client.post("/v1/models/churn:explain", json=body),
                await client.post("/v2/repository/models/nosuch/load"),
                await client.post("/v2/repository/models/nosuch/unload"),
            ]

    explain, load, unload = asyncio.run(send())
    assert explain.status_code == 404 and "predict/infer" in explain.json()["error"]
    assert load.status_code == 404 and "nosuch" in load.json()["error"]
    assert unload.status_code == 404
