"""Atomic output files: a write cut short, even by SIGTERM, leaves neither a partial file nor its
temporary file; a finished write is flushed and renamed into place."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iml4e_components.errors import ComponentError
from iml4e_components.output_files import check_output_path, write_atomically

WRITER = """
import sys, time
from pathlib import Path
from iml4e_components.output_files import remove_temporaries_on_sigterm, write_atomically

remove_temporaries_on_sigterm()
target, started = Path(sys.argv[1]), Path(sys.argv[2])

def write(tmp):
    with open(tmp, "w") as handle:
        handle.write("half of the rows\\n")
        handle.flush()
        started.write_text(str(tmp))
        time.sleep(60)  # SIGTERM arrives here
        handle.write("the other half\\n")

write_atomically(target, write)
"""


def test_sigterm_mid_write_removes_the_temporary_file(tmp_path: Path) -> None:
    target, started = tmp_path / "out" / "mask.csv", tmp_path / "started"
    target.parent.mkdir()
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(started)])
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the writer never started"
            time.sleep(0.05)
        assert Path(started.read_text()).exists()  # the temporary file is there mid-write
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        process.kill()
    assert list(target.parent.iterdir()) == []  # no mask, no hidden .mask.csv.*.tmp


def test_a_failed_write_leaves_nothing_and_a_finished_one_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    target.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(target, fail)
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"] and target.read_text() == "old"
    write_atomically(target, lambda tmp: tmp.write_text("new"))
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"] and target.read_text() == "new"


def test_unusable_output_paths_are_one_line_errors(tmp_path: Path) -> None:
    directory = tmp_path / "x"
    directory.mkdir()
    for path, message in (
        (directory, "is a directory"),
        (tmp_path / "nodir" / "x.csv", "does not exist; create"),
    ):
        with pytest.raises(ComponentError, match=message) as caught:
            check_output_path(path, "mask")
        assert "\n" not in str(caught.value) and "mask" in str(caught.value)
