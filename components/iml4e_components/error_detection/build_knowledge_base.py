"""Build the shipped knowledge base from synthetic and public benchmark dirty/clean pairs, reproducibly.

    python -m iml4e_components.error_detection.build_knowledge_base [--pairs DIR ...] [--out PATH] [--seed N]

Every synthetic table (see `synthetic_tables`) is corrupted by the project's error generator at a
few rates with different mixes of error kinds; every `DIR/<name>/{dirty,clean}.csv` pair (the shipped
file uses the Raha benchmark pairs hospital, flights and beers: origin and licence in the README) is
added as a real source. One base model is trained per column; then every source is scored in
zero-label mode without its own group (`calibration`), which sets zero-label mode's threshold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from iml4e_components.error_detection.calibration import with_held_out_scores
from iml4e_components.error_detection.injection import ERROR_KINDS, inject_errors
from iml4e_components.error_detection.knowledge_base import KnowledgeBase, default_knowledge_base_path
from iml4e_components.error_detection.pairs import find_pairs, read_pair
from iml4e_components.error_detection.synthetic_tables import SYNTHETIC_TABLES, generate_table

#: (error rate, kinds) of each corrupted copy of every synthetic table.
CORRUPTIONS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (0.03, ERROR_KINDS),
    (0.10, ("typo", "rule", "swap")),
    (0.20, ("missing", "placeholder", "format", "outlier")),
)
ROWS_PER_TABLE = 1500


def synthetic_pairs(seed: int = 0) -> tuple[list[tuple[pd.DataFrame, pd.DataFrame]], list[str]]:
    """The synthetic dirty/clean pairs of the shipped knowledge base, and their names (`TABLE-RATE-KINDS`)."""
    pairs, names = [], []
    for t, name in enumerate(sorted(SYNTHETIC_TABLES)):
        clean = generate_table(name, ROWS_PER_TABLE, seed + t)
        for c, (rate, kinds) in enumerate(CORRUPTIONS):
            dirty, _ = inject_errors(clean, rate, list(kinds), seed=seed * 1000 + t * 10 + c)
            pairs.append((dirty, clean))
            names.append(f"{name}-{rate:.2f}-{'+'.join(kinds) if len(kinds) < len(ERROR_KINDS) else 'all'}")
    return pairs, names


def clean_table_group(name: str, synthetic: set[str]) -> str:
    """Sources sharing a clean table form a group (held out together): a synthetic pair's group is its
    table, a real pair is a group of its own."""
    return name.split("-", 1)[0] if name in synthetic else name


def build_default_knowledge_base(
    out: Path, seed: int = 0, pair_dirs: list[Path] | None = None
) -> KnowledgeBase:
    pairs, names = synthetic_pairs(seed)
    synthetic = set(names)
    real = find_pairs(pair_dirs) if pair_dirs else {}
    clash = sorted(synthetic & set(real))
    if clash:
        raise SystemExit(f"pair names {clash} clash with synthetic sources; rename those folders")
    pairs += [read_pair(dirty, clean) for dirty, clean in real.values()]
    names += list(real)
    knowledge_base = KnowledgeBase.fit(pairs, names, seed=seed)
    knowledge_base.synthetic_sources = [n for n in names if n in synthetic]
    knowledge_base = with_held_out_scores(
        knowledge_base,
        pairs,
        names,
        group_of=lambda name: clean_table_group(name, synthetic),
        progress=lambda name: print(f"held-out zero-label scores: {name}", file=sys.stderr),  # noqa: T201 - module CLI
    )
    knowledge_base.save(out)
    return knowledge_base


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=default_knowledge_base_path())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pairs", type=Path, nargs="*", default=[], help="folders of real DIR/<name>/{dirty,clean}.csv pairs"
    )
    args = parser.parse_args(argv)
    knowledge_base = build_default_knowledge_base(args.out, args.seed, args.pairs)
    size = args.out.stat().st_size
    print(  # noqa: T201 - module CLI
        f"wrote {args.out}: {len(knowledge_base.models)} base models from {len(knowledge_base.sources)} pairs, "
        f"zero-label threshold {knowledge_base.zero_label_threshold:.2f}, {size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
