"""Where served requests and their late labels are kept: local files, or the platform's object store.

`request_log_store` chooses from configuration, never from code paths in callers:
`IML4E_REQUEST_LOG_BUCKET` set -> the object store (the cluster's SeaweedFS, or any S3 service;
endpoint and credentials as in `iml4e_components.object_store`), else files under the state
directory. Both keep the same JSON lines (`iml4e_components.serving.request_log`).

Object store layout, under `IML4E_REQUEST_LOG_PREFIX` (default `request-logs`):
`<prefix>/<model>/<YYYY-MM-DD>/requests-<UTC stamp>-<host>-<pid>-<seq>.jsonl`, one object per
uploaded batch, dated by upload time (never earlier than the requests in it), and
`<prefix>/<model>/labels/labels-<UTC stamp>-<random>.jsonl` for labels. Local layout:
`<state>/serving/<model>/requests-*.jsonl` and `<state>/serving/<model>/labels-*.jsonl`.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iml4e_components.errors import ComponentError
from iml4e_components.output_files import write_atomically
from iml4e_components.serving.request_log import (
    BackgroundLogWriter,
    RequestLogWriter,
    assemble_log,
    log_line_frames,
    read_request_log,
    request_log_dir,
)

BUCKET_ENV = "IML4E_REQUEST_LOG_BUCKET"
PREFIX_ENV = "IML4E_REQUEST_LOG_PREFIX"
DEFAULT_PREFIX = "request-logs"
#: An object store batch is uploaded when it holds this many requests ...
UPLOAD_BATCH_RECORDS = 5_000
#: ... or when its first request has waited this long (seconds).
UPLOAD_INTERVAL_SECONDS = 30.0


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass(frozen=True)
class LocalLogStore:
    """Request logs and labels as files under the state directory."""

    state_dir: Path

    def describe(self, model: str) -> str:
        return str(request_log_dir(self.state_dir, model))

    def writer(
        self, model: str, sample_rate: float, on_drop: Callable[[int], None] | None = None
    ) -> BackgroundLogWriter:
        return RequestLogWriter(self.state_dir, model, sample_rate, on_drop=on_drop)

    def read_requests(self, model: str, since: float | None = None, now: float | None = None) -> pd.DataFrame:
        return read_request_log(self.state_dir, model, since=since)

    def add_labels(self, model: str, data: bytes) -> str:
        """Store label lines as a new file (written to a temporary name, then renamed)."""
        target = request_log_dir(self.state_dir, model) / f"labels-{_stamp()}-{uuid.uuid4().hex[:8]}.jsonl"
        return str(write_atomically(target, lambda tmp: tmp.write_bytes(data), "labels", create_parent=True))

    def label_lines(self, model: str) -> Iterator[bytes]:
        directory = request_log_dir(self.state_dir, model)
        for file in sorted(directory.glob("labels-*.jsonl")) if directory.is_dir() else []:
            with open(file, "rb") as handle:
                yield from handle


class ObjectStoreLogWriter(BackgroundLogWriter):
    """Uploads sampled requests in batches (one object per batch) from the background thread."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        model: str,
        sample_rate: float = 1.0,
        max_pending: int = 10_000,
        seed: int | None = None,
        batch_records: int = UPLOAD_BATCH_RECORDS,
        flush_seconds: float = UPLOAD_INTERVAL_SECONDS,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix
        self._origin = f"{socket.gethostname()}-{os.getpid()}"
        self._sequence = itertools.count()
        super().__init__(model, sample_rate, max_pending, seed, batch_records, flush_seconds, on_drop=on_drop)

    def _write(self, data: bytes, count: int) -> None:
        now = dt.datetime.now(dt.UTC)
        key = (
            f"{self._prefix}/{self.model}/{now:%Y-%m-%d}/"
            f"requests-{now:%Y%m%dT%H%M%S}Z-{self._origin}-{next(self._sequence):06d}.jsonl"
        )
        self._client.put_object(
            self._bucket, key, io.BytesIO(data), len(data), content_type="application/x-ndjson"
        )


@dataclass(frozen=True)
class ObjectStoreLogStore:
    """Request logs and labels as objects in a bucket of the platform's object store."""

    client: Any
    bucket: str
    prefix: str = DEFAULT_PREFIX

    def describe(self, model: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{model}/"

    def writer(
        self, model: str, sample_rate: float, on_drop: Callable[[int], None] | None = None
    ) -> BackgroundLogWriter:
        return ObjectStoreLogWriter(
            self.client, self.bucket, self.prefix, model, sample_rate, on_drop=on_drop
        )

    def read_requests(self, model: str, since: float | None = None, now: float | None = None) -> pd.DataFrame:
        """The logged rows of `model` served at or after `since` (only that window's day folders are listed)."""
        keys = self.request_keys(model, since, now)
        if not keys:
            raise ComponentError(
                f"no request log for model '{model}' under {self.describe(model)}"
                + ("" if since is None else " in the window")
                + "; send requests to the served model first, or widen --window"
            )
        chunks: list[pd.DataFrame] = []
        for key in keys:
            chunks.extend(log_line_frames(self._read(key).splitlines(), since))
        return assemble_log(chunks, model)

    def add_labels(self, model: str, data: bytes) -> str:
        key = f"{self.prefix}/{model}/labels/labels-{_stamp()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._call(
            "write labels to",
            lambda: self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type="application/x-ndjson"
            ),
        )
        return f"s3://{self.bucket}/{key}"

    def label_lines(self, model: str) -> Iterator[bytes]:
        for key in self.label_keys(model):
            yield from self._read(key).splitlines()

    def request_keys(self, model: str, since: float | None = None, now: float | None = None) -> list[str]:
        """The request-log objects of `model` uploaded from the day of `since` on, oldest first."""
        keys = [key for day in self._day_prefixes(model, since, now) for key in self._keys(day)]
        return sorted(key for key in keys if "/requests-" in key)

    def label_keys(self, model: str) -> list[str]:
        """The label objects of `model`, oldest first."""
        return sorted(self._keys(f"{self.prefix}/{model}/labels/"))

    def read_object(self, key: str) -> bytes:
        """The content of one request-log or label object (each is uploaded whole)."""
        return self._read(key)

    def _day_prefixes(self, model: str, since: float | None, now: float | None) -> Sequence[str]:
        base = f"{self.prefix}/{model}/"
        if since is None:
            return [base]
        first = dt.datetime.fromtimestamp(since, dt.UTC).date()
        last = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC).date()
        days = (last - first).days
        return [f"{base}{first + dt.timedelta(days=offset):%Y-%m-%d}/" for offset in range(days + 1)]

    def _keys(self, prefix: str) -> list[str]:
        objects = self._call(
            "list",
            lambda: list(self.client.list_objects(self.bucket, prefix=prefix, recursive=True)),
        )
        return [str(item.object_name) for item in objects]

    def _read(self, key: str) -> bytes:
        def get() -> bytes:
            response = self.client.get_object(self.bucket, key)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        data: bytes = self._call("read", get)
        return data

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        try:
            return action()
        except S3Error as exc:
            raise ComponentError(
                f"cannot {what} s3://{self.bucket}/{self.prefix}: {exc.code} ({exc.message}); "
                f"check {BUCKET_ENV} and the object store credentials"
            ) from exc
        except HTTPError as exc:
            raise ComponentError(
                f"cannot {what} s3://{self.bucket}/{self.prefix}: the object store did not answer ({exc}); "
                "check AWS_ENDPOINT_URL"
            ) from exc


LogStore = LocalLogStore | ObjectStoreLogStore


def request_log_store(state_dir: str | Path | None) -> LogStore | None:
    """The object store when `IML4E_REQUEST_LOG_BUCKET` is set, else the state directory (None if neither)."""
    bucket = os.environ.get(BUCKET_ENV, "").strip()
    if bucket:
        from iml4e_components.object_store import client_from_env

        prefix = os.environ.get(PREFIX_ENV, "").strip().strip("/") or DEFAULT_PREFIX
        return ObjectStoreLogStore(
            client_from_env(f"the request log ({BUCKET_ENV}={bucket})"), bucket, prefix
        )
    if state_dir:
        return LocalLogStore(Path(state_dir))
    return None
