"""Writing output files: check the path before any work, then write whole files or nothing.

`check_output_path` refuses, in one line naming the path and the fix, a path that is a directory, whose
directory is missing, or whose directory cannot be written (permissions or a read-only file system).
Commands call it for every output before writing the first one, so a bad second path never leaves the
first output behind.

`write_atomically` writes to a hidden temporary file in the target's directory, flushes it to disk
(fsync) and renames it over the target: readers see the old file or the new one, never half of one.
A temporary file still pending when the process gets SIGTERM is removed by the handler that
`remove_temporaries_on_sigterm` installs (the CLI installs it at start).
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from iml4e_components.errors import ComponentError

#: Files and folders under the state directory hold served inputs, labels, lineage and the MLflow
#: database: only their owner may read them.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
#: The umask of processes that write into the state directory (MLflow, the model server).
PRIVATE_UMASK = 0o077

#: Temporary files being written now; removed on SIGTERM.
_pending: set[Path] = set()
_pending_lock = threading.RLock()  # re-entrant: the SIGTERM handler may run while it is held


def check_output_path(path: str | Path, what: str = "output", *, create_parent: bool = False) -> Path:
    """`path` if a file can be written there, else a one-line `ComponentError`. With `create_parent`,
    a missing directory is created (for paths under the state directory)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ComponentError(f"{what} {target} is a directory; give a file path such as {target / 'out'}")
    _check_writable_directory(target, what, create_parent)
    return target


def check_output_directory(path: str | Path, what: str) -> Path:
    """`path` if a new directory can be written there (it must not exist or be empty; its parent is
    created when missing), else a one-line `ComponentError`."""
    target = Path(path).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ComponentError(
            f"{what} directory {target} already exists and is not empty; pass a new directory"
        )
    _check_writable_directory(target, what, create=True)
    return target


def _check_writable_directory(target: Path, what: str, create: bool) -> None:
    """The directory that will hold `target` exists (or, with `create`, is created) and is writable."""
    directory = target.parent
    if create and not directory.exists():
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ComponentError(
                f"cannot create directory {directory} for {what} {target} ({exc.strerror}); "
                "choose a writable location or fix its permissions"
            ) from None
    if not directory.is_dir():
        raise ComponentError(
            f"the directory of {what} {target} does not exist; create {directory} or choose another path"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ComponentError(
            f"cannot write {what} {target}: directory {directory} is read-only; "
            "choose a writable location or fix its permissions"
        )


def check_output_paths(*outputs: tuple[str | Path | None, str]) -> None:
    """`check_output_path` for each (path, what) whose path is given: call it before writing any."""
    for path, what in outputs:
        if path is not None:
            check_output_path(path, what)


def write_atomically(
    path: str | Path, write: Callable[[Path], object], what: str = "output", *, create_parent: bool = False
) -> Path:
    """Call `write(tmp)` on a temporary file next to `path`, fsync it, then rename it over `path`.
    A failure or SIGTERM leaves no partial or temporary file behind. Returns the target path."""
    target = check_output_path(path, what, create_parent=create_parent)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ComponentError(
            f"cannot write {what} {target} ({exc.strerror}); choose a writable location or fix its permissions"
        ) from None
    os.close(handle)
    tmp = Path(name)
    with _pending_lock:
        _pending.add(tmp)
    try:
        write(tmp)
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        with _pending_lock:
            _pending.discard(tmp)
    return target


def write_text_atomically(
    path: str | Path, text: str, what: str = "output", *, create_parent: bool = False
) -> Path:
    """`write_atomically` for UTF-8 text."""
    return write_atomically(
        path, lambda tmp: tmp.write_text(text, encoding="utf-8"), what, create_parent=create_parent
    )


def open_private_append(path: Path) -> int:
    """A file descriptor appending to `path`, created owner-only (0600, its missing folders 0700)."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)


def remove_pending_temporaries() -> None:
    """Delete the temporary files of writes in progress (called on SIGTERM)."""
    with _pending_lock:
        pending = list(_pending)
        _pending.clear()
    for tmp in pending:
        tmp.unlink(missing_ok=True)


def remove_temporaries_on_sigterm() -> None:
    """On SIGTERM, delete pending temporary files and exit with code 143 (128 + SIGTERM), running
    `finally` blocks on the way. Only the main thread can install signal handlers; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        remove_pending_temporaries()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
