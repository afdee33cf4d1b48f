"""The local platform's state file (`state.json`): services with their pids, ports and logs.

Writes are atomic (temporary file, then rename), so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iml4e.errors import StateError
from iml4e.paths import state_dir


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
    """Create the state directory (and its standard subfolders) or fail with the fix."""
    root = root or state_dir()
    try:
        for sub in ("", "mlflow", "logs", "runs", "lineage", "serving"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        probe = root / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StateError(
            f"state directory {root} is not writable ({exc.strerror}); "
            "fix its permissions or set IML4E_HOME to a writable directory"
        ) from exc
    return root


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(root: Path | None = None) -> PlatformState:
    path = (root or state_dir()) / "state.json"
    if not path.exists():
        return PlatformState()
    try:
        return PlatformState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError) as exc:
        raise StateError(
            f"state file {path} is unreadable or corrupted; stop the services by hand and delete it"
        ) from exc


def save_state(state: PlatformState, root: Path | None = None) -> None:
    root = root or state_dir()
    atomic_write_text(root / "state.json", json.dumps(state.model_dump(mode="json"), indent=2) + "\n")
