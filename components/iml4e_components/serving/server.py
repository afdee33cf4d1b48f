"""The KServe-protocol model server: KServe's data plane for health and metadata, a lean inference path.

Routes: V1 `/v1/models/N`, `/v1/models/N:predict`; Open Inference Protocol `/v2/health/live`,
`/v2/health/ready`, `/v2/models/N`, `/v2/models/N/ready`, `/v2/models/N/infer`; `/metrics`.

Health, readiness and metadata are KServe's own endpoints (`kserve.protocol.rest`, its
`DataPlane` and `ModelRepository`), so the server answers exactly what a KServe client expects.
Inference requests are served by a small ASGI front instead of KServe's FastAPI route, because
that route's per-request pydantic parsing, tensor conversion and trace logging cost more than the
model itself on tabular data. The front reads the body (bounded), parses it with orjson, checks
it against the signature per column, and hands it to a batcher that predicts every request that
arrived in the same event-loop turn in one call, so concurrent clients share the model's fixed
cost without waiting for a timer. Logging of requests happens on a background thread.

Every answered inference request gets an id: the V2 request's own `id` when it sends one, else a
random one. It comes back in the `x-request-id` header (and V2's `id` field) and is recorded in
the request log, so labels that arrive later can be matched to the logged rows.

It binds 127.0.0.1 unless told otherwise (KServe's stock server binds every interface).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from iml4e_components.conventions import SERVING_VARIANT_ENV
from iml4e_components.errors import ComponentError
from iml4e_components.serving.metrics import ServingMetrics
from iml4e_components.serving.model import PREDICT, PREDICT_PROBA, MLflowServedModel
from iml4e_components.serving.request_log import BackgroundLogWriter
from iml4e_components.serving.traffic_split import (
    CANARY,
    PRIMARY,
    STATUS_PATH,
    VARIANTS,
    RolloutControl,
    canary_buckets,
    read_control,
    request_bucket,
)
from iml4e_components.serving.validation import BadRequest, Columns, decode_v1, decode_v2

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest request body accepted, in bytes (larger ones get 413).
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
#: Seconds a client has to send one whole request (headers and body); slower ones get 408 and are closed.
DEFAULT_REQUEST_TIMEOUT = 20.0
#: Seconds an idle keep-alive connection stays open; above the 60 s idle timeout of common proxies
#: and load balancers in front of the server, so that they, not the server, close idle connections.
DEFAULT_KEEP_ALIVE_TIMEOUT = 65
#: The loopback names a server bound to loopback answers to by default (Host header, without port).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
#: Longest client-given V2 request id kept as the request id (longer ones get a generated id).
MAX_REQUEST_ID_CHARS = 128
REQUEST_ID_HEADER = b"x-request-id"
#: Which variant answered (`primary` or `canary`), and that variant's model version.
VARIANT_HEADER = b"x-iml4e-variant"
VERSION_HEADER = b"x-iml4e-model-version"
#: KServe's model repository extension: `POST {prefix}/NAME/load` and `.../unload`.
MODEL_CONTROL_PREFIX = "/v2/repository/models"
_JSON_HEADERS = [(b"content-type", b"application/json")]
_NO_OUTPUTS: np.ndarray[Any, Any] = np.empty(0)


#: Event-loop turns a batch may wait for more requests while each turn still brings new ones.
MAX_LINGER_TURNS = 8


class PredictionBatcher:
    """Predicts the requests that arrive together in one call; a failing batch is retried one by one.

    A batch is predicted on the first event-loop turn that brings no new request (or after
    `MAX_LINGER_TURNS` turns, or at `max_rows`). A lone request waits one turn; under load, the
    requests whose bytes are already on the sockets join the batch instead of each paying the
    model's fixed per-call cost (a scikit-learn pipeline costs about as much for 32 rows as for one).
    Waiting only on turns that bring work adds no timer and no delay when the server is idle.
    """

    def __init__(self, predict: Callable[[Columns], np.ndarray[Any, Any]], max_rows: int = 4096) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._pending: list[tuple[Columns, int, asyncio.Future[np.ndarray[Any, Any]]]] = []
        self._pending_rows = 0
        self._waiting: asyncio.Handle | None = None
        self._seen = 0
        self._turns = 0

    def submit(self, columns: Columns, rows: int) -> asyncio.Future[np.ndarray[Any, Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray[Any, Any]] = loop.create_future()
        self._pending.append((columns, rows, future))
        self._pending_rows += rows
        if self._pending_rows >= self._max_rows:
            self._flush()
        elif self._waiting is None:
            self._seen, self._turns = len(self._pending), 0
            self._waiting = loop.call_soon(self._flush_when_quiet)
        return future

    def _flush_when_quiet(self) -> None:
        if len(self._pending) > self._seen and self._turns < MAX_LINGER_TURNS:
            self._seen, self._turns = len(self._pending), self._turns + 1
            self._waiting = asyncio.get_running_loop().call_soon(self._flush_when_quiet)
            return
        self._flush()

    def _flush(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        batch, self._pending, self._pending_rows = self._pending, [], 0
        if not batch:
            return
        if len(batch) == 1:
            self._run_one(*batch[0])
            return
        try:
            merged = {
                name: np.concatenate([columns[name] for columns, _, _ in batch]) for name in batch[0][0]
            }
            outputs = self._predict(merged)
            if len(outputs) != sum(rows for _, rows, _ in batch):
                raise ValueError("the model returned a different number of rows than it was given")
        except Exception:
            for item in batch:  # find the request that fails, answer the others
                self._run_one(*item)
            return
        start = 0
        for _, rows, future in batch:
            if not future.done():
                future.set_result(outputs[start : start + rows])
            start += rows

    def _run_one(self, columns: Columns, rows: int, future: asyncio.Future[np.ndarray[Any, Any]]) -> None:
        if future.done():
            return
        try:
            future.set_result(self._predict(columns))
        except Exception as exc:
            future.set_exception(exc)


@dataclass
class ServedVariant:
    """One model the front serves (`primary`, or `canary` during a rollout) with its batchers."""

    variant: str
    model: MLflowServedModel

    def __post_init__(self) -> None:
        self.batcher = PredictionBatcher(self.model.predict_columns)
        #: V2 requests that want the class probabilities too: one pass gives labels and probabilities.
        self.probability_batcher = PredictionBatcher(self.model.predict_with_probabilities)
        self.version_header = (self.model.version or "").encode()


@dataclass(frozen=True)
class TrafficSplit:
    """What the front serves: replaced as a whole (one attribute store) when the split changes, so a
    request sees either the old split or the new one, and one in flight finishes on its variant."""

    primary: ServedVariant
    canary: ServedVariant | None = None
    #: Share of requests the canary answers, in percent.
    canary_traffic: float = 0.0
    #: The control file generation applied last, and why it could not be applied (None: it was).
    generation: int = 0
    error: str | None = None

    @property
    def canary_buckets(self) -> int:
        return canary_buckets(self.canary_traffic) if self.canary is not None else 0

    def route(self, request_id: str) -> ServedVariant:
        if self.canary is not None and request_bucket(request_id) < self.canary_buckets:
            return self.canary
        return self.primary

    def as_dict(self) -> dict[str, Any]:
        def described(variant: ServedVariant | None) -> dict[str, Any] | None:
            if variant is None:
                return None
            return {"model_uri": variant.model.model_uri, "version": variant.model.version}

        return {
            "generation": self.generation,
            "error": self.error,
            "canary_traffic": self.canary_traffic if self.canary is not None else 0.0,
            PRIMARY: described(self.primary),
            CANARY: described(self.canary),
        }


@dataclass
class InferenceFront:
    """ASGI app: the inference routes and /metrics itself, everything else to KServe's FastAPI app."""

    model: MLflowServedModel
    fallback: ASGIApp
    metrics: ServingMetrics
    request_log: BackgroundLogWriter | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Host names requests may be addressed to (Host, and Origin when a browser sends one); None: any.
    allowed_hosts: frozenset[str] | None = None
    #: Whether KServe's model-control endpoints (`MODEL_CONTROL_PREFIX`/NAME/load|unload) are served.
    allow_model_control: bool = False
    #: A canary model answering `canary_traffic` percent of the requests, chosen by request id.
    canary: MLflowServedModel | None = None
    canary_traffic: float = 0.0
    #: Called with the new primary model after a promotion (KServe's repository serves its metadata).
    on_primary_change: Callable[[MLflowServedModel], None] | None = None
    #: What this server's own model is to the rollout: on the cluster KServe runs the canary in pods of
    #: its own, marked by `SERVING_VARIANT_ENV=canary`, so they report `variant="canary"`.
    variant: str = field(default_factory=lambda: served_variant(os.environ))

    def __post_init__(self) -> None:
        self.split = TrafficSplit(
            ServedVariant(self.variant, self.model),
            ServedVariant(CANARY, self.canary) if self.canary is not None else None,
            self.canary_traffic,
        )
        name = self.model.name
        self._v1_path = f"/v1/models/{name}:predict"
        self._v2_path = f"/v2/models/{name}/infer"

    @property
    def primary(self) -> MLflowServedModel:
        return self.split.primary.model

    def apply(self, control: RolloutControl, load: Callable[[str], MLflowServedModel]) -> TrafficSplit:
        """Serve what `control` asks for from now on: a new canary (loaded with `load` first, outside
        the request path), another share, no canary, or the canary promoted to primary. When that
        cannot be done, the current split stays and `error` says why."""
        split = self.split
        try:
            if control.promote:
                if split.canary is None:
                    raise ComponentError("there is no canary to promote")
                new = TrafficSplit(ServedVariant(PRIMARY, split.canary.model), generation=control.generation)
            elif control.canary_uri is None:
                new = TrafficSplit(split.primary, generation=control.generation)
            else:
                canary = split.canary
                if canary is None or canary.model.model_uri != control.canary_uri:
                    canary = ServedVariant(CANARY, load(control.canary_uri))
                new = TrafficSplit(split.primary, canary, control.canary_traffic, control.generation)
        except Exception as exc:  # a canary that does not load: keep serving what is served
            new = replace(split, generation=control.generation, error=f"{exc}")
        self.split = new
        if new.primary is not split.primary and self.on_primary_change is not None:
            self.on_primary_change(new.primary.model)
        return new

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        if self.allowed_hosts is not None:
            refusal = foreign_host(scope["headers"], self.allowed_hosts)
            if refusal is not None:
                await _send_json(send, 403, {"error": refusal})
                return
        path: str = scope["path"]
        protocol = _inference_protocol(path)
        if protocol is None:
            if path == "/metrics" and scope["method"] == "GET":
                await self._metrics(send)
            elif path == STATUS_PATH and scope["method"] == "GET":
                await _send_json(send, 200, self.split.as_dict())
            elif path.startswith(MODEL_CONTROL_PREFIX + "/") and not self.allow_model_control:
                message = (
                    "model control (load/unload) is off on this server; "
                    "start it with --allow-model-control to use the repository endpoints"
                )
                await _send_json(send, 404, {"error": message})
            else:
                await self.fallback(scope, receive, send)
            return
        await self._infer(scope, receive, send, protocol)

    async def _infer(self, scope: Scope, receive: Receive, send: Send, protocol: str) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        request_id = _header_request_id(scope["headers"])
        split = self.split
        served: ServedVariant | None = None
        try:
            if scope["method"] != "POST":
                raise BadRequest(f"{path} takes POST requests with a JSON body", status=405)
            if path != self._v1_path and path != self._v2_path and not self._is_versioned_v2(path):
                raise BadRequest(
                    f"no model named in {path} is served here; this server serves '{self.model.name}'",
                    status=404,
                )
            body = await self._read_body(scope, receive)
            try:
                request = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"request body is not valid JSON ({exc}); send a JSON object") from None
            request_id = _request_id(request, request_id)
            served = split.route(request_id)
            model = served.model
            if not model.ready:
                raise BadRequest(self._unloaded_message(), status=503)
            wanted = [PREDICT]
            if protocol == "v1":
                columns, rows = decode_v1(request, model.columns)
            else:
                columns, rows = decode_v2(request, model.columns)
                wanted = requested_outputs(request, model.output_names)
            if PREDICT_PROBA in wanted:
                answered = await served.probability_batcher.submit(columns, rows)
                outputs = answered[PREDICT]
                tensors = {PREDICT: outputs, PREDICT_PROBA: answered[PREDICT_PROBA]}
            else:
                outputs = await served.batcher.submit(columns, rows)
                tensors = {PREDICT: outputs}
        except BadRequest as exc:
            await self._refuse(send, protocol, exc.status, exc.message, started, split, served, request_id)
            return
        except Exception as exc:
            message = f"prediction failed: {type(exc).__name__}: {exc}"
            await self._refuse(send, protocol, 500, message, started, split, served, request_id)
            return
        answer: dict[str, Any]
        if protocol == "v1":
            answer = {"predictions": outputs}
        else:
            answer = {
                "model_name": model.name,
                "model_version": model.version,
                "id": request_id,
                "parameters": {},
                "outputs": [
                    {
                        "name": name,
                        "shape": list(tensors[name].shape),
                        "datatype": _v2_datatype(tensors[name]),
                        "data": tensors[name].reshape(-1),
                    }
                    for name in wanted
                ],
            }
        await _send_json(send, 200, answer, _answer_headers(request_id, served))
        seconds = time.perf_counter() - started
        self.metrics.observe_success(protocol, seconds, rows, served.variant, model.version)
        self.metrics.observe_predictions(outputs, served.variant)
        if self.request_log is not None:
            fields = _log_fields(served, 200, seconds)
            self.request_log.offer(protocol, columns, outputs, time.time(), request_id, fields)

    async def _refuse(
        self,
        send: Send,
        protocol: str,
        status: int,
        message: str,
        started: float,
        split: TrafficSplit,
        served: ServedVariant | None,
        request_id: str | None,
    ) -> None:
        """Answer a request that failed; it counts against the variant its id is routed to."""
        request_id = request_id or uuid.uuid4().hex
        served = served or split.route(request_id)
        await _send_json(send, status, {"error": message}, _answer_headers(request_id, served))
        seconds = time.perf_counter() - started
        self.metrics.observe_error(protocol, status, seconds, served.variant, served.model.version)
        if self.request_log is not None:
            fields = _log_fields(served, status, seconds)
            self.request_log.offer(protocol, {}, _NO_OUTPUTS, time.time(), request_id, fields)

    def _unloaded_message(self) -> str:
        return (
            f"model '{self.model.name}' is unloaded; load it again with "
            f"POST {MODEL_CONTROL_PREFIX}/{self.model.name}/load, or restart the server ('iml4e up')"
        )

    def _is_versioned_v2(self, path: str) -> bool:
        prefix = f"/v2/models/{self.model.name}/versions/"
        return (
            path.startswith(prefix)
            and path.endswith("/infer")
            and "/" not in path[len(prefix) : -len("/infer")]
        )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_bytes
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit():
                    raise BadRequest("the Content-Length header is not a number")
                if int(value) > limit:
                    raise BadRequest(_too_large(limit), status=413)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadRequest("the client disconnected before sending the whole body", status=400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BadRequest(_too_large(limit), status=413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if not body:
            raise BadRequest("the request body is empty; send a JSON object")
        return body

    async def _metrics(self, send: Send) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        payload = generate_latest(self.metrics.registry)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE_LATEST.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def served_variant(environ: Mapping[str, str]) -> str:
    """The variant named by `SERVING_VARIANT_ENV` (primary when unset); anything else is refused."""
    variant = environ.get(SERVING_VARIANT_ENV, "").strip() or PRIMARY
    if variant not in VARIANTS:
        raise ComponentError(
            f"{SERVING_VARIANT_ENV}={variant!r} is not a variant; use one of {', '.join(VARIANTS)}"
        )
    return variant


def foreign_host(headers: list[tuple[bytes, bytes]], allowed: frozenset[str]) -> str | None:
    """Why a request is refused when its Host (or its browser's Origin) names a host that is not in
    `allowed` (lowercase names without port, such as `localhost`, `127.0.0.1`, `::1`); None when it
    may be answered. This refuses DNS-rebinding (a page whose name now points at 127.0.0.1) and
    cross-origin browser requests, which carry the other site's Origin."""
    host: bytes | None = None
    origin: bytes | None = None
    for key, value in headers:
        if key == b"host":
            host = value
        elif key == b"origin":
            origin = value
    if host is None or _host_name("//" + host.decode("latin-1")) not in allowed:
        shown = "no Host header" if host is None else f"Host '{host.decode('latin-1')[:100]}'"
        return f"{shown} is not served here; address the server as {' or '.join(sorted(allowed))}"
    if origin is not None and _host_name(origin.decode("latin-1")) not in allowed:
        return f"cross-origin requests from '{origin.decode('latin-1')[:100]}' are refused"
    return None


def _host_name(address: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(address).hostname
    except ValueError:
        return None


def _inference_protocol(path: str) -> str | None:
    if path.startswith("/v1/models/") and path.endswith(":predict"):
        return "v1"
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return "v2"
    return None


def requested_outputs(request: dict[str, Any], available: list[str]) -> list[str]:
    """The output tensors a V2 request asks for (`outputs: [{"name": ...}]`), in the order asked; all
    the model's outputs when it names none, as the Open Inference Protocol says."""
    asked = request.get("outputs")
    if asked is None:
        return list(available)
    if not isinstance(asked, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in asked
    ):
        raise BadRequest(
            '"outputs" must be a list of objects with a "name", e.g. [{"name": "predict_proba"}]'
        )
    names = list(dict.fromkeys(item["name"] for item in asked))
    unknown = [name for name in names if name not in available]
    if unknown:
        raise BadRequest(
            f"the model has no output named '{unknown[0]}'; its outputs are: {', '.join(available)}"
        )
    return names or list(available)


def _usable_id(given: object) -> bool:
    return isinstance(given, str) and 0 < len(given) <= MAX_REQUEST_ID_CHARS and given.isprintable()


def _request_id(request: object, header_id: str | None = None) -> str:
    """The V2 request's own id when it gives a usable one, else the client's `x-request-id` header,
    else a random one."""
    given = request.get("id") if isinstance(request, dict) else None
    if _usable_id(given):
        return str(given)
    return header_id or uuid.uuid4().hex


def _header_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's `x-request-id` header when it is a usable id (it then picks the variant)."""
    for key, value in headers:
        if key == REQUEST_ID_HEADER:
            given = value.decode("latin-1")
            return given if _usable_id(given) else None
    return None


def _answer_headers(request_id: str, served: ServedVariant) -> list[tuple[bytes, bytes]]:
    return [
        (REQUEST_ID_HEADER, request_id.encode("utf-8", "surrogatepass")),
        (VARIANT_HEADER, served.variant.encode()),
        (VERSION_HEADER, served.version_header),
    ]


def _log_fields(served: ServedVariant, status: int, seconds: float) -> dict[str, Any]:
    return {
        "variant": served.variant,
        "version": served.model.version,
        "status": status,
        "latency_ms": round(seconds * 1000.0, 3),
    }


def _too_large(limit: int) -> str:
    return f"request body is larger than {limit} bytes; send fewer rows per request"


def _v2_datatype(outputs: np.ndarray[Any, Any]) -> str:
    from iml4e_components.serving.validation import v2_datatype_of

    return v2_datatype_of(outputs)


async def _send_json(
    send: Send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY, default=_json_default)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *_JSON_HEADERS,
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()  # object arrays (strings) orjson cannot serialise natively
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def build_app(
    model: MLflowServedModel,
    metrics: ServingMetrics,
    request_log: BackgroundLogWriter | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allow_model_control: bool = False,
    allowed_hosts: frozenset[str] | None = None,
    canary: MLflowServedModel | None = None,
    canary_traffic: float = 0.0,
) -> InferenceFront:
    """KServe's REST app (health, metadata, errors) for `model`, behind iml4e's inference front.

    KServe's model-control endpoints (load/unload) are served only with `allow_model_control`.
    With a `canary`, the front sends `canary_traffic` percent of the requests to it (by request id);
    health, readiness and metadata stay the primary's."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from kserve import errors
    from kserve.model_repository import ModelRepository
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension
    from kserve.protocol.rest.v1_endpoints import register_v1_endpoints
    from kserve.protocol.rest.v2_endpoints import register_v2_endpoints

    class ServedModelControl(ModelRepositoryExtension):  # type: ignore[misc]  # kserve ships no type hints
        """KServe's load/unload for the primary model this server holds (only with `allow_model_control`).

        Unload takes it out of the repository (readiness and inference then answer 503); load puts
        it back, loading it again first. Any other name is the client's mistake (404), not a server
        failure (KServe's 503, which would count against the 5xx alert)."""

        async def load(self, model_name: str) -> None:
            primary = front.primary
            if model_name != primary.name:
                raise errors.ModelNotFound(model_name)
            if not primary.ready:
                await asyncio.to_thread(primary.load)
            self._model_registry.update(primary)

        async def unload(self, model_name: str) -> None:
            await super().unload(model_name)
            front.primary.ready = False

    class ServedModelDataPlane(DataPlane):  # type: ignore[misc]  # kserve ships no type hints
        """Server readiness is the served model's readiness (KServe's own is always true, even after
        the model was unloaded)."""

        async def ready(self) -> bool:
            primary = front.primary
            return repository.get_model(primary.name) is primary and bool(primary.ready)

    async def not_available(_: object, exc: NotImplementedError) -> JSONResponse:
        # KServe raises NotImplementedError for what this server does not offer (e.g. :explain without
        # an explainer): a 4xx for the client, not KServe's 501.
        return JSONResponse(
            status_code=404,
            content={
                "error": f"not available on this server ({exc}); model '{model.name}' answers predict/infer"
            },
        )

    repository = ModelRepository(models_dir="/nonexistent")
    repository.update(model)
    dataplane = ServedModelDataPlane(model_registry=repository)
    extension = ServedModelControl(model_registry=repository)
    app = FastAPI(title="iml4e model server", docs_url=None, redoc_url=None)
    app.add_api_route("/", dataplane.live, methods=["GET"])
    register_v1_endpoints(app, dataplane, extension)
    register_v2_endpoints(app, dataplane, extension)
    app.add_exception_handler(errors.InvalidInput, errors.invalid_input_handler)
    app.add_exception_handler(errors.InferenceError, errors.inference_error_handler)
    app.add_exception_handler(errors.ModelNotFound, errors.model_not_found_handler)
    app.add_exception_handler(errors.ModelNotReady, errors.model_not_ready_handler)
    app.add_exception_handler(NotImplementedError, not_available)
    app.add_exception_handler(errors.ServerNotLive, errors.server_not_live_handler)
    app.add_exception_handler(errors.ServerNotReady, errors.server_not_ready_handler)
    app.add_exception_handler(Exception, errors.generic_exception_handler)
    front = InferenceFront(
        model=model,
        fallback=app,
        metrics=metrics,
        request_log=request_log,
        max_body_bytes=max_body_bytes,
        allowed_hosts=allowed_hosts,
        allow_model_control=allow_model_control,
        canary=canary,
        canary_traffic=canary_traffic,
        on_primary_change=repository.update,
    )
    return front


def load_model(name: str, model_uri: str) -> MLflowServedModel:
    model = MLflowServedModel(name, model_uri)
    model.load()
    return model


class ControlWatcher:
    """Polls the rollout control file and applies each new generation to the front (a thread, so
    loading a canary never blocks a request; the split itself changes in one attribute store)."""

    def __init__(self, front: InferenceFront, path: Path, interval: float = 0.1) -> None:
        self.front = front
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._seen: tuple[int, int, int] | None = None
        self._thread = threading.Thread(target=self._run, name="rollout-control", daemon=True)

    def apply_once(self, startup: bool = False) -> None:
        """Apply the file when it changed and holds a new generation. At startup a promotion is
        not repeated: the server then starts with the promoted model as its primary."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen == self._seen:
            return
        self._seen = seen
        front = self.front
        try:
            control = read_control(self.path)
        except ComponentError as exc:
            front.split = replace(front.split, error=str(exc))
            return
        if control is None or (control.generation <= front.split.generation and not startup):
            return
        if startup and control.promote:
            control = replace(control, promote=False, canary_uri=None, canary_traffic=0.0)
        front.apply(control, lambda uri: load_model(front.model.name, uri))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.apply_once()


def serve(
    model_uri: str,
    name: str,
    port: int,
    host: str = "127.0.0.1",
    state_dir: str | None = None,
    log_sample_rate: float = 1.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allow_model_control: bool = False,
    allowed_hosts: list[str] | None = None,
    request_timeout: float | None = None,
    keep_alive_timeout: int | None = None,
    canary_uri: str | None = None,
    canary_traffic: float = 0.0,
) -> None:
    """Load the model and serve it until SIGTERM/SIGINT (one process, uvloop + httptools, no access log).

    A client must send each request whole within `request_timeout` seconds and an idle keep-alive
    connection is closed after `keep_alive_timeout` (None: `DEFAULT_REQUEST_TIMEOUT`,
    `DEFAULT_KEEP_ALIVE_TIMEOUT`). Requests must be addressed (Host, and a
    browser's Origin) to one of `allowed_hosts`; by default the loopback names when `host` is a
    loopback address, any name otherwise (inside a pod, behind the cluster's routing); `*` allows any.

    With `canary_uri`, that model answers `canary_traffic` percent of the requests. With a
    `state_dir`, the server also follows the rollout control file there
    (`iml4e_components.serving.traffic_split`), which then decides the canary and its share. A canary
    that does not load leaves the primary serving every request; `GET /iml4e/rollout` says why.

    Requests are logged to the object store when `IML4E_REQUEST_LOG_BUCKET` is set, else under
    `state_dir` when given (see `iml4e_components.serving.log_store`).
    """
    import uvicorn
    from prometheus_client import disable_created_metrics

    from iml4e_components.serving.log_store import request_log_store
    from iml4e_components.serving.request_deadline import protocol_with_request_deadline
    from iml4e_components.serving.traffic_split import control_path

    disable_created_metrics()
    model = load_model(name, model_uri)
    metrics = ServingMetrics(name)
    store = request_log_store(state_dir) if log_sample_rate > 0 else None
    request_log = store.writer(name, log_sample_rate, metrics.count_log_dropped) if store else None
    app = build_app(
        model,
        metrics,
        request_log,
        max_body_bytes,
        allow_model_control=allow_model_control,
        allowed_hosts=host_names_to_answer(host, allowed_hosts),
    )
    if canary_uri:
        app.apply(RolloutControl(0, canary_uri, canary_traffic), lambda uri: load_model(name, uri))
    watcher = ControlWatcher(app, control_path(state_dir, name)) if state_dir else None
    if watcher is not None:
        watcher.apply_once(startup=True)
        watcher.start()
    if app.split.error:
        sys.stderr.write(f"warning: the canary is not served: {app.split.error}\n")
    # MLflow, pandas and scikit-learn leave ~400,000 long-lived objects; a full garbage collection
    # walking them stalls every request in flight (measured 0.6 s here). Freeze them out of the GC.
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=protocol_with_request_deadline(request_timeout or DEFAULT_REQUEST_TIMEOUT),
        access_log=False,
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=keep_alive_timeout or DEFAULT_KEEP_ALIVE_TIMEOUT,
    )
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again against the handler
    # that was installed before it; with the default one the process would die before the log's
    # last batch is written. This handler turns it into an ordinary exit, so `finally` runs.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.Server(config).run()
    finally:
        if watcher is not None:
            watcher.stop()
        if request_log is not None:
            request_log.close(timeout=30.0)


def host_names_to_answer(host: str, allowed_hosts: list[str] | None) -> frozenset[str] | None:
    """The Host names the server answers to (None: any). See `serve`."""
    if allowed_hosts is None:
        return LOOPBACK_NAMES if host in LOOPBACK_NAMES else None
    names = {name.strip().lower().strip("[]") for name in allowed_hosts if name.strip()}
    return None if "*" in names else frozenset(names)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)
