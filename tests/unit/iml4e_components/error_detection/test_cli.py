"""`iml4e detect` and `iml4e errors inject` through the CLI runner (small knowledge base from conftest)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from iml4e.cli.app import app
from iml4e_components.error_detection.injection import inject_errors
from iml4e_components.error_detection.knowledge_base import KnowledgeBase, load_default_knowledge_base
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
    page = report.read_text()
    assert "<svg" in page and f"against the clean table {clean.name}" in page
    # the report shows the same precision, recall and F1 as the JSON
    for name in ("precision", "recall", "f1"):
        assert f"<td>{data['scores'][name]:.3f}</td>" in page


def test_detect_with_a_labels_file_uses_the_labeled_rows(tmp_path: Path, small_kb_file: Path) -> None:
    clean = _clean_csv(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("row,column,error\n0,city,1\n5,city,0\n9,0,0\n")
    done = runner.invoke(
        app, ["detect", str(clean), "--labels", str(labels), "--kb", str(small_kb_file), "--json"]
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["labeled_rows"] == [0, 5, 9]
    # scored on the labeled rows only: the table is clean apart from the one cell labelled wrong
    scores = data["scores"]
    assert scores["actual_errors"] == 1 and "3 labeled rows" in scores["measured_on"]
    assert "optimistic" in scores["measured_on"]


def test_the_report_says_how_to_get_scores_when_there_is_nothing_to_score_against(
    tmp_path: Path, small_kb_file: Path
) -> None:
    report = tmp_path / "report.html"
    done = runner.invoke(
        app, ["detect", str(_clean_csv(tmp_path)), "--kb", str(small_kb_file), "--report", str(report)]
    )
    assert done.exit_code == 0, done.output
    assert "give a clean table (<code>--clean</code>) or labels" in report.read_text()


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


def _pair_folders(root: Path) -> Path:
    """root/<name>/{dirty,clean}.csv for two generated tables, as the benchmark data is laid out."""
    for seed, name in enumerate(["people", "products"]):
        clean = generate_table(name, 200, seed)
        dirty, _ = inject_errors(clean, 0.1, ["typo", "missing", "placeholder", "rule"], seed)
        (root / name).mkdir(parents=True)
        clean.to_csv(root / name / "clean.csv", index=False)
        dirty.to_csv(root / name / "dirty.csv", index=False)
    return root


def test_errors_fit_writes_a_knowledge_base_that_detect_uses(tmp_path: Path) -> None:
    pairs = _pair_folders(tmp_path / "history")
    kb = tmp_path / "mine.kb"
    done = runner.invoke(app, ["errors", "fit", str(pairs), "-o", str(kb), "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["pairs"] == ["people", "products"]
    knowledge_base = KnowledgeBase.load(kb)
    assert len(knowledge_base.models) == data["base_models"] > 0
    assert {m.name.split(":")[0] for m in knowledge_base.models} == {"people", "products"}
    done = runner.invoke(app, ["detect", str(_clean_csv(tmp_path)), "--kb", str(kb), "--json"])
    assert done.exit_code == 0, done.output
    # One pair folder given directly, plus the shipped default's base models.
    done = runner.invoke(
        app, ["errors", "fit", str(pairs / "people"), "--with-default", "-o", str(kb), "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["base_models"] > len(load_default_knowledge_base().models)


def test_errors_fit_logs_the_knowledge_base_to_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)  # a sqlite store keeps artifacts under ./mlruns
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    pairs = _pair_folders(tmp_path / "history")
    done = runner.invoke(app, ["errors", "fit", str(pairs), "-o", str(tmp_path / "kb"), "--mlflow", "--json"])
    assert done.exit_code == 0, done.output
    run_id = json.loads(done.stdout)["mlflow_run_id"]
    artifacts = mlflow.MlflowClient().list_artifacts(run_id, "knowledge_base")
    assert [a.path for a in artifacts] == ["knowledge_base/kb"]


def test_errors_fit_bad_inputs_exit_2_and_write_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    pairs = _pair_folders(tmp_path / "history")
    again = _pair_folders(tmp_path / "again")  # the same pair names a second time
    kb = tmp_path / "out" / "kb"
    kb.parent.mkdir()
    for folders in ([str(empty)], [str(tmp_path / "missing")], [str(pairs), str(again)]):
        done = runner.invoke(app, ["errors", "fit", *folders, "-o", str(kb)])
        assert done.exit_code == 2, (folders, done.output)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(kb.parent.iterdir()) == []


def test_a_bad_second_output_path_leaves_no_first_output(tmp_path: Path, small_kb_file: Path) -> None:
    """Every output path is checked before the first is written: exit 2 and nothing left behind."""
    clean = _clean_csv(tmp_path)
    mask = tmp_path / "mask.csv"
    done = runner.invoke(
        app, ["detect", str(clean), "--kb", str(small_kb_file), "-o", str(mask), "--report", "nodir/r.html"]
    )
    assert done.exit_code == 2 and "nodir" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    dirty = tmp_path / "dirty.csv"
    done = runner.invoke(
        app, ["errors", "inject", str(clean), "-o", str(dirty), "--mask", str(tmp_path / "nodir" / "m.csv")]
    )
    assert done.exit_code == 2 and "nodir" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.csv"]
