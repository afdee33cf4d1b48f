"""Zero-label mode is precision first on a real table: `iml4e detect` on the Raha benchmark's hospital
pair, no labels, with the shipped knowledge base minus its hospital models (`--kb-exclude hospital`,
so neither the base models nor the threshold saw the table). The whole table (1,000 x 20) runs: a few
seconds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e_components.error_detection.evaluator import load_error_mask, score_cells
from iml4e_components.error_detection.knowledge_base import load_default_knowledge_base
from iml4e_components.error_detection.service import read_mask

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
#: The shared dirty/clean pairs (see their README), found as benchmarks/error_detection.py finds them.
SHARED_PAIRS = Path(os.environ.get("IML4E_ED_DATA", ROOT.parent / "shared" / "datasets" / "error-detection"))


def test_zero_label_precision_on_hospital_with_the_shipped_knowledge_base(tmp_path: Path) -> None:
    folder = SHARED_PAIRS / "hospital"
    if not (folder / "dirty.csv").is_file():
        pytest.skip(f"shared pair {folder} not found; set IML4E_ED_DATA")
    assert "hospital" in load_default_knowledge_base().sources
    mask = tmp_path / "mask.csv"
    done = CliRunner().invoke(
        app,
        [
            "detect",
            str(folder / "dirty.csv"),
            "--kb-exclude",
            "hospital",
            "--seed",
            "1",
            "-o",
            str(mask),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["mode"] == "zero-label" and data["labeled_rows"] == []
    scores = score_cells(
        read_mask(mask).to_numpy(), load_error_mask(folder / "dirty.csv", folder / "clean.csv")
    )
    assert scores.precision >= 0.8, scores
    assert scores.true_positives >= 50, scores  # precision first, not precision by flagging nothing
