"""Reads a request log and its labels as they grow: only what was added since the last read.

Two sources with one interface (`RequestSource`), read by the canary watch
(`iml4e_components.rollout.canary_watch`): `LogTail`, the local files under the state directory, and
`ObjectStoreTail`, the objects the cluster's model servers upload (`serving.log_store`).

Locally the model server appends whole lines from one thread per process; a line still being written
(no newline yet) is kept for the next read. Label files, and every object in the store, are written
whole (renamed into place, or uploaded in one request), so each is read once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from iml4e_components.serving.request_log import request_log_dir

if TYPE_CHECKING:
    from iml4e_components.serving.log_store import ObjectStoreLogStore

#: A late label: (request id, row within the request, label).
Label = tuple[str, int, str]


class RequestSource(Protocol):
    """Where the canary watch reads served requests and their labels from."""

    def skip_existing(self) -> None:
        """Start from now: what is stored already is not read."""

    def new_records(self) -> list[dict[str, Any]]:
        """The request-log records stored since the last read."""

    def new_labels(self) -> list[Label]:
        """The labels stored since the last read."""


@dataclass
class LogTail:
    """New request records and labels of one served model under a state directory."""

    state_dir: Path
    model: str
    _offsets: dict[Path, int] = field(default_factory=dict)
    _partial: dict[Path, bytes] = field(default_factory=dict)
    _labels_read: set[Path] = field(default_factory=set)

    @property
    def directory(self) -> Path:
        return request_log_dir(self.state_dir, self.model)

    def skip_existing(self) -> None:
        """Start from now: what the log and the label files hold already is not read."""
        for path in self._files("requests-*.jsonl"):
            self._offsets[path] = path.stat().st_size
        self._labels_read.update(self._files("labels-*.jsonl"))

    def new_records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for path in self._files("requests-*.jsonl"):
            offset = self._offsets.get(path, 0)
            size = path.stat().st_size
            if size <= offset:
                continue
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = self._partial.pop(path, b"") + handle.read(size - offset)
            self._offsets[path] = size
            complete, _, rest = data.rpartition(b"\n")
            if rest:
                self._partial[path] = rest
            records.extend(_parsed(complete.split(b"\n")))
        return records

    def new_labels(self) -> list[Label]:
        labels: list[Label] = []
        for path in self._files("labels-*.jsonl"):
            if path not in self._labels_read:
                self._labels_read.add(path)
                labels.extend(_labels(path.read_bytes().split(b"\n")))
        return labels

    def _files(self, pattern: str) -> list[Path]:
        directory = self.directory
        return sorted(directory.glob(pattern)) if os.path.isdir(directory) else []


@dataclass
class ObjectStoreTail:
    """New request records and labels of one served model in the object store: the objects uploaded
    since the last read (request logs from the day of `started` on; each object is read once)."""

    store: ObjectStoreLogStore
    model: str
    started: float = field(default_factory=time.time)
    _read: set[str] = field(default_factory=set)

    def skip_existing(self) -> None:
        self._read.update(self.store.request_keys(self.model, self.started))
        self._read.update(self.store.label_keys(self.model))

    def new_records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for key in self._unread(self.store.request_keys(self.model, self.started)):
            records.extend(_parsed(self.store.read_object(key).split(b"\n")))
        return records

    def new_labels(self) -> list[Label]:
        labels: list[Label] = []
        for key in self._unread(self.store.label_keys(self.model)):
            labels.extend(_labels(self.store.read_object(key).split(b"\n")))
        return labels

    def _unread(self, keys: Iterable[str]) -> list[str]:
        unread = [key for key in keys if key not in self._read]
        self._read.update(unread)
        return unread


def _labels(lines: list[bytes]) -> Iterator[Label]:
    for record in _parsed(lines):
        try:
            yield str(record["request_id"]), int(record["row"]), str(record["label"])
        except (KeyError, TypeError, ValueError):
            continue


def _parsed(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line:
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            yield record
