"""A service that fails to start: one line with its reason and its log, which holds only this start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from iml4e.errors import ServiceError
from iml4e.local import processes

CRASH = "import sys; print('starting'); raise RuntimeError('port 80 needs root')"
SAYS = "import sys; print('error: cannot load model x: not found', file=sys.stderr); sys.exit(2)"


@pytest.mark.parametrize(
    ("program", "reason"),
    [(CRASH, "RuntimeError: port 80 needs root"), (SAYS, "cannot load model x: not found")],
)
def test_a_server_that_exits_is_one_line_with_its_reason_and_its_fresh_log(
    tmp_path: Path, program: str, reason: str
) -> None:
    log = tmp_path / "logs" / "serve-x.log"
    log.parent.mkdir()
    log.write_text("error: a stale line from an earlier start\n")
    processes.start_fresh_log(log)
    pid = processes.spawn([sys.executable, "-c", program], log)
    with pytest.raises(ServiceError) as failed:
        processes.wait_http_ok("http://127.0.0.1:9/", 60, pid, log, "serve:x")
    assert str(failed.value) == f"serve:x exited during start-up: {reason}; read its log {log}"
    assert (
        "stale" not in log.read_text() and "stale" in (tmp_path / "logs" / "serve-x.previous.log").read_text()
    )
