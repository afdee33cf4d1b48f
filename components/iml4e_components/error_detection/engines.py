"""Where the block functions of detection run (`blocks`): in this process, or as Ray tasks.

`LocalEngine` calls each function at once on one block (the whole table). `RayEngine` submits each
as a Ray task on blocks of `block_rows` rows: on a local Ray it starts itself (loopback only, no
dashboard, bounded CPUs) when no address is given, or on a running cluster (`auto`,
`ray://HOST:PORT`, `HOST:PORT`). The statistics every block needs are put in the object store once;
a task lost with its worker is retried up to `max_retries` times. Ray is imported only here, only when
the Ray engine starts.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from iml4e_components.error_detection.blocks import PerValueFeatures
from iml4e_components.error_detection.features import ColumnValues, FeatureConfig, per_value_features
from iml4e_components.errors import ComponentError, ComponentFailure

ENGINES = ("local", "ray")
#: Rows per block of the Ray engine.
RAY_BLOCK_ROWS = 100_000
#: How often Ray retries a task whose worker died (a killed process, a lost node) before detection fails.
RAY_MAX_RETRIES = 2
#: Seconds to wait for a TCP connection to a given Ray address before calling it unreachable.
RAY_CONNECT_TIMEOUT = 5.0
#: Tries to start a local Ray (see `RayEngine._start_local`).
LOCAL_START_ATTEMPTS = 2
_ADDRESS = re.compile(r"(?:ray://)?(\[[0-9a-fA-F:]+\]|[^:/\s]+):(\d{1,5})")


class DetectionEngine(Protocol):
    """Runs block functions: `submit` returns a handle, `get` its value; `put` shares a value."""

    name: str
    block_rows: int | None

    def put(self, value: Any) -> Any: ...

    def submit(self, function: Callable[..., Any], *args: Any, num_returns: int = 1) -> Any: ...

    def get(self, handle: Any) -> Any: ...

    def per_value_features(self, values: list[ColumnValues], config: FeatureConfig) -> Any: ...

    def close(self) -> None: ...

    def __enter__(self) -> DetectionEngine: ...

    def __exit__(self, *exc: object) -> None: ...


class LocalEngine:
    """Every block function runs at once, in this process, on the whole table as one block."""

    name = "local"
    block_rows: int | None = None

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def put(self, value: Any) -> Any:
        return value

    def submit(self, function: Callable[..., Any], *args: Any, num_returns: int = 1) -> Any:
        return function(*args)

    def get(self, handle: Any) -> Any:
        return handle

    def per_value_features(self, values: list[ColumnValues], config: FeatureConfig) -> Any:
        return PerValueFeatures(values, config)

    def close(self) -> None:
        return None


def check_ray_address(address: str) -> None:
    """Refuse, in one line, an address that is malformed or where nothing listens."""
    if address == "auto":
        return
    match = _ADDRESS.fullmatch(address.strip())
    if match is None:
        raise ComponentError(
            f"Ray address '{address}' is not valid; pass auto, ray://HOST:PORT (Ray client) or HOST:PORT (GCS)"
        )
    host, port = match.group(1).strip("[]"), int(match.group(2))
    try:
        with socket.create_connection((host, port), timeout=RAY_CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ComponentError(
            f"Ray address {address} is unreachable ({reason}); start the Ray cluster, check the host and "
            "port, or leave out --ray-address to start a local Ray"
        ) from None


class RayEngine:
    """Block functions as Ray tasks (see the module docstring). Use as a context manager."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        block_rows: int = RAY_BLOCK_ROWS,
        max_retries: int = RAY_MAX_RETRIES,
    ) -> None:
        if block_rows < 1:
            raise ComponentError(f"block_rows must be at least 1 (got {block_rows})")
        if max_retries < 0:
            raise ComponentError(f"max_retries must be 0 or more (got {max_retries})")
        self.address = address
        self.num_cpus = num_cpus
        self.block_rows: int | None = block_rows
        self.max_retries = max_retries
        self._started_here = False
        self._remote: Any = None

    def __enter__(self) -> RayEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Connect to Ray: the running session of this process, the given address, or a new local Ray."""
        if self.address is not None:
            check_ray_address(self.address)
        else:
            # A local Ray listens on loopback only and sends no usage statistics (read at import).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            import ray
        except ImportError:
            raise ComponentError(
                "the ray engine needs the ray package; install it with: pip install 'iml4e[ray]'"
            ) from None
        if not ray.is_initialized():
            if self.address is None:
                self._start_local(ray)
            else:
                try:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
                except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
                    raise ComponentError(
                        f"cannot connect to Ray at {self.address}: {_first_line(exc)}"
                    ) from None
            self._started_here = True
        self._remote = ray.remote(_call)

    def _start_local(self, ray: Any) -> None:
        """Start a local Ray; its raylet gets a fixed 30 s to register, which a busy machine can miss,
        so a start that timed out is tried once more."""
        cpus = os.cpu_count() or 1
        for attempt in range(LOCAL_START_ATTEMPTS):
            try:
                ray.init(
                    num_cpus=max(1, min(self.num_cpus or cpus, cpus)),
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
                return
            except Exception as exc:  # Ray raises a bare Exception when its node does not start in time
                ray.shutdown()
                if attempt + 1 == LOCAL_START_ATTEMPTS:
                    raise ComponentFailure(f"could not start a local Ray: {_first_line(exc)}") from None

    def close(self) -> None:
        """Shut down the Ray this engine started (a session the process already had stays up)."""
        if self._started_here:
            import ray

            ray.shutdown()
            self._started_here = False

    def put(self, value: Any) -> Any:
        import ray

        return ray.put(value)

    def submit(self, function: Callable[..., Any], *args: Any, num_returns: int = 1) -> Any:
        if self._remote is None:
            raise ComponentError("the Ray engine is not started; use it as a context manager")
        options = {"num_returns": num_returns, "max_retries": self.max_retries, "name": function.__name__}
        return self._remote.options(**options).remote(function, *args)

    def get(self, handle: Any) -> Any:
        import ray
        from ray import exceptions

        lost = (
            exceptions.WorkerCrashedError,
            exceptions.NodeDiedError,
            exceptions.ObjectLostError,
            exceptions.OwnerDiedError,
        )
        try:
            return ray.get(handle)
        except exceptions.RayError as exc:
            # A task whose input came from a failed task fails with that failure as its cause.
            cause = exc.cause if isinstance(exc, exceptions.RayTaskError) else exc
            if isinstance(cause, ComponentError | ComponentFailure):
                raise cause from None
            if isinstance(cause, lost) or isinstance(exc, lost):
                raise ComponentFailure(
                    f"a Ray worker running error detection died and its task was retried {self.max_retries} "
                    f"times ({type(cause).__name__}); check the workers' memory and rerun"
                ) from None
            raise ComponentFailure(
                f"error detection failed in a Ray task: {_first_line(cause or exc)}"
            ) from None

    def per_value_features(self, values: list[ColumnValues], config: FeatureConfig) -> Any:
        """One task per column; blocks read the results from the object store."""
        return [self.submit(per_value_features, column, config) for column in values]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _call(function: Callable[..., Any], *args: Any) -> Any:
    """The one Ray task: call `function` with the arguments, fetching lists of object references
    (Ray resolves only references passed directly)."""
    import ray

    resolved = [
        ray.get(list(a)) if isinstance(a, list) and a and all(isinstance(x, ray.ObjectRef) for x in a) else a
        for a in args
    ]
    return function(*resolved)


def engine_named(
    name: str,
    ray_address: str | None = None,
    *,
    block_rows: int | None = None,
    max_retries: int = RAY_MAX_RETRIES,
    num_cpus: int | None = None,
) -> LocalEngine | RayEngine:
    """The engine called `name` (`local` or `ray`); the Ray options need the Ray engine."""
    if name not in ENGINES:
        raise ComponentError(f"unknown engine '{name}'; use one of {', '.join(ENGINES)}")
    if name == "local":
        if ray_address is not None:
            raise ComponentError("--ray-address needs --engine ray")
        return LocalEngine()
    return RayEngine(ray_address, num_cpus, block_rows or RAY_BLOCK_ROWS, max_retries)


def block_spans(n_rows: int, block_rows: int | None) -> Sequence[tuple[int, int]]:
    """(start, stop) of each block of rows: one block when `block_rows` is None."""
    if block_rows is None or n_rows <= block_rows:
        return [(0, n_rows)]
    return [(start, min(start + block_rows, n_rows)) for start in range(0, n_rows, block_rows)]
