"""Zero-label mode: the precision-first threshold from held-out scores, leaving sources out, preferring
real sources with labels, and the warning when more than half of a column is (or would be) flagged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iml4e_components.error_detection.detector import ErrorDetector
from iml4e_components.error_detection.features import FeatureConfig
from iml4e_components.error_detection.knowledge_base import (
    ZERO_LABEL_BINS,
    ZERO_LABEL_FALLBACK_THRESHOLD,
    HeldOutScores,
    KnowledgeBase,
    zero_label_threshold,
)
from iml4e_components.error_detection.synthetic_tables import generate_table
from iml4e_components.errors import ComponentError


@pytest.fixture(scope="module")
def suffix_kb() -> KnowledgeBase:
    """A knowledge base of one pair whose wrong `visits` cells end in ' units': its models read a
    column where every cell ends so as wrong throughout."""
    clean = generate_table("clinics", 300, 0)
    dirty = clean.copy()
    rows = np.arange(0, 300, 3)
    dirty.loc[rows, "visits"] = dirty.loc[rows, "visits"] + " units"
    return KnowledgeBase.fit([(dirty, clean)], ["units"], config=FeatureConfig(embedding_dim=4), seed=0)


def test_threshold_is_the_lowest_edge_where_held_out_cells_reach_the_precision_target() -> None:
    scores = np.array([0.55, 0.62, 0.81, 0.84, 0.93, 0.97, 0.99, 0.2])
    truth = np.array([False, False, False, True, True, True, True, False])
    held_out = {"a": HeldOutScores.of(scores, truth)}
    # At 0.82 and up: 4 of 4 wrong; at 0.81: 4 of 5 (0.8 < 0.9).
    assert zero_label_threshold(held_out) == 0.82
    assert zero_label_threshold({}) == ZERO_LABEL_FALLBACK_THRESHOLD
    nothing_right = {"b": HeldOutScores.of(np.array([0.9, 0.95]), np.array([False, False]))}
    assert zero_label_threshold(nothing_right) == 1.0
    assert held_out["a"].cells.sum() == len(scores) and held_out["a"].cells.shape == (1, ZERO_LABEL_BINS + 1)


def test_held_out_scores_round_trip_and_leave_with_their_source(
    small_kb: KnowledgeBase, tmp_path: Path
) -> None:
    held_out = {
        # A real source: reaches the target from the lowest edge (one of two cells flagged, wrong).
        "people": HeldOutScores.of(np.array([0.95, 0.3]), np.array([True, False])),
        # The synthetic sources, pooled: 0.7 is right, so only from 0.71 up is the flagged cell wrong.
        "products": HeldOutScores.of(np.array([0.8, 0.7, 0.1, 0.1]), np.array([True, False, False, False])),
        # A real source no edge makes precise (the knowledge base cannot read it): left out.
        "employees": HeldOutScores.of(np.array([0.9, 0.1]), np.array([False, False])),
    }
    kb = KnowledgeBase(
        small_kb.config, small_kb.models, small_kb.sources, synthetic_sources=["products"], held_out=held_out
    )
    loaded = KnowledgeBase.load(kb.save(tmp_path / "kb.kb"))
    assert loaded.synthetic_sources == ["products"]
    assert {s: h.errors.tolist() for s, h in loaded.held_out.items()} == {
        s: h.errors.tolist() for s, h in held_out.items()
    }
    assert [m.source for m in loaded.models] == [m.source for m in small_kb.models]
    assert loaded.zero_label_threshold == kb.zero_label_threshold == 0.71
    without = loaded.without(["products"])
    assert "products" not in without.sources and set(without.held_out) == {"people", "employees"}
    assert {m.source for m in without.models} == {"people", "employees"}
    assert without.zero_label_threshold == 0.5
    assert loaded.without(["people"]).zero_label_threshold == 0.71
    with pytest.raises(ComponentError, match="no source nope; name one of its sources: people"):
        loaded.without(["nope"])


def test_a_column_mostly_above_an_edge_does_not_count_there() -> None:
    # Every cell of the column scores 0.6: zero-label mode flags none of them up to 0.6.
    scores = np.array([[0.6, 0.9], [0.6, 0.1], [0.6, 0.1]])
    truth = np.array([[False, True], [False, False], [False, False]])
    assert zero_label_threshold({"a": HeldOutScores.of(scores, truth)}) == 0.5


def test_with_labels_real_sources_are_preferred_when_there_are_enough(small_kb: KnowledgeBase) -> None:
    kb = KnowledgeBase(small_kb.config, small_kb.models, small_kb.sources, synthetic_sources=["people"])
    profile = small_kb.models[0].profile
    n_real = sum(m.source != "people" for m in kb.models)
    chosen, _ = kb.select(profile, n_real, prefer_real=True)
    assert all(kb.models[i].source != "people" for i in chosen)
    everything, _ = kb.select(profile, n_real + 1, prefer_real=True)
    assert len(everything) == n_real + 1  # too few real models: every model competes
    assert kb.select(profile, 3)[0].tolist() == small_kb.select(profile, 3)[0].tolist()


def _rare_cells(column: pd.Series) -> int:
    """Cells whose value at most two cells of the column hold (zero-label mode scores only those)."""
    return int((column.map(column.value_counts()) <= 2).sum())


def test_warning_fires_when_more_than_half_of_a_column_scores_as_errors(suffix_kb: KnowledgeBase) -> None:
    table = generate_table("clinics", 200, 11)
    table["visits"] = table["visits"] + " units"
    rare = _rare_cells(table["visits"])
    assert rare > 100
    result = ErrorDetector(suffix_kb).detect(table, seed=1)
    visits = [w for w in result.warnings if w.startswith("column visits:")]
    assert visits == [
        f"column visits: {rare} of 200 cells ({rare / 200:.0%}) score as errors, more than half, so the knowledge "
        "base likely misreads it and none is flagged; label tuples (--clean, --labels or --interactive) to check it"
    ]
    assert (result.scores["visits"] >= result.details["threshold"]).sum() == rare
    assert not result.mask["visits"].any()  # precision first: the misread column is not flagged


def test_warning_does_not_fire_when_errors_are_the_exception(
    small_kb: KnowledgeBase, dirty_clean: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    dirty, _, _ = dirty_clean
    result = ErrorDetector(small_kb).detect(dirty, seed=1)
    assert result.warnings == []
    assert result.summary["error_rate"].max() <= 0.5


def test_detect_cli_warns_on_stderr_and_in_json(tmp_path: Path, suffix_kb: KnowledgeBase) -> None:
    from typer.testing import CliRunner

    from iml4e.cli.app import app

    kb = suffix_kb.save(tmp_path / "units.kb")
    table = generate_table("clinics", 200, 11)
    table["visits"] = table["visits"] + " units"
    path = tmp_path / "dirty.csv"
    table.to_csv(path, index=False)
    done = CliRunner().invoke(app, ["detect", str(path), "--kb", str(kb), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    rare = _rare_cells(table["visits"])
    assert any(w.startswith(f"column visits: {rare} of 200 cells") for w in data["warnings"])
    assert data["zero_label_threshold"] == ZERO_LABEL_FALLBACK_THRESHOLD  # no held-out scores in this file
    warned = [line for line in done.stderr.splitlines() if "column visits:" in line]
    assert len(warned) == 1 and warned[0].startswith(f"warning: column visits: {rare} of 200 cells")
    # The one-line-per-column promise: every warning is one stderr line.
    assert len([line for line in done.stderr.splitlines() if line.startswith("warning:")]) == len(
        data["warnings"]
    )
