"""All terminal output goes through here: data to stdout, messages and progress to stderr."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

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


#: Seconds between the progress lines long work writes when stderr is not a terminal.
HEARTBEAT_SECONDS = 5.0


class Progress(Protocol):
    def update(self, status: str) -> None: ...


class _Heartbeat:
    """Without a terminal there is no spinner: say what is running, and for how long, every few seconds."""

    def __init__(self, status: str, every: float) -> None:
        self._status, self._every = status, every
        self._since = self._last = time.monotonic()  # the status's start; the last line or update
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="iml4e-heartbeat", daemon=True)

    def update(self, status: str) -> None:
        self._status, self._since = status, time.monotonic()
        self._last = self._since

    def _beat(self) -> None:
        while not self._done.wait(max(0.0, self._last + self._every - time.monotonic())):
            now = time.monotonic()
            if now >= self._last + self._every:  # else an update came in meanwhile: wait on from it
                info(f"  ... {self._status.rstrip('.')} ({now - self._since:.0f} s)")
                self._last = now

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


@contextmanager
def working(status: str) -> Iterator[Progress]:
    """Long work: a spinner on a terminal; on a pipe or in a log, a line on stderr every few seconds
    (`HEARTBEAT_SECONDS`), so nobody watching output wonders whether it hangs. `update` changes the text."""
    if err.is_terminal:
        with err.status(status) as spinner:
            yield spinner
    else:
        with _Heartbeat(status, HEARTBEAT_SECONDS) as heartbeat:
            yield heartbeat


def print_json(data: Any) -> None:
    """Write `data` as JSON to stdout (plain, no colour, so scripts can parse it)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()


#: A word that must stay whole: a URL or URI (`http://…`, `models:/…`, `s3://…`), a path, a digest.
_WHOLE_WORD = re.compile(r"^(?:\S*/\S*|[A-Za-z][\w+.-]*:\S+)$")
#: Narrowest width a column of ordinary words is squeezed to before the table gives way to a list.
_MIN_TEXT_WIDTH = 10


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table on stdout whose URLs, URIs and paths are never broken across lines.

    Other columns wrap at spaces to make room; when even that cannot fit the terminal, each row
    is printed as plain `column: value` lines instead. Cells are text, never rich markup (a `Text`
    passes through for colour)."""
    cells = [[_cell_text(cell) for cell in row] for row in rows]
    target = _stdout_console()
    widths = _column_widths(columns, cells, target.width)
    if title:
        target.print(Text(title, style="bold"), soft_wrap=True)
    if widths is None:
        _print_key_values(target, columns, cells)
        return
    table = Table(header_style="bold")
    for column, width in zip(columns, widths, strict=True):
        table.add_column(column, overflow="fold", width=width)
    for row in cells:
        table.add_row(*row)
    target.print(table)


def _cell_text(cell: Any) -> Text:
    if isinstance(cell, Text):
        return cell
    return Text("" if cell is None else str(cell))


def _column_widths(columns: Sequence[str], cells: list[list[Text]], available: int) -> list[int] | None:
    """Content widths that fit `available` and keep every whole word on one line; None if none do."""
    natural: list[int] = []
    minimum: list[int] = []
    unbroken: list[int] = []  # wide enough that no word at all is folded
    for index, header in enumerate(columns):
        lines = [header, *(line for row in cells for line in row[index].plain.splitlines())]
        words = [word for line in lines for word in line.split()]
        natural.append(max((cell_len(line) for line in lines), default=1) or 1)
        whole = max((cell_len(w) for w in words if _WHOLE_WORD.match(w)), default=0)
        longest = max((cell_len(w) for w in words), default=1)
        minimum.append(max(whole, min(longest, _MIN_TEXT_WIDTH), 1))
        unbroken.append(max(whole, longest, 1))
    room = available - (3 * len(columns) + 1)  # borders and one space of padding each side
    if sum(natural) <= room:
        return natural
    if sum(minimum) > room:
        return None
    widths = list(unbroken if sum(unbroken) <= room else minimum)
    spare = room - sum(widths)
    while spare > 0:  # one column at a time to whichever is furthest from its natural width
        wanting = [i for i in range(len(widths)) if widths[i] < natural[i]]
        if not wanting:
            break
        widths[min(wanting, key=lambda i: widths[i] / natural[i])] += 1
        spare -= 1
    return widths


def _print_key_values(target: Console, columns: Sequence[str], cells: list[list[Text]]) -> None:
    """Too narrow for a table: `key: value` per row (two columns), else a block of `column: value` per row."""
    for number, row in enumerate(cells):
        if len(columns) == 2:
            pairs = [(row[0].plain, row[1])]
        else:
            if number:
                target.print()
            pairs = [(column, cell) for column, cell in zip(columns, row, strict=True)]
        for key, value in pairs:
            lines = value.split("\n") if value.plain else [Text("")]
            target.print(Text.assemble((f"{key}:", "bold"), " ", lines[0]), soft_wrap=True)
            for more in lines[1:]:
                target.print(Text.assemble("  ", more), soft_wrap=True)


def _stdout_console() -> Console:
    """In a terminal, stdout at the window's width; piped into a file or another program, wide
    enough that rich's 80-column fallback never wraps or crops a row, so each stays greppable."""
    if out.is_terminal:
        return out
    return Console(file=out.file, width=max(out.width, _PIPE_WIDTH), soft_wrap=True)


def print_renderable(renderable: Any) -> None:
    """A rich tree or other renderable to stdout (tables go through `print_table`)."""
    _stdout_console().print(renderable)


def print_data(data: str) -> None:
    """Plain text data (a URI, a path) to stdout."""
    out.print(data, highlight=False, markup=False)
