"""The README's example commands are the ones that work on a fresh clone: the environment's Python
(`.venv/bin/python`, which `make install` creates; the system Python lacks the packages), a script
that exists, and one the example tests run."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
COMMAND = re.compile(r"(\S*python3?)\s+(examples/[\w./-]+\.py)")


def _commands() -> list[tuple[str, str, str]]:
    found = []
    for readme in [REPO / "README.md", *sorted((REPO / "examples").glob("*/README.md"))]:
        for interpreter, script in COMMAND.findall(readme.read_text(encoding="utf-8")):
            found.append((readme.relative_to(REPO).as_posix(), interpreter.strip("`|"), script))
    return found


def test_every_example_command_uses_the_environments_python_and_a_tested_script() -> None:
    commands = _commands()
    assert len({script for _, _, script in commands}) >= 3
    tested = (REPO / "tests" / "integration" / "examples" / "test_examples.py").read_text(encoding="utf-8")
    for readme, interpreter, script in commands:
        assert interpreter == ".venv/bin/python", f"{readme}: '{interpreter} {script}'"
        assert (REPO / script).is_file(), f"{readme}: {script} does not exist"
        assert script.removeprefix("examples/") in tested, f"{readme}: {script} is not run by a test"
