"""Steady load on a served model from a background thread: `concurrency` clients, one-row V2 requests
with their own ids, each answer's status and variant recorded (for the canary tests and benchmark)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

V2_TYPES = {"age": "INT64", "region": "BYTES", "contract": "BYTES", "tenure_months": "INT64"}
V2_TYPES |= {"monthly_charges": "FP64", "support_calls": "INT64"}


def v2_body(request_id: str, row: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "id": request_id,
            "inputs": [
                {"name": c, "shape": [1], "datatype": t, "data": [row[c]]} for c, t in V2_TYPES.items()
            ],
        }
    )


@dataclass(frozen=True)
class Answer:
    request_id: str
    row: int
    status: int
    variant: str
    at: float  # time.time() when the answer arrived


@dataclass
class SteadyLoad:
    """Sends requests to `url` (the V2 infer route) until stopped; `answers` grows as they come."""

    url: str
    data: pd.DataFrame
    concurrency: int = 8
    prefix: str = "load"
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # transport errors (no HTTP answer)

    def __post_init__(self) -> None:
        self._records: list[dict[str, Any]] = orjson.loads(self.data.to_json(orient="records"))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._counter = itertools.count()

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def wait_for(self, answers: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answers) < answers and time.monotonic() < deadline:
            time.sleep(0.05)

    def statuses(self, since: float = 0.0) -> dict[int, int]:
        counts: dict[int, int] = {}
        for answer in self.answers:
            if answer.at >= since:
                counts[answer.status] = counts.get(answer.status, 0) + 1
        return counts

    async def _run(self) -> None:
        import httpx

        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
            try:
                await asyncio.gather(*(self._client(client) for _ in range(self.concurrency)))
            except Exception as exc:  # a client died: closing the pool fails the others' requests in flight
                self.failures.append(f"the load stopped: {type(exc).__name__}: {exc}")
                raise

    async def _client(self, client: Any) -> None:
        import httpx

        while not self._stop.is_set():
            number = next(self._counter)
            row = number % len(self._records)
            request_id = f"{self.prefix}-{number}"
            try:
                response = await client.post(
                    self.url,
                    content=v2_body(request_id, self._records[row]),
                    headers={"content-type": "application/json"},
                )
            except httpx.HTTPError as exc:
                cause = exc.__cause__ or exc.__context__
                self.failures.append(f"{type(exc).__name__}: {exc} (cause: {cause!r}) at {time.time():.3f}")
                continue
            variant = response.headers.get("x-iml4e-variant", "")
            self.answers.append(Answer(request_id, row, response.status_code, variant, time.time()))
