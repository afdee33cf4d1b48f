"""A small knowledge base fitted once on generated pairs, so detector tests stay fast."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from iml4e_components.error_detection.features import FeatureConfig
from iml4e_components.error_detection.injection import inject_errors
from iml4e_components.error_detection.knowledge_base import KnowledgeBase
from iml4e_components.error_detection.synthetic_tables import generate_table


@pytest.fixture(scope="session")
def small_kb() -> KnowledgeBase:
    pairs = []
    for seed, name in enumerate(["people", "products", "employees"]):
        clean = generate_table(name, 300, seed)
        dirty, _ = inject_errors(
            clean, 0.1, ["typo", "missing", "placeholder", "format", "outlier", "rule"], seed
        )
        pairs.append((dirty, clean))
    return KnowledgeBase.fit(
        pairs, ["people", "products", "employees"], config=FeatureConfig(embedding_dim=4), seed=0
    )


@pytest.fixture(scope="session")
def small_kb_file(small_kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_kb.save(tmp_path_factory.mktemp("kb") / "small.kb")


@pytest.fixture(scope="session")
def dirty_clean() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    clean = generate_table("clinics", 200, 11)
    dirty, mask = inject_errors(clean, 0.05, ["typo", "missing", "placeholder", "rule"], 3)
    return dirty, clean, mask
