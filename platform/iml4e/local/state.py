"""The local platform's state file (`state.json`): services with their pids, ports and logs.

Writes are atomic (temporary file, then rename), so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iml4e.errors import StateError
from iml4e.paths import state_dir
from iml4e_components.output_files import write_text_atomically


class ServiceRecord(BaseModel):
    """One service that `iml4e up` started."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Service name, e.g. 'mlflow' or 'serve:churn-classifier'.")
    pid: int = Field(description="Process id of the service (the leader of its process group).")
    port: int = Field(description="Loopback port the service listens on.")
    host: str = Field(default="127.0.0.1", description="Address the service binds.")
    log: str = Field(description="Path of the service's log file.")
    data_dir: str = Field(default="", description="Where the service keeps its data.")
    started_at: float = Field(description="Start time, seconds since the epoch.")
    create_time: float = Field(
        default=0.0,
        description="The process's start time as the OS reports it; with `command`, it tells the "
        "recorded process from a later one that reuses the pid (0: an older record without it).",
    )
    command: list[str] = Field(default_factory=list, description="The process's exact command line.")
    service_id: str = Field(
        default="",
        description="Marker in the environment of the service's processes (IML4E_SERVICE_ID), so "
        "its children are found and stopped even after its leader died.",
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="Service-specific details.")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class PlatformState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    services: dict[str, ServiceRecord] = Field(
        default_factory=dict, description="Services started and not stopped, by name."
    )
    stopped: dict[str, ServiceRecord] = Field(
        default_factory=dict,
        description="Services that `iml4e down` stopped, kept with their ports and models so that "
        "the next `iml4e up` starts them again where they were.",
    )


def ensure_state_dir(root: Path | None = None) -> Path:
    """Create the state directory (and its standard subfolders) owner-only (0700; an older, wider
    one is narrowed) or fail with the fix."""
    from iml4e_components.output_files import PRIVATE_DIR_MODE

    root = root or state_dir()
    try:
        for sub in ("", "mlflow", "logs", "runs", "lineage", "serving"):
            (root / sub).mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        root.chmod(PRIVATE_DIR_MODE)
        probe = root / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StateError(
            f"state directory {root} is not writable ({exc.strerror}); "
            "fix its permissions or set IML4E_HOME to a writable directory"
        ) from exc
    return root


def ensure_writable_state_dir() -> Path:
    """`ensure_state_dir` for commands that only read the user's files and write under the state
    directory (`label`, `monitor`): an unwritable state directory is the user's setting to fix, exit 2."""
    from iml4e.errors import UsageError

    try:
        return ensure_state_dir()
    except StateError as exc:
        raise UsageError(str(exc)) from None


def write_crash_log(text: str) -> Path | None:
    """Keep an unexpected error's traceback as `logs/crash-<UTC time>.log` in the state directory;
    None when it cannot be written (the error being reported may be that very problem)."""

    try:
        root = ensure_state_dir()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        return write_text_atomically(root / "logs" / f"crash-{stamp}.log", text, "crash log")
    except Exception:
        return None


def load_state(root: Path | None = None) -> PlatformState:
    path = (root or state_dir()) / "state.json"
    if not path.exists():
        return PlatformState()
    try:
        return PlatformState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError) as exc:
        raise StateError(
            f"state file {path} is unreadable or corrupted; 'iml4e down' (or 'iml4e up') moves it aside "
            "and stops the servers it started"
        ) from exc


def load_state_or_set_aside(root: Path) -> tuple[PlatformState, str]:
    """`load_state` for `up` and `down`: a corrupt state file is renamed to
    `state.json.corrupt-<UTC time>` and an empty state returned, with a note naming the file and
    the pids it still shows (the services themselves are found by their environment markers)."""
    path = root / "state.json"
    try:
        return load_state(root), ""
    except StateError:
        import re

        text = path.read_bytes().decode("utf-8", errors="replace") if path.exists() else ""
        pids = sorted({int(pid) for pid in re.findall(r'"pid"\s*:\s*(\d+)', text)})
        aside = path.with_name(f"state.json.corrupt-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}")
        try:
            path.rename(aside)
        except OSError as exc:
            raise StateError(
                f"state file {path} is corrupt and cannot be moved aside ({exc.strerror}); "
                "fix the state directory's permissions"
            ) from exc
        shown = ", ".join(map(str, pids)) or "none"
        return PlatformState(), f"state file {path} was corrupt; moved it to {aside} (pids in it: {shown})"


def save_state(state: PlatformState, root: Path | None = None) -> None:
    root = root or state_dir()
    write_text_atomically(
        root / "state.json", json.dumps(state.model_dump(mode="json"), indent=2) + "\n", create_parent=True
    )
