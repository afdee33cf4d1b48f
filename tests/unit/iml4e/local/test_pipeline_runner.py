"""What one pipeline run leaves behind in the process that ran it."""

from __future__ import annotations

import builtins
import io
import logging
import sys
import threading
from pathlib import Path

import pytest

from iml4e.local.pipeline_runner import _captured, _run_environment


def _interleaved_iterations() -> None:
    """Two ParallelFor iterations as kfp.local runs them: each thread swaps the root logger's
    handlers in `local_logger_context` (and `print` in `indented_print`) and restores them, here in
    the order A in, B in, A out, B out."""
    from kfp.local import logging_utils

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a() -> None:
        with logging_utils.local_logger_context(), logging_utils.indented_print():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b() -> None:
        a_in.wait(10)
        with logging_utils.local_logger_context(), logging_utils.indented_print():
            b_in.set()
            a_out.wait(10)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


def test_a_run_puts_back_the_root_logger_and_print_that_parallel_iterations_left_changed(
    tmp_path: Path,
) -> None:
    root = logging.getLogger()
    before = root.level, root.handlers[:], builtins.print
    with _run_environment({"IML4E_TEST_MARK": "1"}, tmp_path / "pipelines"):
        _interleaved_iterations()
        # kfp.local's own restores interleaved: A's handler is left on a root logger at INFO, and
        # A's indenting print in place of print.
        assert root.level == logging.INFO and root.handlers != before[1]
        assert builtins.print is not before[2]
    assert (root.level, root.handlers, builtins.print) == before


def test_a_stream_taken_during_the_run_writes_to_the_terminal_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library that sets up logging while task output is captured keeps the captured stream; after
    the run its records reach the stream the output was taken from, not the closed run log."""
    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    lines: list[str] = []
    with _captured(tmp_path / "run.log", lines.append):
        handler = logging.StreamHandler(sys.stderr)
        sys.stdout.write("task output\n")
    handler.emit(logging.makeLogRecord({"msg": "a library's record after the run"}))
    assert lines == ["task output"]
    assert (tmp_path / "run.log").read_text() == "task output\n"
    assert terminal.getvalue() == "a library's record after the run\n"
    terminal.close()
    handler.emit(logging.makeLogRecord({"msg": "the terminal is gone"}))  # dropped, no error
