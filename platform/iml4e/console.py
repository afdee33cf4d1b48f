"""All terminal output goes through here: data to stdout, messages and progress to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

_PIPE_WIDTH = 240

#: Data (tables, JSON) for the user or for scripts.
out = Console(soft_wrap=True)
#: Messages, warnings and progress.
err = Console(stderr=True, soft_wrap=True)


def info(message: str) -> None:
    err.print(message, highlight=False)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def error(message: str) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False, markup=True)


def print_json(data: Any) -> None:
    """Write `data` as JSON to stdout (plain, no colour, so scripts can parse it)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    print_renderable(table)


def print_renderable(renderable: Any) -> None:
    """A rich table or tree to stdout. In a terminal it fits the window; piped into a file or another
    program it is not wrapped or cropped at rich's 80-column fallback, so each row stays greppable."""
    target = (
        out if out.is_terminal else Console(file=out.file, width=max(out.width, _PIPE_WIDTH), soft_wrap=True)
    )
    target.print(renderable)


def print_data(data: str) -> None:
    """Plain text data (a URI, a path) to stdout."""
    out.print(data, highlight=False, markup=False)
