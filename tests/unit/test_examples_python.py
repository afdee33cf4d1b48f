"""An example run with a Python that lacks iml4e (the system one) says which command to use, in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "script", sorted(p.relative_to(EXAMPLES) for p in EXAMPLES.glob("*/run.py")), ids=str
)
def test_an_example_outside_the_environment_names_the_readme_command(script: Path) -> None:
    # -S -E: this interpreter without its site-packages or PYTHONPATH, as a bare system Python would be.
    done = subprocess.run(
        [sys.executable, "-S", "-E", str(EXAMPLES / script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"`.venv/bin/python examples/{script}`" in done.stderr
    readme = (EXAMPLES.parent / "README.md").read_text()
    assert f"`.venv/bin/python examples/{script}`" in readme
