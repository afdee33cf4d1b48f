"""Run a pipeline locally through `kfp.local` with the subprocess runner.

No per-task virtualenv and no per-task pip install: tasks run with this Python, which already has
the components. Task output goes to a log file under the state directory, progress to stderr. Why a
task failed comes back as data: each failing task writes an error record
(`iml4e_components.task_errors`) to a folder this run names, and the runner reads it.
"""

from __future__ import annotations

import builtins
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from iml4e import console
from iml4e.errors import PipelineError
from iml4e.local.kfp_conditions import local_conditions
from iml4e.local.preloaded_tasks import preloaded_task_execution
from iml4e.local.state import ensure_state_dir
from iml4e.pipeline_selection import parse_parameters, resolve_pipeline
from iml4e_components.conventions import QUIET_LIBRARIES
from iml4e_components.output_files import write_text_atomically
from iml4e_components.task_errors import ERRORS_ENV, TaskError, failed_task_error, read_task_errors

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TASK_START = re.compile(r"Executing task '([^']+)'")
_TASK_END = re.compile(r"Task '([^']+)' finished with status (\w+)")
#: How many lines of the failed task's output `--verbose` shows (`PipelineError.details`).
TAIL_LINES = 30
_KEPT_LINES = 500  # per task, enough to find the tail before a long traceback

#: How long a step (and the runner) keeps trying an MLflow server that does not answer: 3 tries,
#: 8 s each, 1 s and 2 s apart (+ up to 1 s jitter each), so a dead or hung server fails the step
#: within about 30 s instead of MLflow's default of minutes. A value already set is kept.
MLFLOW_CLIENT_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "8",
}
_MLFLOW_UNREACHABLE = ("Max retries exceeded", "Connection refused", "Read timed out", "ConnectTimeout")


@dataclass
class RunResult:
    pipeline: str
    run_id: str
    status: str
    parameters: dict[str, Any]
    output: Any
    seconds: float
    log: str
    tasks: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "status": self.status,
            "parameters": self.parameters,
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "log": self.log,
            "tasks": self.tasks,
        }


class _TaskLog(io.TextIOBase):
    """Collects task output into the log file and reports task starts and ends.

    After the run (`release`), whatever still holds this stream (a library that set up its logging
    during the run) writes to the stream the run's output was taken from, never to the closed log."""

    def __init__(self, sink: TextIO, on_line: Callable[[str], None]) -> None:
        self._sink = sink
        self._on_line = on_line
        self._partial = ""
        self._released_to: TextIO | None = None

    def release(self, to: TextIO) -> None:
        self._released_to = to

    def write(self, text: str) -> int:
        if self._released_to is not None:
            if not self._released_to.closed:
                self._released_to.write(text)
            return len(text)
        self._sink.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._on_line(_ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        stream = self._released_to or self._sink
        if not stream.closed:
            stream.flush()


@contextmanager
def _captured(log_path: Path, on_line: Callable[[str], None]) -> Iterator[None]:
    from iml4e_components.output_files import open_private_append

    with open(open_private_append(log_path), "a", encoding="utf-8") as sink:
        stream = _TaskLog(sink, on_line)
        saved = sys.stdout, sys.stderr
        # Our own console keeps writing to the real terminal while task output is captured.
        console.err.file, console.out.file = saved[1], saved[0]
        sys.stdout = sys.stderr = stream
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved
            stream.release(saved[1])
            console.err.file = console.out.file = None  # type: ignore[assignment]  # None gives rich back its default stream


@contextmanager
def _run_environment(environment: dict[str, str], pipeline_root: Path) -> Iterator[None]:
    """Set what one run's tasks read (environment variables, kfp.local's configuration) and put back
    everything as it was afterwards, so runs in one process (`monitor --on-drift`) never see each
    other's state directory or run id.

    The root logger is put back too. kfp.local swaps its handlers for one writing to the run's
    captured output and restores them when done, but ParallelFor iterations do that in threads at
    once, and their restores can interleave: the root logger is then left at INFO with a handler
    writing into the closed run log, and every later log record in the process (an HTTP client's
    request line, say) fails with "I/O operation on closed file". `print` is put back for the same
    reason: kfp.local indents task output by swapping `builtins.print` per task, in the same threads."""
    from kfp import local
    from kfp.local import config as local_config

    saved_environment = {key: os.environ.get(key) for key in environment}
    saved_config = local_config.LocalExecutionConfig.instance
    root_logger = logging.getLogger()
    saved_logging = root_logger.level, root_logger.handlers[:]
    saved_print = builtins.print
    os.environ.update(environment)
    try:
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(pipeline_root),
            raise_on_error=True,
        )
        yield
    finally:
        for key, value in saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        local_config.LocalExecutionConfig.instance = saved_config
        root_logger.setLevel(saved_logging[0])
        root_logger.handlers[:] = saved_logging[1]
        builtins.print = saved_print


def run_pipeline(
    reference: str,
    pairs: list[str],
    tracking_uri: str,
    on_event: Callable[[str, str], None] | None = None,
) -> RunResult:
    """Run a pipeline with `kfp.local`; `on_event(task, status)` reports progress."""
    name, pipeline = resolve_pipeline(reference)
    arguments = parse_parameters(pipeline, pairs)
    root = ensure_state_dir()
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    log_path = root / "logs" / "runs" / f"{run_id}-{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tasks: dict[str, str] = {}
    # The last lines of each task's output, from its start line to its end line (kfp.local runs
    # ParallelFor iterations at once: their lines go to the iteration that started last).
    tails: dict[str, deque[str]] = {}
    current: list[str] = []

    def on_line(line: str) -> None:
        if match := _TASK_START.search(line):
            current[:] = [match.group(1)]
            tasks[match.group(1)] = "RUNNING"
            tails[match.group(1)] = deque(maxlen=_KEPT_LINES)
            if on_event:
                on_event(match.group(1), "RUNNING")
        if current:
            tails[current[0]].append(line)
        if match := _TASK_END.search(line):
            current.clear()
            if match.group(2) == "SUCCESS":
                tails.pop(match.group(1), None)  # only a failed task's output is shown
            tasks[match.group(1)] = match.group(2)
            if on_event:
                on_event(match.group(1), match.group(2))

    # Components find the platform through the environment only (configuration, not code).
    environment = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "IML4E_HOME": str(root),
        "IML4E_PIPELINE_NAME": name,
        "IML4E_PIPELINE_RUN_ID": run_id,
        "GIT_PYTHON_REFRESH": os.environ.get("GIT_PYTHON_REFRESH", "quiet"),
        **{key: os.environ.get(key, value) for key, value in MLFLOW_CLIENT_BOUNDS.items()},
        **{key: os.environ.get(key, value) for key, value in QUIET_LIBRARIES.items()},
    }
    started = time.monotonic()
    output: Any = None
    status = "SUCCESS"
    error_folder = tempfile.TemporaryDirectory(prefix="iml4e-task-errors-")
    environment[ERRORS_ENV] = error_folder.name
    try:
        with (
            _run_environment(environment, root / "pipelines"),
            _captured(log_path, on_line),
            preloaded_task_execution(pipeline),
            local_conditions(),
        ):
            task = pipeline(**arguments)
        outputs = task.outputs if hasattr(task, "outputs") else {}
        output = outputs.get("Output") if isinstance(outputs, dict) else None
    except RuntimeError as exc:
        status = "FAILURE"
        failed = next((t for t, s in tasks.items() if s == "FAILURE"), None) or next(
            (t for t, s in tasks.items() if s == "RUNNING"), "unknown step"
        )
        error = failed_task_error(read_task_errors(Path(error_folder.name)), failed)
        # Without a record (the task died before it could write one) kfp's own message says which.
        reason = error.reason() if error else _ANSI.sub("", str(exc).splitlines()[0])
        said = error.message if error else reason
        if tracking_uri in said and any(sign in said for sign in _MLFLOW_UNREACHABLE):
            reason = (
                f"the MLflow server at {tracking_uri} did not answer (stopped or hung); "
                "start it with 'iml4e up' and run the pipeline again"
            )
        else:
            _fail_mlflow_runs(tracking_uri, run_id, log_path)
        _record(
            root,
            RunResult(
                name,
                run_id,
                status,
                arguments,
                None,
                time.monotonic() - started,
                str(log_path),
                _tasks(tasks),
            ),
        )
        raise PipelineError(
            f"pipeline '{name}' failed at step '{failed}': {reason} (full log: {log_path})",
            details=_failure_details(failed, list(tails.get(failed, [])), error, log_path),
        ) from exc
    finally:
        error_folder.cleanup()
    result = RunResult(
        name,
        run_id,
        status,
        arguments,
        _decode(output),
        time.monotonic() - started,
        str(log_path),
        _tasks(tasks),
    )
    _record(root, result)
    return result


def _failure_details(task: str, output: list[str], error: TaskError | None, log_path: Path) -> str:
    """What `--verbose` adds to a failed run's one line: the task's last lines of output, then its
    traceback (from the error record, in place of the copy the task printed)."""
    if error is not None:
        starts = [i for i, line in enumerate(output) if line.strip() == "Traceback (most recent call last):"]
        output = output[: starts[-1]] if starts else output
    tail = output[-TAIL_LINES:]
    lines = [f"--- the last {len(tail)} lines of task '{task}' (the whole run: {log_path}) ---", *tail]
    if error is not None:
        lines += [f"--- the traceback of task '{task}' ---", error.traceback.rstrip()]
    return "\n".join(lines)


def _fail_mlflow_runs(tracking_uri: str, run_id: str, log_path: Path) -> None:
    """Mark FAILED the MLflow runs this pipeline run left RUNNING; when MLflow cannot be reached,
    say so in the run's log (the failure being reported matters more)."""
    from iml4e_components.tracking.core import fail_pipeline_runs

    try:
        failed = fail_pipeline_runs(tracking_uri, run_id)
    except Exception as exc:  # any MLflow failure here must not hide the step's own error
        note = f"could not mark this run's MLflow runs FAILED: {type(exc).__name__}: {exc}"
    else:
        note = f"MLflow runs marked FAILED: {', '.join(failed) or 'none'}"
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"iml4e: {note}\n")


def _tasks(tasks: dict[str, str]) -> list[dict[str, str]]:
    return [{"task": t, "status": s} for t, s in tasks.items()]


def _decode(output: Any) -> Any:
    if isinstance(output, str):
        try:
            return json.loads(output)
        except json.JSONDecodeError:
            return output
    return output


def _record(root: Path, result: RunResult) -> None:
    """Keep a record of every run under `runs/` (the methodology layer reads them as evidence)."""
    write_text_atomically(
        root / "runs" / f"{result.run_id}.json",
        json.dumps(result.as_dict(), indent=2, default=str) + "\n",
        create_parent=True,
    )


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    from iml4e.paths import state_dir

    folder = (root or state_dir()) / "runs"
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return records
