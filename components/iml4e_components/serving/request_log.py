"""The served-request log: sampled inputs and outputs as JSON lines the drift monitor reads.

Layout: `<state>/serving/<model>/requests-<YYYYMMDD>-<pid>.jsonl`, one JSON object per request:
`{"ts": seconds, "model": name, "protocol": "v1"|"v2", "id": request id, "inputs": {column: [values]},
"outputs": [values], "variant": "primary"|"canary", "version": model version, "status": HTTP status,
"latency_ms": milliseconds}`. Failed requests are logged too (status 4xx/5xx, no inputs or outputs), so
a canary analysis can count them per variant; readers of the inputs skip them. On a cluster the same lines go to the object store instead
(`iml4e_components.serving.object_store_log`).

Each server process appends to its own file from one background thread, so concurrent servers
never interleave lines and a request never waits for the disk: `offer` only samples and puts the
record on a bounded queue (dropping, and counting, when the disk falls behind). A crash can leave
a truncated last line; the reader skips it.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from iml4e_components.errors import ComponentError
from iml4e_components.output_files import open_private_append

#: Column the reader adds: when the request was served (UTC).
REQUEST_TIME_COLUMN = "request_time"
#: Column the reader adds: the model's output for the row.
PREDICTION_COLUMN = "prediction"
#: Column the reader adds: the id the server answered the request with (labels refer to it).
REQUEST_ID_COLUMN = "request_id"
#: Column the reader adds: the row's position within its request (0 for single-row requests).
REQUEST_ROW_COLUMN = "request_row"
#: Columns the reader adds to the logged inputs.
LOG_COLUMNS = (PREDICTION_COLUMN, REQUEST_TIME_COLUMN, REQUEST_ID_COLUMN, REQUEST_ROW_COLUMN)
_STOP = object()


def request_log_dir(state_dir: str | Path, model: str) -> Path:
    return Path(state_dir) / "serving" / model


class BackgroundLogWriter:
    """Samples requests and hands them, encoded as JSON lines, to `_write` on a background thread.

    `offer` never blocks: when the bounded queue is full the record is dropped and counted
    (`dropped`, and `on_drop` with the number dropped, e.g. a Prometheus counter). Lines are
    written in batches of at most `batch_records`; with `flush_seconds` > 0 a batch also waits
    up to that long for more records, so a slow sink (an object store) gets few, larger writes.
    """

    def __init__(
        self,
        model: str,
        sample_rate: float = 1.0,
        max_pending: int = 10_000,
        seed: int | None = None,
        batch_records: int = 512,
        flush_seconds: float = 0.0,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ComponentError(f"request log sample rate must be between 0 and 1, got {sample_rate}")
        self.model = model
        self.sample_rate = sample_rate
        self.dropped = 0
        self.written = 0
        self._batch_records = batch_records
        self._flush_seconds = flush_seconds
        self._on_drop = on_drop
        self._random = random.Random(seed)  # nosec B311  # request sampling, not security
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name=f"request-log-{model}", daemon=True)
        self._thread.start()

    def offer(
        self,
        protocol: str,
        inputs: Mapping[str, np.ndarray[Any, Any]],
        outputs: np.ndarray[Any, Any],
        ts: float,
        request_id: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> bool:
        """Log this request if sampled; returns whether it was queued. `fields` are added to the
        record as they are (variant, version, status, latency_ms)."""
        if self.sample_rate < 1.0 and self._random.random() >= self.sample_rate:
            return False
        try:
            self._queue.put_nowait((ts, protocol, inputs, outputs, request_id, fields))
        except queue.Full:
            self._count_dropped(1)
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything queued so far is written (for tests and shutdown)."""
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return
        done.wait(timeout)

    def _write(self, data: bytes, count: int) -> None:
        """Store `count` encoded lines; raise OSError (or the sink's error) when that fails."""
        raise NotImplementedError

    def _count_dropped(self, count: int) -> None:
        self.dropped += count
        if self._on_drop is not None:
            self._on_drop(count)

    def _run(self) -> None:
        lines: list[bytes] = []
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None  # the batch waited long enough
            if item is None or item is _STOP or isinstance(item, threading.Event):
                if lines:
                    self._write_batch(lines)
                    lines, deadline = [], None
                if isinstance(item, threading.Event):
                    item.set()
                if item is _STOP:
                    return
                continue
            lines.append(self._encode(*item))
            if deadline is None:
                deadline = time.monotonic() + self._flush_seconds
            if len(lines) >= self._batch_records:
                self._write_batch(lines)
                lines, deadline = [], None

    def _write_batch(self, lines: list[bytes]) -> None:
        try:
            self._write(b"".join(lines), len(lines))
        except Exception:  # a full disk or an unreachable store must not take the server down
            self._count_dropped(len(lines))
            return
        self.written += len(lines)

    def _encode(
        self,
        ts: float,
        protocol: str,
        inputs: Mapping[str, np.ndarray[Any, Any]],
        outputs: np.ndarray[Any, Any],
        request_id: str | None,
        fields: Mapping[str, Any] | None,
    ) -> bytes:
        record = {
            "ts": ts,
            "model": self.model,
            "protocol": protocol,
            "id": request_id,
            "inputs": {name: np.asarray(values).tolist() for name, values in inputs.items()},
            "outputs": np.asarray(outputs).tolist(),
            **(fields or {}),
        }
        return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


class RequestLogWriter(BackgroundLogWriter):
    """Appends sampled requests to this process's file under the state directory."""

    def __init__(
        self,
        state_dir: str | Path,
        model: str,
        sample_rate: float = 1.0,
        max_pending: int = 10_000,
        seed: int | None = None,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.directory = request_log_dir(state_dir, model)
        super().__init__(model, sample_rate, max_pending, seed, on_drop=on_drop)

    def _write(self, data: bytes, count: int) -> None:
        day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
        fd = open_private_append(self.directory / f"requests-{day}-{os.getpid()}.jsonl")
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def read_request_log(
    state_dir: str | Path, model: str, since: float | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The logged inputs of `model`, one row per served row, with the columns in `LOG_COLUMNS`.

    `since` (seconds since the epoch) keeps only requests served at or after it. Lines that do
    not parse (a truncated last line after a crash) are skipped.
    """
    directory = request_log_dir(state_dir, model)
    files = sorted(directory.glob("requests-*.jsonl")) if directory.is_dir() else []
    if not files:
        raise ComponentError(
            f"no request log for model '{model}' under {directory}; serve it with 'iml4e serve' and send requests first"
        )
    chunks: list[pd.DataFrame] = []
    for file in files:
        with open(file, "rb") as handle:
            chunks.extend(log_line_frames(handle, since))
    return assemble_log(chunks, model, columns)


def log_line_frames(lines: Iterable[bytes], since: float | None = None) -> list[pd.DataFrame]:
    """One frame per logged request in `lines` served at or after `since`; unparsable lines skipped."""
    frames: list[pd.DataFrame] = []
    for line in lines:
        try:
            record = orjson.loads(line)
            ts = float(record["ts"])
            if (since is not None and ts < since) or record.get("status", 200) != 200:
                continue
            frame = pd.DataFrame(record["inputs"])
            outputs = record.get("outputs")
            if isinstance(outputs, list) and len(outputs) == len(frame):
                frame[PREDICTION_COLUMN] = outputs
            frame[REQUEST_TIME_COLUMN] = ts
            request_id = record.get("id")
            if isinstance(request_id, str) and request_id:
                frame[REQUEST_ID_COLUMN] = request_id
                frame[REQUEST_ROW_COLUMN] = range(len(frame))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        frames.append(frame)
    return frames


def assemble_log(
    chunks: list[pd.DataFrame], model: str, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The per-request frames as one table ordered by time, optionally narrowed to `columns`."""
    if not chunks:
        return pd.DataFrame(columns=[*(columns or []), PREDICTION_COLUMN, REQUEST_TIME_COLUMN])
    logged = pd.concat(chunks, ignore_index=True)
    logged[REQUEST_TIME_COLUMN] = pd.to_datetime(logged[REQUEST_TIME_COLUMN], unit="s", utc=True)
    logged = logged.sort_values(REQUEST_TIME_COLUMN, kind="stable").reset_index(drop=True)
    if columns is not None:
        absent = [c for c in columns if c not in logged.columns]
        if absent:
            raise ComponentError(
                f"the request log of '{model}' lacks columns {absent}; is it the same model?"
            )
        keep = [*columns, *(c for c in LOG_COLUMNS if c in logged.columns)]
        logged = logged[keep]
    return logged
