"""The one domain error family of iml4e.

Raise these with a message a user can act on: name the problem and the fix in one line.
The CLI boundary (`iml4e.cli.app.main`) catches them once, prints the message to stderr and
exits with `exit_code`; the traceback is shown only with `--verbose`.
"""

from __future__ import annotations


class Iml4eError(Exception):
    """A failure the user can act on (exit code 1)."""

    exit_code = 1


class UsageError(Iml4eError):
    """Bad input or usage: unknown names, malformed parameters, unreadable files (exit code 2)."""

    exit_code = 2


class StateError(Iml4eError):
    """The local state directory cannot be read or written."""


class ServiceError(Iml4eError):
    """A local or cluster service failed to start, stop or answer."""


class PipelineError(Iml4eError):
    """A pipeline run failed; the message names the step that failed and why."""
