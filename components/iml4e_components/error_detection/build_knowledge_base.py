"""Build the default knowledge base from synthetic dirty/clean pairs, reproducibly.

    python -m iml4e_components.error_detection.build_knowledge_base [--out PATH] [--seed N]

Every synthetic table (see `synthetic_tables`) is corrupted by the project's error generator at a
few rates with different mixes of error kinds; one base model is trained per column.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from iml4e_components.error_detection.injection import ERROR_KINDS, inject_errors
from iml4e_components.error_detection.knowledge_base import KnowledgeBase, default_knowledge_base_path
from iml4e_components.error_detection.synthetic_tables import SYNTHETIC_TABLES, generate_table

#: (error rate, kinds) of each corrupted copy of every synthetic table.
CORRUPTIONS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (0.03, ERROR_KINDS),
    (0.10, ("typo", "rule", "swap")),
    (0.20, ("missing", "placeholder", "format", "outlier")),
)
ROWS_PER_TABLE = 1500


def synthetic_pairs(seed: int = 0) -> tuple[list[tuple[pd.DataFrame, pd.DataFrame]], list[str]]:
    """The dirty/clean pairs the default knowledge base is trained on, and their names."""
    pairs, names = [], []
    for t, name in enumerate(sorted(SYNTHETIC_TABLES)):
        clean = generate_table(name, ROWS_PER_TABLE, seed + t)
        for c, (rate, kinds) in enumerate(CORRUPTIONS):
            dirty, _ = inject_errors(clean, rate, list(kinds), seed=seed * 1000 + t * 10 + c)
            pairs.append((dirty, clean))
            names.append(f"{name}-{rate:.2f}-{'+'.join(kinds) if len(kinds) < len(ERROR_KINDS) else 'all'}")
    return pairs, names


def build_default_knowledge_base(out: Path, seed: int = 0) -> KnowledgeBase:
    pairs, names = synthetic_pairs(seed)
    knowledge_base = KnowledgeBase.fit(pairs, names, seed=seed)
    knowledge_base.save(out)
    return knowledge_base


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=default_knowledge_base_path())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    knowledge_base = build_default_knowledge_base(args.out, args.seed)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {len(knowledge_base.models)} base models, {size / 1e6:.2f} MB")  # noqa: T201 - module CLI


if __name__ == "__main__":
    main()
