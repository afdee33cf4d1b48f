"""Golden compiled pipelines: every pipeline's KFP IR YAML, kept under `pipelines/golden/`.

    make golden                                              # regenerate after an intended change
    PYTHONPATH=tests python -m golden_files.compile_pipelines  # exit 1 and name the pipelines that differ

Volatile fields (the KFP SDK version, the component image, which depends on the release and on
IML4E_COMPONENT_IMAGE) are masked so the files change only when a pipeline or component does.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from iml4e_components.output_files import write_text_atomically
from iml4e_pipelines import PIPELINES, load_pipeline

GOLDEN_DIR = Path(__file__).resolve().parent / "pipelines"
MASK = "<masked>"


def _mask(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (MASK if key in ("sdkVersion", "image") else _mask(value)) for key, value in node.items()
        }
    if isinstance(node, list):
        return [_mask(item) for item in node]
    if isinstance(node, str):
        return re.sub(r"kfp==[\w.]+", "kfp==" + MASK, node)
    return node


def compile_masked(name: str) -> str:
    """The pipeline `name` compiled to KFP IR YAML, volatile fields masked."""
    from kfp import compiler

    with tempfile.TemporaryDirectory(prefix="iml4e-golden-") as folder:
        path = Path(folder) / f"{name}.yaml"
        compiler.Compiler().compile(load_pipeline(name), str(path))
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    return yaml.safe_dump_all([_mask(d) for d in documents], sort_keys=True, width=120)


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.yaml"


def differing(names: list[str] | None = None) -> list[str]:
    """Pipelines whose compiled form differs from (or lacks) its golden file."""
    return [
        n
        for n in names or list(PIPELINES)
        if not golden_path(n).is_file() or golden_path(n).read_text(encoding="utf-8") != compile_masked(n)
    ]


def update(names: list[str] | None = None) -> list[Path]:
    """Rewrite the golden files (atomically) and return their paths."""
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(PIPELINES):
        target = golden_path(name)
        write_text_atomically(target, compile_masked(name), "golden file")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m golden_files.compile_pipelines", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--update", action="store_true", help="rewrite the golden files")
    parser.add_argument("names", nargs="*", help="pipelines (default: all)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in PIPELINES]
    if unknown:
        sys.stderr.write(f"error: unknown pipeline(s) {', '.join(unknown)}; known: {', '.join(PIPELINES)}\n")
        return 2
    if args.update:
        for path in update(args.names):
            sys.stderr.write(f"wrote {path}\n")
        return 0
    stale = differing(args.names)
    if stale:
        sys.stderr.write(
            f"compiled pipelines differ from their golden files: {', '.join(stale)}; "
            "review the change and run 'make golden'\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
