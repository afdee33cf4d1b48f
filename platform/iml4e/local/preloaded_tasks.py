"""Run lightweight component tasks in processes forked from a preloaded interpreter.

`kfp.local`'s subprocess runner starts `sh`, then a fresh Python that imports kfp (about 2 s of CPU
here, mostly `kfp.client` pulling in the Kubernetes client) for every task. This module replaces that
one step. A task server (one Python process per run, started on the first task) imports the KFP
executor once; for each task it forks a new process that does what the compiled `sh -ec` program
does: write the component source to its own `ephemeral_component.py` and run
`kfp.dsl.executor_main` with the same arguments, in the runner's current environment and working
directory; a task that fails also writes its error record (`iml4e_components.task_errors`). Every
task still has its own process forked from the clean server (never from another task or from the
caller), so tasks share no memory and the compiled pipeline means what it meant.

The server also imports, once, every module the pipeline's components import (found by reading
their source), so a ten-step pipeline that uses pandas, scikit-learn and MLflow imports them once
instead of ten times. It lives for one pipeline run and starts with the run's environment.

Commands of any other shape (a container component, a component that pip-installs packages first)
go to kfp's own subprocess path unchanged. `IML4E_RUNNER_PRELOADED=0` switches the server off.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Extra modules the task server imports up front (comma-separated), e.g. `pandas,sklearn`.
PRELOAD_ENV = "IML4E_RUNNER_PRELOAD"
#: Set to `0` to run every task through kfp's own subprocess path.
ENABLE_ENV = "IML4E_RUNNER_PRELOADED"
_EXECUTOR = "kfp.dsl.executor_main"
_HEADER = struct.Struct("!Q")
_STATUS = struct.Struct("!i")


def lightweight_task(full_command: list[str]) -> tuple[str, list[str]] | None:
    """The component source and executor arguments of a lightweight component command, else None.

    Recognises exactly the command KFP compiles for a lightweight component without package installs:
    `sh -ec <program writing $0 to ephemeral_component.py and running the executor> <source> <args...>`.
    """
    if len(full_command) < 4 or full_command[:2] != ["sh", "-ec"]:
        return None
    program = full_command[2]
    if f"-m {_EXECUTOR}" not in program or "ephemeral_component.py" not in program or "pip" in program:
        return None
    return full_command[3], full_command[4:]


def imported_modules(source: str) -> list[str]:
    """Absolute module names a component's source imports (anywhere in it), in order of appearance."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found = [node.module]
        else:
            continue
        names.extend(name for name in found if name != "__future__" and name not in names)
    return names


def pipeline_modules(pipeline: Any) -> list[str]:
    """Every module the lightweight components of a compiled pipeline import."""
    from google.protobuf import json_format  # type: ignore[import-untyped]  # no protobuf stubs in dev deps

    executors = json_format.MessageToDict(pipeline.pipeline_spec.deployment_spec).get("executors", {})
    modules: list[str] = []
    for executor in executors.values():
        container = executor.get("container", {})
        parsed = lightweight_task([*container.get("command", []), *container.get("args", [])])
        if parsed is not None:
            modules.extend(name for name in imported_modules(parsed[0]) if name not in modules)
    return modules


class TaskServer:
    """A preloaded Python that forks one process per task request, one task at a time."""

    def __init__(self, preload: list[str] | None = None) -> None:
        ours, theirs = socket.socketpair()
        self._socket = ours
        extra = [name.strip() for name in os.environ.get(PRELOAD_ENV, "").split(",") if name.strip()]
        modules = [_EXECUTOR, *(preload or []), *extra]
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from iml4e.local.preloaded_tasks import serve; serve({theirs.fileno()}, {modules!r})",
            ],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.busy = threading.Lock()

    def alive(self) -> bool:
        return self._process.poll() is None

    def run(self, source: str, arguments: list[str], output: Callable[[str], None]) -> int:
        """Run one task; `output` receives its stdout and stderr line by line. Returns the exit code."""
        body = json.dumps(
            {"source": source, "arguments": arguments, "env": dict(os.environ), "cwd": os.getcwd()}
        )
        read_end, write_end = os.pipe()
        try:
            socket.send_fds(self._socket, [_HEADER.pack(len(body.encode()))], [write_end])
            self._socket.sendall(body.encode())
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        with open(read_end, encoding="utf-8", errors="replace") as reader:
            for line in reader:
                output(line)
        status = _receive_exactly(self._socket, _STATUS.size)
        return _STATUS.unpack(status)[0] if status else 1

    def stop(self) -> None:
        self._socket.close()  # the server exits when its socket closes
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_server: TaskServer | None = None
_server_lock = threading.Lock()


def task_server(preload: list[str] | None = None) -> TaskServer:
    """This process's task server, started (or restarted, if it died) on demand."""
    global _server
    if _server is None or not _server.alive():
        _server = TaskServer(preload)
        atexit.register(_server.stop)
    return _server


def stop_task_server() -> None:
    global _server
    if _server is not None:
        atexit.unregister(_server.stop)
        _server.stop()
        _server = None


def run_task(full_command: list[str], fallback: Callable[[list[str]], int]) -> int:
    """Run one task like kfp's `run_local_subprocess`: output streamed to `sys.stdout`, exit code back."""
    parsed = lightweight_task(full_command)
    if parsed is None:
        return fallback(full_command)
    source, arguments = parsed
    with _server_lock:
        server = task_server()
    # kfp.local runs ParallelFor iterations in threads; the server takes one task at a time, so a
    # task that finds it busy runs on kfp's own subprocess path instead of waiting.
    if not server.busy.acquire(blocking=False):
        return fallback(full_command)
    try:
        code = server.run(source, arguments, lambda line: print(line, end=""))  # noqa: T201 - captured
    except OSError:  # the server died before taking the task: run it the ordinary way
        return fallback(full_command)
    finally:
        server.busy.release()
    print("\n")  # noqa: T201 - kfp separates each task's output with a blank line
    return code


def preloading_enabled() -> bool:
    return hasattr(socket, "send_fds") and hasattr(os, "fork") and os.environ.get(ENABLE_ENV, "1") != "0"


@contextmanager
def preloaded_task_execution(pipeline: Any = None) -> Iterator[None]:
    """While active, kfp.local's subprocess runner runs lightweight tasks through a task server.

    The server starts at once (it imports while kfp.local prepares the run), preloads the modules
    `pipeline`'s components import, and stops when the block ends.
    """
    if not preloading_enabled():
        yield
        return
    from kfp.local import subprocess_task_handler

    stop_task_server()
    task_server(pipeline_modules(pipeline) if pipeline is not None else None)
    original = subprocess_task_handler.run_local_subprocess

    def run_local_subprocess(full_command: list[str]) -> int:
        return run_task(full_command, original)

    subprocess_task_handler.run_local_subprocess = run_local_subprocess
    try:
        yield
    finally:
        subprocess_task_handler.run_local_subprocess = original
        stop_task_server()


# --- the server side -------------------------------------------------------------------------------


def serve(descriptor: int, modules: list[str]) -> None:
    """Task server main loop: preload, then fork one process per request until the socket closes."""
    import importlib

    connection = socket.socket(fileno=descriptor)
    # As in the task command: at run time kfp skips importing its API client (and the Kubernetes one).
    os.environ["_KFP_RUNTIME"] = "true"
    for module in modules:
        # A module that fails here fails again in the task that imports it, where it is reported.
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    while True:
        try:
            header, fds, _, _ = socket.recv_fds(connection, _HEADER.size, 1)
        except OSError:
            return
        if not header:
            return
        request = json.loads(_receive_exactly(connection, _HEADER.unpack(header)[0]))
        pid = os.fork()
        if pid == 0:
            connection.close()
            os._exit(_execute_task(request, fds[0]))
        os.close(fds[0])
        _, wait_status = os.waitpid(pid, 0)
        connection.sendall(_STATUS.pack(os.waitstatus_to_exitcode(wait_status)))


def _execute_task(request: dict[str, Any], output: int) -> int:
    """In the forked task process: what the compiled `sh -ec` program does, minus the new interpreter."""
    import tempfile
    import traceback
    from pathlib import Path

    from iml4e_components.task_errors import record_task_error

    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["_KFP_RUNTIME"] = "true"
    code = 0
    try:
        os.chdir(request["cwd"])
        module_path = Path(tempfile.mkdtemp()) / "ephemeral_component.py"
        module_path.write_text(request["source"], encoding="utf-8")
        sys.argv = [_EXECUTOR, "--component_module_path", str(module_path), *request["arguments"]]
        from kfp.dsl.executor_main import executor_main

        executor_main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException as error:  # report like an uncaught exception in `python -m`: traceback, exit code 1
        traceback.print_exc()
        record_task_error(error, _function_name(request["arguments"]))
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _function_name(arguments: list[str]) -> str:
    """The component function a task runs (its `--function_to_execute` argument)."""
    for flag, value in itertools.pairwise(arguments):
        if flag == "--function_to_execute":
            return value
    return "unknown"


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = connection.recv(size - len(chunks))
        if not chunk:
            break
        chunks.extend(chunk)
    return bytes(chunks)
