"""The local event store: concurrent appenders, torn and truncated lines, a corrupted file."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from iml4e_components.conventions import lineage_store_path
from iml4e_components.errors import ComponentError
from iml4e_components.lineage.store import append_event, read_events


def _event(n: int, writer: int = 0) -> dict[str, object]:
    # Large enough that a non-atomic append would interleave bytes between processes.
    return {"eventTime": f"2026-01-01T00:00:{n % 60:02d}Z", "writer": writer, "n": n, "pad": "x" * 5000}


def _write_many(path: str, writer: int, count: int) -> None:
    for n in range(count):
        append_event(_event(n, writer), Path(path))


def test_default_store_is_under_the_state_dir(isolated_state: Path) -> None:
    assert lineage_store_path() == isolated_state / "lineage" / "events.jsonl"


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    store = tmp_path / "events.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(str(store), w, 40)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    events = read_events(store)
    assert len(events) == 160
    for writer in range(4):
        assert [e["n"] for e in events if e["writer"] == writer] == list(range(40))


def test_truncated_last_line_is_skipped_with_a_warning_and_earlier_events_kept(tmp_path: Path) -> None:
    store = tmp_path / "events.jsonl"
    for n in range(3):
        append_event(_event(n), store)
    with open(store, "ab") as handle:
        handle.write(json.dumps(_event(3)).encode()[:40])  # a writer killed mid-line
    warnings: list[str] = []
    events = read_events(store, on_warning=warnings.append)
    assert [e["n"] for e in events] == [0, 1, 2]
    assert len(warnings) == 1 and "truncated last line" in warnings[0]


def test_append_after_a_torn_line_keeps_the_new_event_readable(tmp_path: Path) -> None:
    store = tmp_path / "events.jsonl"
    append_event(_event(0), store)
    with open(store, "ab") as handle:
        handle.write(b'{"eventTime": "2026')
    append_event(_event(1), store)
    warnings: list[str] = []
    assert [e["n"] for e in read_events(store, on_warning=warnings.append)] == [0, 1]
    assert "line(s) 2" in warnings[0]


def test_missing_store_has_no_events(tmp_path: Path) -> None:
    assert read_events(tmp_path / "none.jsonl") == []


def test_store_with_no_readable_event_is_reported_as_corrupted(tmp_path: Path) -> None:
    store = tmp_path / "events.jsonl"
    store.write_bytes(b"\x00\xff garbage\nnot json either\n")
    with pytest.raises(ComponentError, match=r"is corrupted.*bad lines: 1, 2.*move the file aside"):
        read_events(store)
