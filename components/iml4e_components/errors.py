"""The error components raise for bad input: the message names the column, parameter or URI."""

from __future__ import annotations


class ComponentError(ValueError):
    """Bad input to a component core (missing column, wrong type, unknown name, missing file).

    Inside a pipeline it fails the step; called in-process (e.g. from the CLI) it becomes a
    one-line message with exit code 2.
    """


class ComponentFailure(RuntimeError):
    """A component core failed after it started on good input (a lost worker, a dead cluster).

    Called in-process (e.g. from the CLI) it becomes a one-line message with exit code 1.
    """
