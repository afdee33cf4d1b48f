"""`iml4e detect` (find erroneous cells), `iml4e errors inject` (the error generator) and
`iml4e errors fit` (a knowledge base from your own historical dirty/clean pairs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from iml4e import console
from iml4e.cli.options import JSON_OPTION
from iml4e.errors import UsageError

if TYPE_CHECKING:
    from iml4e_components.error_detection.detector import BlockSink, DetectionResult

errors_app = typer.Typer(
    name="errors",
    help="Generate dirty test data from clean tables; fit error-detection knowledge bases.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
    errors_app.command("inject")(inject)
    errors_app.command("fit")(fit)
    app.add_typer(errors_app, name="errors")


def _show_tuple(row: int, values: Sequence[str], columns: Sequence[str]) -> None:
    console.err.print(f"\ntuple at row {row}:", highlight=False)
    for position, (name, value) in enumerate(zip(columns, values, strict=True)):
        console.err.print(f"  [{position}] {name} = {value!r}", highlight=False, markup=False)


def _ask(prompt: str) -> str:
    return str(typer.prompt(prompt, default="", show_default=False, err=True))


def detect(
    dirty: Path = typer.Argument(..., help="The table to check (CSV; every cell is read as a string)."),
    clean: Path = typer.Option(
        None, "--clean", help="A clean version of the table: labels tuples, and scores the result."
    ),
    labels: Path = typer.Option(
        None, "--labels", help="A labels file with header row,column,error (0-based rows)."
    ),
    interactive: bool = typer.Option(
        False, "--interactive", help="Ask you which cells of each chosen tuple are wrong."
    ),
    budget: int = typer.Option(20, "--budget", help="Tuples to label (with --clean or --interactive)."),
    seed: int = typer.Option(42, "--seed", help="Seed: the same seed gives the same result."),
    kb: Path = typer.Option(None, "--kb", help="Knowledge base file (default: the one shipped with iml4e)."),
    kb_exclude: list[str] = typer.Option(
        [],
        "--kb-exclude",
        help="Leave out the base models of this knowledge-base source (repeatable), e.g. to score a "
        "table the knowledge base was fitted on (the README's leave-one-out figures).",
    ),
    output: Path = typer.Option(None, "-o", "--output", help="Write the 0/1 cell mask to this CSV."),
    report: Path = typer.Option(
        None, "--report", help="Write an HTML report (heatmap, most suspicious cells)."
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local: this process. ray: blocks of rows as Ray tasks (a local Ray, or --ray-address); same mask.",
    ),
    ray_address: str = typer.Option(
        None,
        "--ray-address",
        help="With --engine ray: a running Ray cluster (auto, ray://HOST:PORT or HOST:PORT); default: start a local Ray.",
    ),
    block_rows: int = typer.Option(
        None, "--block-rows", min=1, help="With --engine ray: rows per block (default 100000)."
    ),
    ray_max_retries: int = typer.Option(
        2, "--ray-max-retries", min=0, help="With --engine ray: retries of a block whose worker died."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Find the erroneous cells of DIRTY.csv (SAGED meta-learning; without labels, zero-label mode)."""
    if (clean is not None) + (labels is not None) + interactive > 1:
        raise UsageError("--clean, --labels and --interactive exclude each other; pass at most one")
    if engine != "ray" and (ray_address is not None or block_rows is not None):
        raise UsageError("--ray-address and --block-rows need --engine ray")
    from iml4e_components.error_detection.engines import engine_named

    chosen = engine_named(engine, ray_address, block_rows=block_rows, max_retries=ray_max_retries)
    from iml4e_components.output_files import check_output_paths, write_text_atomically

    check_output_paths((output, "mask"), (report, "report"))
    from iml4e_components.error_detection.evaluator import actual_errors, score_cells
    from iml4e_components.error_detection.memory_check import check_detection_fits
    from iml4e_components.error_detection.oracles import (
        CleanTableOracle,
        InteractiveOracle,
        LabelsFileOracle,
        Oracle,
    )
    from iml4e_components.error_detection.report import render_report
    from iml4e_components.error_detection.service import detect_table, load_knowledge_base, write_mask_csv
    from iml4e_components.error_detection.tables import check_same_shape, read_string_table

    if ray_address is None:  # the blocks run on this machine
        check_detection_fits(dirty, "dirty table", with_clean=clean)
    table = read_string_table(dirty, what="dirty table", compact=True)
    clean_table = None
    oracle: Oracle | None = None
    if clean is not None:
        clean_table = read_string_table(clean, what="clean table", compact=True)
        check_same_shape(table, clean_table)
        oracle = CleanTableOracle(clean_table)
    elif labels is not None:
        oracle = LabelsFileOracle(labels)
    elif interactive:
        oracle = InteractiveOracle(_show_tuple, _ask)
    knowledge_base = load_knowledge_base(kb)
    if kb_exclude:
        knowledge_base = knowledge_base.without(kb_exclude)
    # The whole mask stays in memory only when the report or the scores need it.
    keep_mask = report is not None or clean_table is not None or labels is not None

    def detect_with(sink: BlockSink | None) -> DetectionResult:
        return detect_table(
            table, budget, seed, oracle, knowledge_base, engine=chosen, sink=sink, keep_mask=keep_mask
        )

    def run() -> DetectionResult:
        if output is None:
            return detect_with(None)
        return write_mask_csv(output, [str(c) for c in table.columns], detect_with)

    with chosen:
        if interactive:
            result = run()
        else:
            with console.err.status(
                f"detecting errors in {dirty.name} ({table.shape[0]} rows x {table.shape[1]} columns, "
                f"{engine} engine)..."
            ):
                result = run()
    scores, scored_on = None, ""
    if clean_table is not None:
        scores = score_cells(result.mask.to_numpy(), actual_errors(table, clean_table))
        scored_on = f"every cell, against the clean table {clean.name}" if clean is not None else "every cell"
    elif isinstance(oracle, LabelsFileOracle) and result.labeled_rows:
        import numpy as np

        rows = list(result.labeled_rows)
        truth = np.array([oracle(r, [], [str(c) for c in table.columns]) for r in rows], dtype=bool)
        scores = score_cells(result.mask.to_numpy()[rows], truth)
        scored_on = f"the {len(rows)} labeled rows, which also trained the detector (so it is optimistic)"
    if report is not None:
        page = render_report(table, result, f"Error detection: {dirty.name}", scores, scored_on)
        write_text_atomically(report, page, "detection report")
    data: dict[str, Any] = {
        "table": str(dirty),
        "engine": engine,
        "mode": result.mode,
        "rows": table.shape[0],
        "columns": table.shape[1],
        "flagged_cells": result.n_detected,
        "labeled_rows": result.labeled_rows,
        "per_column": result.summary.to_dict(orient="records"),
        "warnings": result.warnings,
    }
    if result.mode == "zero-label":
        data["zero_label_threshold"] = result.details["threshold"]
    if scores is not None:
        data["scores"] = {**scores.as_dict(), "measured_on": scored_on}
    if output is not None:
        data["mask"] = str(output)
    if report is not None:
        data["report"] = str(report)
    from rich.markup import escape

    for warning in result.warnings:
        console.warn(escape(warning))
    if json_output:
        console.print_json(data)
        return
    console.print_table(
        f"{result.n_detected} flagged cells in {dirty.name} ({result.mode})",
        ["column", "flagged", "share", "mean score"],
        [
            (r["column"], r["errors"], f"{r['error_rate']:.2%}", f"{r['mean_score']:.3f}")
            for r in data["per_column"]
        ],
    )
    if "scores" in data:
        s = data["scores"]
        console.print_table(
            f"measured on {s['measured_on']}",
            ["precision", "recall", "F1"],
            [(f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}")],
        )
    for name in ("mask", "report"):
        if name in data:
            console.info(f"{name}: {data[name]}")


def inject(
    clean: Path = typer.Argument(..., help="The clean table (CSV)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the dirty table (CSV)."),
    rate: float = typer.Option(0.05, "--rate", help="Share of cells to corrupt, in (0, 1]."),
    kinds: str = typer.Option(
        "typo,missing,placeholder,format,outlier,swap,rule", "--kinds", help="Comma-separated error kinds."
    ),
    seed: int = typer.Option(42, "--seed", help="Seed: the same seed gives the same errors."),
    mask: Path = typer.Option(None, "--mask", help="Also write the 0/1 mask of corrupted cells to this CSV."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Corrupt CLEAN.csv with known errors (typo, missing, placeholder, format, outlier, swap, rule)."""
    from iml4e_components.error_detection.injection import inject_errors
    from iml4e_components.error_detection.tables import read_string_table, write_csv_atomically
    from iml4e_components.output_files import check_output_paths

    check_output_paths((output, "dirty table"), (mask, "mask"))
    table = read_string_table(clean, what="clean table", min_columns=1)
    dirty, corrupted = inject_errors(table, rate, [k.strip() for k in kinds.split(",") if k.strip()], seed)
    write_csv_atomically(dirty, output)
    if mask is not None:
        write_csv_atomically(corrupted.astype("int8"), mask)
    data = {
        "clean": str(clean),
        "dirty": str(output),
        "corrupted_cells": int(corrupted.to_numpy().sum()),
        "cells": int(corrupted.size),
    }
    if mask is not None:
        data["mask"] = str(mask)
    if json_output:
        console.print_json(data)
        return
    console.info(f"corrupted {data['corrupted_cells']} of {data['cells']} cells")
    console.print_data(str(output))


def fit(
    folders: list[Path] = typer.Argument(
        ..., help="Folders holding dirty.csv and clean.csv of one table, or folders of such folders."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the knowledge base file."),
    with_default: bool = typer.Option(
        False, "--with-default", help="Also keep the base models of the knowledge base shipped with iml4e."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed: the same pairs and seed give the same knowledge base."),
    log_to_mlflow: bool = typer.Option(
        False,
        "--mlflow",
        help="Log the file as an artifact to MLflow (MLFLOW_TRACKING_URI, else the local platform).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Fit a knowledge base (one base model per historical column) for `iml4e detect --kb`."""
    from iml4e_components.error_detection.knowledge_base import (
        KnowledgeBase,
        load_default_knowledge_base,
        log_knowledge_base_to_mlflow,
    )
    from iml4e_components.error_detection.pairs import find_pairs, read_pair
    from iml4e_components.output_files import check_output_paths

    check_output_paths((output, "knowledge base"))
    pairs = find_pairs(folders)
    tables = [read_pair(dirty, clean) for dirty, clean in pairs.values()]
    from iml4e_components.error_detection.calibration import with_held_out_scores

    with console.err.status(f"fitting base models on {len(tables)} dirty/clean pairs...") as status:
        knowledge_base = KnowledgeBase.fit(tables, list(pairs), seed=seed)
        if with_default:
            knowledge_base = knowledge_base.extended(load_default_knowledge_base())
        # Each pair scored in zero-label mode without its own models sets the zero-label threshold.
        knowledge_base = with_held_out_scores(
            knowledge_base,
            tables,
            list(pairs),
            progress=lambda name: status.update(f"held-out zero-label scores: {name} done..."),
        )
    knowledge_base.save(output)
    data: dict[str, Any] = {
        "knowledge_base": str(output),
        "pairs": list(pairs),
        "base_models": len(knowledge_base.models),
        "zero_label_threshold": knowledge_base.zero_label_threshold,
        "bytes": output.stat().st_size,
    }
    if log_to_mlflow:
        from iml4e.local.platform import use_tracking_server

        data["mlflow_tracking_uri"] = use_tracking_server("'iml4e errors fit --mlflow'")
        data["mlflow_run_id"] = log_knowledge_base_to_mlflow(output)
    if json_output:
        console.print_json(data)
        return
    console.info(
        f"{data['base_models']} base models from {len(pairs)} pairs ({', '.join(pairs)}); "
        f"use it with: iml4e detect DIRTY.csv --kb {output}"
    )
    if log_to_mlflow:
        console.info(f"logged to MLflow run {data['mlflow_run_id']} ({data['mlflow_tracking_uri']})")
    console.print_data(str(output))
