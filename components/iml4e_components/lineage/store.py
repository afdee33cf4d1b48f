"""The local OpenLineage event store: one JSON event per line in `<state>/lineage/events.jsonl`.

Appends are safe against concurrent writers (an exclusive `flock` around one `write` of the whole
line, opened with O_APPEND) and against partial writes (a writer that finds the file not ending in
a newline closes the torn line first; readers skip lines that are not JSON with a warning and keep
every other event).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iml4e_components.conventions import lineage_store_path
from iml4e_components.errors import ComponentError
from iml4e_components.output_files import open_private_append

log = logging.getLogger(__name__)


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def append_event(event: dict[str, Any], path: Path | None = None) -> None:
    """Append one event as one line; concurrent appenders never interleave their bytes."""
    target = path or lineage_store_path()
    line = (json.dumps(event, separators=(",", ":"), sort_keys=True, default=str) + "\n").encode("utf-8")
    fd = open_private_append(target)
    try:
        with _locked(fd):
            size = os.fstat(fd).st_size
            if size and not _ends_with_newline(target, size):
                # A writer died mid-line: isolate the torn line so this event stays readable.
                line = b"\n" + line
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
    finally:
        os.close(fd)


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) == b"\n"


def read_events(
    path: Path | None = None, on_warning: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Every readable event in the store, in append order.

    Lines that are not JSON objects (a torn last line, a line broken by a crash) are skipped with a
    warning naming their line numbers; the events before and after them are kept. A store with no
    readable event at all but unreadable lines is reported as corrupted.
    """
    source = path or lineage_store_path()
    if not source.exists():
        return []
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ComponentError(
            f"cannot read lineage store {source}: {exc.strerror}; check its permissions"
        ) from exc
    events: list[dict[str, Any]] = []
    bad: list[int] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            bad.append(number)
            continue
        if isinstance(value, dict) and "eventTime" in value:
            events.append(value)
        else:
            bad.append(number)
    if bad and not events:
        raise ComponentError(
            f"lineage store {source} is corrupted: no line is an OpenLineage event (bad lines: "
            f"{_numbers(bad)}); move the file aside and re-run the pipeline to rebuild lineage"
        )
    if bad:
        where = (
            "truncated last line"
            if bad == [_last_line_number(raw)]
            else f"unreadable line(s) {_numbers(bad)}"
        )
        (on_warning or log.warning)(f"lineage store {source}: skipped {where}; kept {len(events)} events")
    return events


def _last_line_number(raw: bytes) -> int:
    return len(raw.rstrip(b"\n").split(b"\n"))


def _numbers(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:5]))
    return shown + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
