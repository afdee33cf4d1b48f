"""A failed task's error as data: a small JSON record the pipeline runner reads instead of log text.

For one pipeline run the local runner sets `IML4E_TASK_ERRORS` to a directory. A task that fails
writes one record there, `<pid>.json`: the component, the exception's class and message, whether it
is one of ours (an `Iml4eError`, whose message is written for the user) and its traceback. Two places
write it, so every task is covered: `lineage_step`, which wraps the body of every iml4e component
(on any runner), and the local task process around the KFP executor (any component, including ones
that are not iml4e's). Both write the same file, so a task leaves one record. Where the variable is
unset (a run on a cluster) nothing is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

#: The directory a run's tasks write their error records to; set by the local pipeline runner.
ERRORS_ENV = "IML4E_TASK_ERRORS"


@dataclass(frozen=True)
class TaskError:
    """Why one task failed."""

    component: str
    error_class: str
    message: str
    ours: bool
    traceback: str
    recorded_ns: int

    def reason(self) -> str:
        """One line: our own error's message as it is; anything else prefixed with its class."""
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        if self.ours and first:
            return first
        return f"{self.error_class}: {first}" if first else self.error_class

    def belongs_to(self, task: str) -> bool:
        """Whether `task` (kfp's task name: the component's, dashed, maybe numbered) ran this component."""
        return re.fullmatch(re.escape(self.component.replace("_", "-")) + r"(-\d+)?", task) is not None


def record_task_error(error: BaseException, component: str) -> None:
    """Write `error` as this task's record, if the runner asked for records; never raises."""
    from iml4e_components.errors import Iml4eError
    from iml4e_components.output_files import write_text_atomically

    folder = os.environ.get(ERRORS_ENV)
    if not folder:
        return
    record = TaskError(
        component=component,
        error_class=type(error).__name__,
        message=str(error),
        ours=isinstance(error, Iml4eError),
        traceback="".join(traceback.format_exception(error)),
        recorded_ns=time.time_ns(),
    )
    # Should the write fail, the task still fails and prints its traceback; the runner then falls back
    # to kfp's message.
    with contextlib.suppress(OSError, Iml4eError):
        write_text_atomically(Path(folder) / f"{os.getpid()}.json", json.dumps(asdict(record)) + "\n")


def read_task_errors(folder: Path) -> list[TaskError]:
    """The records in `folder`, oldest first; unreadable or malformed files are passed over."""
    records: list[TaskError] = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(TaskError(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(records, key=lambda record: record.recorded_ns)


def failed_task_error(records: list[TaskError], task: str) -> TaskError | None:
    """The record of the task that failed: the one its component wrote, else the first one."""
    return next((record for record in records if record.belongs_to(task)), records[0] if records else None)
