"""The platform's errors, under the one root `Iml4eError` (defined in `iml4e_components.errors`).

Raise these with a message a user can act on: name the problem and the fix in one line.
The CLI boundary (`iml4e.cli.app.main`) catches every `Iml4eError` once (the components' too), prints
the message to stderr and exits with `exit_code`; the traceback and `details` are shown only with
`--verbose`.
"""

from __future__ import annotations

from iml4e_components.errors import Iml4eError

__all__ = ["Iml4eError", "PipelineError", "ServiceError", "StateError", "UsageError"]


class UsageError(Iml4eError):
    """Bad input or usage: unknown names, malformed parameters, unreadable files (exit code 2)."""

    exit_code = 2


class StateError(Iml4eError):
    """The local state directory cannot be read or written."""


class ServiceError(Iml4eError):
    """A local or cluster service failed to start, stop or answer."""


class PipelineError(Iml4eError):
    """A pipeline run failed; the message names the step that failed and why, `details` holds the
    failing task's log tail and traceback."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
