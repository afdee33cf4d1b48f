"""The one root of the errors iml4e raises on purpose, and the component errors under it.

`Iml4eError` lives here, in the lowest layer, so that components and the platform share it:
`iml4e.errors` re-exports it and derives its own errors from it. None of these is a `ValueError` or a
`RuntimeError`, so an `except ValueError` around a library call never swallows one of ours. The
message names the problem and the fix in one line; `exit_code` is what the CLI exits with.
"""

from __future__ import annotations


class Iml4eError(Exception):
    """A failure the user can act on (exit code 1)."""

    exit_code = 1
    #: More than the one line (e.g. a failed task's log and traceback), shown only with `--verbose`.
    details = ""


class ComponentError(Iml4eError):
    """Bad input to a component core (missing column, wrong type, unknown name, missing file).

    Inside a pipeline it fails the step; called in-process (e.g. from the CLI) it becomes a
    one-line message with exit code 2.
    """

    exit_code = 2


class ComponentFailure(Iml4eError):
    """A component core failed after it started on good input (a lost worker, a dead cluster).

    Called in-process (e.g. from the CLI) it becomes a one-line message with exit code 1.
    """
