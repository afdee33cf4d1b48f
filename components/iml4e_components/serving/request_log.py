"""The served-request log: sampled inputs and outputs as JSON lines the drift monitor reads.

Layout: `<state>/serving/<model>/requests-<YYYYMMDD>-<pid>.jsonl`, one JSON object per request:
`{"ts": seconds, "model": name, "protocol": "v1"|"v2", "inputs": {column: [values]}, "outputs": [values]}`.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from iml4e_components.errors import ComponentError

#: Column the reader adds: when the request was served (UTC).
REQUEST_TIME_COLUMN = "request_time"
#: Column the reader adds: the model's output for the row.
PREDICTION_COLUMN = "prediction"
_STOP = object()


def request_log_dir(state_dir: str | Path, model: str) -> Path:
    return Path(state_dir) / "serving" / model


class RequestLogWriter:
    """Samples requests and appends them from a background thread; never blocks the caller."""

    def __init__(
        self,
        state_dir: str | Path,
        model: str,
        sample_rate: float = 1.0,
        max_pending: int = 10_000,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ComponentError(f"request log sample rate must be between 0 and 1, got {sample_rate}")
        self.directory = request_log_dir(state_dir, model)
        self.model = model
        self.sample_rate = sample_rate
        self.dropped = 0
        self.written = 0
        self._random = random.Random(seed)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name=f"request-log-{model}", daemon=True)
        self._thread.start()

    def offer(
        self,
        protocol: str,
        inputs: Mapping[str, np.ndarray[Any, Any]],
        outputs: np.ndarray[Any, Any],
        ts: float,
    ) -> bool:
        """Log this request if sampled; returns whether it was queued."""
        if self.sample_rate < 1.0 and self._random.random() >= self.sample_rate:
            return False
        try:
            self._queue.put_nowait((ts, protocol, inputs, outputs))
        except queue.Full:
            self.dropped += 1
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
        """Wait until everything queued so far is on disk (for tests and shutdown)."""
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return
        done.wait(timeout)

    def _run(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            items = [self._queue.get()]
            while len(items) < 512:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lines: list[bytes] = []
            events: list[threading.Event] = []
            stop = False
            for item in items:
                if item is _STOP:
                    stop = True
                elif isinstance(item, threading.Event):
                    events.append(item)
                else:
                    lines.append(self._encode(*item))
            if lines:
                self._append(b"".join(lines))
                self.written += len(lines)
            for event in events:
                event.set()
            if stop:
                return

    def _encode(
        self,
        ts: float,
        protocol: str,
        inputs: Mapping[str, np.ndarray[Any, Any]],
        outputs: np.ndarray[Any, Any],
    ) -> bytes:
        record = {
            "ts": ts,
            "model": self.model,
            "protocol": protocol,
            "inputs": {name: np.asarray(values).tolist() for name, values in inputs.items()},
            "outputs": np.asarray(outputs).tolist(),
        }
        return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"

    def _append(self, data: bytes) -> None:
        day = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
        path = self.directory / f"requests-{day}-{os.getpid()}.jsonl"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError:
            self.dropped += data.count(b"\n")  # a full disk must not take the server down


def read_request_log(
    state_dir: str | Path, model: str, since: float | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The logged inputs of `model`, one row per served row, with `request_time` and `prediction`.

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
            for line in handle:
                try:
                    record = orjson.loads(line)
                    ts = float(record["ts"])
                    if since is not None and ts < since:
                        continue
                    frame = pd.DataFrame(record["inputs"])
                    outputs = record.get("outputs")
                    if isinstance(outputs, list) and len(outputs) == len(frame):
                        frame[PREDICTION_COLUMN] = outputs
                    frame[REQUEST_TIME_COLUMN] = ts
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
                chunks.append(frame)
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
        keep = [*columns, *(c for c in (PREDICTION_COLUMN, REQUEST_TIME_COLUMN) if c in logged.columns)]
        logged = logged[keep]
    return logged
