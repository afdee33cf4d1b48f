"""Reads a local request log and its labels as they grow: only the lines added since the last read.

The model server appends whole lines from one thread per process; a line still being written (no
newline yet) is kept for the next read. Label files are written whole (renamed into place), so each
is read once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from iml4e_components.serving.request_log import request_log_dir


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

    def new_labels(self) -> list[tuple[str, int, str]]:
        labels: list[tuple[str, int, str]] = []
        for path in self._files("labels-*.jsonl"):
            if path in self._labels_read:
                continue
            self._labels_read.add(path)
            for record in _parsed(path.read_bytes().split(b"\n")):
                try:
                    labels.append((str(record["request_id"]), int(record["row"]), str(record["label"])))
                except (KeyError, TypeError, ValueError):
                    continue
        return labels

    def _files(self, pattern: str) -> list[Path]:
        directory = self.directory
        return sorted(directory.glob(pattern)) if os.path.isdir(directory) else []


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
