"""The inference front in-process (httpx over ASGI): routing, status codes, batching, metrics, logging."""

from __future__ import annotations

import asyncio
import json
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
    server_errors = 'kind="server",model="churn",protocol="v1",variant="primary",version=""'
    assert f"iml4e_serving_request_errors_total{{{server_errors}}} 1.0" in text
    assert 'iml4e_serving_predictions_total{model="churn",prediction="1",variant="primary"} 1.0' in text


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
    assert load.status_code == 404 and unload.status_code == 404

    client, _ = _client(tmp_path, CountingModel(), allow_model_control=True)

    async def control_unknown() -> list[httpx.Response]:
        async with client:
            return [
                await client.post(f"/v2/repository/models/nosuch/{action}") for action in ("load", "unload")
            ]

    load, unload = asyncio.run(control_unknown())
    assert load.status_code == 404 and "nosuch" in load.json()["error"]
    assert unload.status_code == 404


def test_model_control_is_off_unless_allowed(tmp_path: Path) -> None:
    """KServe's load/unload take no credentials: by default they are not served, and the model stays."""
    client, _ = _client(tmp_path, CountingModel())

    async def send() -> list[httpx.Response]:
        async with client:
            return [
                await client.post("/v2/repository/models/churn/unload"),
                await client.post("/v2/repository/models/churn/load"),
                await client.get("/v2/health/ready"),
                await client.post("/v2/models/churn/infer", json=_v2(60)),
            ]

    unload, load, ready, infer = asyncio.run(send())
    assert unload.status_code == 404 and "--allow-model-control" in unload.json()["error"]
    assert load.status_code == 404
    assert ready.status_code == 200 and infer.status_code == 200


def test_allowed_model_control_unload_makes_the_server_unready_until_load(tmp_path: Path) -> None:
    predict = CountingModel()
    model = _model(predict)
    loads: list[str] = []

    def load_again() -> bool:
        loads.append(model.name)
        model.ready = True
        return True

    model.load = load_again  # type: ignore[method-assign]
    app = build_app(
        model,
        ServingMetrics("churn", CollectorRegistry()),
        RequestLogWriter(tmp_path, "churn"),
        allow_model_control=True,
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    async def send() -> list[httpx.Response]:
        async with client:
            return [
                await client.post("/v2/repository/models/churn/unload"),
                await client.get("/v2/health/ready"),
                await client.get("/v2/models/churn/ready"),
                await client.post("/v2/models/churn/infer", json=_v2(60)),
                await client.post("/v2/repository/models/churn/load"),
                await client.get("/v2/health/ready"),
                await client.post("/v2/models/churn/infer", json=_v2(60)),
            ]

    unload, ready, model_ready, infer, load, ready_again, infer_again = asyncio.run(send())
    assert unload.status_code == 200
    assert ready.status_code == 503 and model_ready.status_code == 404
    assert infer.status_code == 503 and "unloaded" in infer.json()["error"]
    assert load.status_code == 200 and loads == ["churn"]
    assert ready_again.json() == {"ready": True} and infer_again.status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"host": "evil.example"}, 403),
        ({"host": "evil.example:8080"}, 403),
        ({"host": "localhost.evil.example"}, 403),
        ({"host": "127.0.0.1:8080", "origin": "http://evil.example"}, 403),
        ({"host": "127.0.0.1:8080", "origin": "null"}, 403),
        ({"host": "127.0.0.1:8080"}, 200),
        ({"host": "localhost"}, 200),
        ({"host": "[::1]:8080", "origin": "http://localhost:3000"}, 200),
    ],
)
def test_only_loopback_host_names_are_answered(tmp_path: Path, headers: dict[str, str], status: int) -> None:
    """DNS rebinding: a page whose name now points at 127.0.0.1 sends its own name as Host."""
    from iml4e_components.serving.server import host_names_to_answer

    allowed = host_names_to_answer("127.0.0.1", None)
    client, _ = _client(tmp_path, CountingModel(), allowed_hosts=allowed)

    async def send() -> list[httpx.Response]:
        async with client:
            return [
                await client.post("/v2/models/churn/infer", json=_v2(60), headers=headers),
                await client.get("/v2/health/ready", headers=headers),
            ]

    for response in asyncio.run(send()):
        assert response.status_code == status, response.text
        if status == 403:
            assert "refused" in response.json()["error"] or "not served here" in response.json()["error"]


def test_host_names_to_answer_follow_the_bind_address_unless_configured() -> None:
    from iml4e_components.serving.server import LOOPBACK_NAMES, host_names_to_answer

    assert host_names_to_answer("127.0.0.1", None) == LOOPBACK_NAMES
    assert host_names_to_answer("0.0.0.0", None) is None  # in a pod: the cluster's routing names it
    assert host_names_to_answer("0.0.0.0", ["Churn.Example ", "[::1]"]) == {"churn.example", "::1"}
    assert host_names_to_answer("127.0.0.1", ["*"]) is None


class ProbabilityModel(CountingModel):
    """A classifier: P(churn) = age / 100; label 1 when that is above one half."""

    def with_probabilities(self, columns: Columns) -> np.ndarray[Any, Any]:
        churn = columns["age"].astype(np.float64) / 100
        answer = np.empty(len(churn), dtype=[("predict", np.int64), ("predict_proba", np.float64, (2,))])
        answer["predict"] = (churn > 0.5).astype(np.int64)
        answer["predict_proba"] = np.column_stack([1 - churn, churn])
        return answer


def _classifier_client(tmp_path: Path) -> httpx.AsyncClient:
    predict = ProbabilityModel()
    model = _model(predict)
    model.classes = [0, 1]
    model.predict_with_probabilities = predict.with_probabilities  # type: ignore[method-assign]
    app = build_app(model, ServingMetrics("churn", CollectorRegistry()), RequestLogWriter(tmp_path, "churn"))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def test_a_classifier_lists_and_returns_class_probabilities(tmp_path: Path) -> None:
    client = _classifier_client(tmp_path)
    proba_only = {**_v2(70), "outputs": [{"name": "predict_proba"}]}

    async def send() -> list[httpx.Response]:
        async with client:
            return [
                await client.get("/v2/models/churn"),
                await client.post("/v2/models/churn/infer", json=proba_only),
                await client.post("/v2/models/churn/infer", json=_v2(20)),
                await client.post("/v1/models/churn:predict", json={"instances": [[70, "n"]]}),
                await client.post("/v2/models/churn/infer", json={**_v2(70), "outputs": [{"name": "x"}]}),
                await client.post("/v2/models/churn/infer", json={**_v2(70), "outputs": "predict"}),
            ]

    metadata, asked, default, v1, unknown, malformed = asyncio.run(send())
    assert metadata.json()["outputs"] == [
        {"name": "predict", "datatype": "FP64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    (probabilities,) = asked.json()["outputs"]
    assert probabilities["name"] == "predict_proba" and probabilities["shape"] == [1, 2]
    assert probabilities["datatype"] == "FP64" and probabilities["data"] == pytest.approx([0.3, 0.7])
    # No outputs named: every output, as the Open Inference Protocol says; the label as before.
    assert [o["name"] for o in default.json()["outputs"]] == ["predict", "predict_proba"]
    assert default.json()["outputs"][0]["data"] == [0]
    assert default.json()["outputs"][1]["data"] == pytest.approx([0.8, 0.2])
    assert v1.json() == {"predictions": [1]}  # V1 unchanged: the label only
    assert unknown.status_code == 400 and "outputs are: predict, predict_proba" in unknown.json()["error"]
    assert malformed.status_code == 400 and '"outputs" must be a list' in malformed.json()["error"]


def test_a_model_without_probabilities_answers_the_label_alone(tmp_path: Path) -> None:
    client, _ = _client(tmp_path, CountingModel())

    async def send() -> list[httpx.Response]:
        async with client:
            return [
                await client.post("/v2/models/churn/infer", json=_v2(70)),
                await client.post(
                    "/v2/models/churn/infer", json={**_v2(70), "outputs": [{"name": "predict_proba"}]}
                ),
            ]

    default, asked = asyncio.run(send())
    assert [o["name"] for o in default.json()["outputs"]] == ["predict"]
    assert asked.status_code == 400 and "its outputs are: predict" in asked.json()["error"]


def test_a_pipelines_probabilities_match_its_own_predict_and_predict_proba() -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"age": rng.integers(18, 90, 200), "tenure": rng.normal(size=200)})
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, frame["age"] > 50)
    model = MLflowServedModel("churn", "models:/churn@champion")
    model.columns = columns_from_signature([("age", "long"), ("tenure", "double")])
    model._predict = pipeline.predict
    model._find_probabilities(pipeline)
    columns = {"age": frame["age"].to_numpy(), "tenure": frame["tenure"].to_numpy()}

    answer = model.predict_with_probabilities(columns)
    assert model.classes == [False, True] and model.output_names == ["predict", "predict_proba"]
    assert (answer["predict"] == pipeline.predict(frame)).all()
    np.testing.assert_allclose(answer["predict_proba"], pipeline.predict_proba(frame))
    assert (answer[3:5]["predict"] == model.predict_columns(columns)[3:5]).all()  # slices like labels


def test_a_cluster_canary_pod_reports_itself_as_the_canary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the cluster KServe runs the canary in pods of its own, marked by IML4E_SERVING_VARIANT=canary
    (deployment/core.py sets it); their header, metrics and request log must say so."""
    from iml4e_components.conventions import SERVING_VARIANT_ENV
    from iml4e_components.errors import ComponentError
    from iml4e_components.serving.server import served_variant

    monkeypatch.setenv(SERVING_VARIANT_ENV, "canary")
    client, app = _client(tmp_path, CountingModel())

    async def send() -> tuple[httpx.Response, str]:
        async with client:
            answer = await client.post("/v2/models/churn/infer", json=_v2(70))
            return answer, (await client.get("/metrics")).text

    answer, metrics = asyncio.run(send())
    app.request_log.close()
    assert answer.status_code == 200 and answer.headers["x-iml4e-variant"] == "canary"
    assert 'variant="canary"' in metrics and 'variant="primary"' not in metrics
    from iml4e_components.serving.request_log import request_log_dir

    lines = [
        json.loads(line) for f in request_log_dir(tmp_path, "churn").glob("*.jsonl") for line in f.open()
    ]
    assert [line["variant"] for line in lines] == ["canary"]
    assert served_variant({}) == "primary"
    with pytest.raises(ComponentError, match="IML4E_SERVING_VARIANT='blue' is not a variant"):
        served_variant({SERVING_VARIANT_ENV: "blue"})
