"""The request log: sampled, written off the caller's thread, read back as rows with timestamps."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.serving.request_log import (
    PREDICTION_COLUMN,
    REQUEST_TIME_COLUMN,
    RequestLogWriter,
    read_request_log,
)


def _offer(writer: RequestLogWriter, ts: float, ages: list[int]) -> bool:
    columns = {"age": np.array(ages), "region": np.array(["n"] * len(ages), dtype=object)}
    return writer.offer("v2", columns, np.array([i % 2 for i in range(len(ages))]), ts)


def test_written_requests_read_back_as_rows(tmp_path: Path) -> None:
    writer = RequestLogWriter(tmp_path, "churn")
    _offer(writer, 100.0, [30, 40])
    _offer(writer, 200.0, [50])
    writer.close()
    rows = read_request_log(tmp_path, "churn")
    assert rows["age"].tolist() == [30, 40, 50]
    assert rows[PREDICTION_COLUMN].tolist() == [0, 1, 0]
    assert rows[REQUEST_TIME_COLUMN].dt.tz is not None
    assert read_request_log(tmp_path, "churn", since=150.0)["age"].tolist() == [50]
    assert list(read_request_log(tmp_path, "churn", columns=["age"]).columns) == [
        "age",
        PREDICTION_COLUMN,
        REQUEST_TIME_COLUMN,
    ]


def test_sampling_logs_a_share(tmp_path: Path) -> None:
    writer = RequestLogWriter(tmp_path, "m", sample_rate=0.25, seed=1)
    queued = sum(_offer(writer, float(i), [i]) for i in range(400))
    writer.close()
    assert 60 < queued < 140
    assert len(read_request_log(tmp_path, "m")) == queued


def test_concurrent_writers_keep_lines_whole(tmp_path: Path) -> None:
    writers = [RequestLogWriter(tmp_path, "m") for _ in range(3)]

    def send(writer: RequestLogWriter) -> None:
        for i in range(300):
            _offer(writer, float(i), [i, i + 1])

    threads = [threading.Thread(target=send, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.close()
    assert len(read_request_log(tmp_path, "m")) == 3 * 300 * 2


def test_a_full_queue_drops_instead_of_blocking(tmp_path: Path) -> None:
    writer = RequestLogWriter(tmp_path, "m", max_pending=1)
    results = [_offer(writer, 1.0, [1]) for _ in range(2000)]
    writer.close()
    assert writer.dropped == results.count(False) > 0


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    writer = RequestLogWriter(tmp_path, "m")
    _offer(writer, 1.0, [7])
    writer.close()
    log = next((tmp_path / "serving" / "m").glob("requests-*.jsonl"))
    with open(log, "a", encoding="utf-8") as handle:
        handle.write('{"ts": 2.0, "inputs": {"age": [')
    assert read_request_log(tmp_path, "m")["age"].tolist() == [7]


def test_missing_log_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match="iml4e serve"):
        read_request_log(tmp_path, "nothing")


def test_bad_sample_rate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ComponentError, match="between 0 and 1"):
        RequestLogWriter(tmp_path, "m", sample_rate=2.0)
