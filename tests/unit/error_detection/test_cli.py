"""`iml4e detect` and `iml4e errors inject` through the CLI runner (small knowledge base from conftest)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e_components.error_detection.synthetic_tables import generate_table

runner = CliRunner()


def _clean_csv(tmp_path: Path) -> Path:
    path = tmp_path / "clean.csv"
    generate_table("clinics", 120, 4).to_csv(path, index=False)
    return path


def test_inject_then_detect_with_clean_prints_scores_and_writes_mask_and_report(
    tmp_path: Path, small_kb_file: Path
) -> None:
    clean = _clean_csv(tmp_path)
    dirty, injected = tmp_path / "dirty.csv", tmp_path / "injected.csv"
    done = runner.invoke(
        app,
        [
            "errors",
            "inject",
            str(clean),
            "--rate",
            "0.05",
            "--kinds",
            "typo,missing,rule",
            "-o",
            str(dirty),
            "--mask",
            str(injected),
            "--seed",
            "3",
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["corrupted_cells"] == pd.read_csv(injected).to_numpy().sum() > 0
    mask, report = tmp_path / "mask.csv", tmp_path / "report.html"
    done = runner.invoke(
        app,
        [
            "detect",
            str(dirty),
            "--clean",
            str(clean),
            "--budget",
            "10",
            "--seed",
            "1",
            "--kb",
            str(small_kb_file),
            "-o",
            str(mask),
            "--report",
            str(report),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert set(data["scores"]) >= {"precision", "recall", "f1"} and len(data["labeled_rows"]) == 10
    written = pd.read_csv(mask)
    assert written.shape == pd.read_csv(dirty, dtype=str, keep_default_na=False).shape
    assert int(written.to_numpy().sum()) == data["flagged_cells"]
    assert "<svg" in report.read_text()


def test_detect_with_a_labels_file_uses_the_labeled_rows(tmp_path: Path, small_kb_file: Path) -> None:
    clean = _clean_csv(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("row,column,error\n0,city,1\n5,city,0\n9,0,0\n")
    done = runner.invoke(
        app, ["detect", str(clean), "--labels", str(labels), "--kb", str(small_kb_file), "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["labeled_rows"] == [0, 5, 9]


def test_detect_zero_label_mode_without_oracle(tmp_path: Path, small_kb_file: Path) -> None:
    done = runner.invoke(app, ["detect", str(_clean_csv(tmp_path)), "--kb", str(small_kb_file), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["mode"] == "zero-label"


def test_bad_inputs_exit_2_with_one_line_and_leave_no_output(tmp_path: Path, small_kb_file: Path) -> None:
    clean = _clean_csv(tmp_path)
    short = tmp_path / "short.csv"
    pd.read_csv(clean, dtype=str, keep_default_na=False).head(5).to_csv(short, index=False)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,b\nK\xf6lsch,1\n".encode("latin-1"))
    old_kb = tmp_path / "old.kb"
    old_kb.write_text("not a knowledge base")
    mask = tmp_path / "out" / "mask.csv"
    mask.parent.mkdir()
    cases = [
        ["detect", str(short), "--clean", str(clean)],
        ["detect", str(latin)],
        ["detect", str(short), "--clean", str(short), "--budget", "50"],
        ["detect", str(clean), "--kb", str(old_kb)],
        ["detect", str(clean), "--clean", str(clean), "--interactive"],
        [
            "errors",
            "inject",
            str(clean),
            "--kinds",
            "typo,gremlin",
            "-o",
            str(tmp_path / "out" / "dirty.csv"),
        ],
    ]
    for args in cases:
        done = runner.invoke(app, [*args, "-o", str(mask)] if args[0] == "detect" else args)
        assert done.exit_code == 2, (args, done.output)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.output
    assert list(mask.parent.iterdir()) == []
