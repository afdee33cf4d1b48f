"""Held-out zero-label scores for a knowledge base: what sets zero-label mode's threshold honestly.

Each source pair is scored in zero-label mode by the knowledge base without that source's group (the
pairs that share its clean table), and the counts of its cells and wrong cells per score bin are kept
in the knowledge base (`HeldOutScores`). `KnowledgeBase.zero_label_threshold` then picks the lowest
threshold at which those held-out cells reach the precision target; `KnowledgeBase.without(name)`
drops a source's counts with its models, so a pair is never scored at a threshold set on itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from iml4e_components.error_detection.detector import ErrorDetector
from iml4e_components.error_detection.evaluator import actual_errors
from iml4e_components.error_detection.knowledge_base import HeldOutScores, KnowledgeBase

#: Seed of the held-out zero-label runs (embeddings and samples of the scored table).
CALIBRATION_SEED = 1


def with_held_out_scores(
    knowledge_base: KnowledgeBase,
    pairs: Sequence[tuple[pd.DataFrame, pd.DataFrame]],
    names: Sequence[str],
    group_of: Callable[[str], str] = str,
    progress: Callable[[str], None] | None = None,
) -> KnowledgeBase:
    """`knowledge_base` with the held-out zero-label scores of each of its sources `names` (dirty and
    clean tables in `pairs`), each scored without the sources of its group (`group_of(name)`). A
    group that holds every model of the knowledge base is skipped (nothing is left to score it)."""
    held_out = dict(knowledge_base.held_out)
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        groups.setdefault(group_of(name), []).append(index)
    for members in groups.values():
        left_out = [names[i] for i in members]
        if {m.source for m in knowledge_base.models} <= set(left_out):
            continue
        detector = ErrorDetector(knowledge_base.without(left_out))
        for i in members:
            dirty, clean = pairs[i]
            scores = detector.detect(dirty, seed=CALIBRATION_SEED).scores.to_numpy()
            held_out[names[i]] = HeldOutScores.of(scores, actual_errors(dirty, clean))
            if progress is not None:
                progress(names[i])
    return KnowledgeBase(
        knowledge_base.config,
        knowledge_base.models,
        knowledge_base.sources,
        knowledge_base.version,
        knowledge_base.synthetic_sources,
        held_out,
    )
