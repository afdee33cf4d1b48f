"""The HTML report of a detection: a heatmap of flagged cells by column and row block, the per-column
summary and the most suspicious cells, in one self-contained file (inline SVG, no scripts)."""

from __future__ import annotations

import html
import itertools

import numpy as np
import pandas as pd

from iml4e_components.error_detection.detector import DetectionResult
from iml4e_components.error_detection.evaluator import CellScores

MAX_BLOCKS = 40
TOP_CELLS = 25


def heatmap_svg(mask: np.ndarray, columns: list[str], max_blocks: int = MAX_BLOCKS) -> str:
    """An SVG heatmap: one column per table column, one row per block of table rows; colour = share
    of flagged cells in the block."""
    n_rows, n_columns = mask.shape
    blocks = max(1, min(max_blocks, n_rows))
    edges = np.linspace(0, n_rows, blocks + 1).astype(int)
    shares = np.vstack(
        [mask[a:b].mean(axis=0) if b > a else np.zeros(n_columns) for a, b in itertools.pairwise(edges)]
    )
    top = max(float(shares.max()), 1e-9)
    cell_w, cell_h, left, head = 34, 14, 90, 120
    width, height = left + cell_w * n_columns + 10, head + cell_h * blocks + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">'
    ]
    for j, name in enumerate(columns):
        x = left + j * cell_w + cell_w / 2
        parts.append(
            f'<text transform="translate({x},{head - 6}) rotate(-60)">{html.escape(name[:24])}</text>'
        )
    for b in range(blocks):
        y = head + b * cell_h
        parts.append(f'<text x="4" y="{y + cell_h - 3}">rows {edges[b]}-{edges[b + 1] - 1}</text>')
        for j in range(n_columns):
            share = shares[b, j]
            level = int(255 - 215 * (share / top)) if share > 0 else 255
            colour = f"rgb(255,{level},{level})" if share > 0 else "rgb(245,247,250)"
            parts.append(
                f'<rect x="{left + j * cell_w}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" fill="{colour}">'
                f"<title>{html.escape(columns[j])}, rows {edges[b]}-{edges[b + 1] - 1}: {share:.1%} flagged</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def suspicious_cells(table: pd.DataFrame, result: DetectionResult, top: int = TOP_CELLS) -> pd.DataFrame:
    """The `top` flagged cells with the highest scores (row, column, value, score)."""
    scores = result.scores.to_numpy()
    flat = np.where(result.mask.to_numpy().ravel(), scores.ravel(), -1.0)
    order = np.argsort(-flat, kind="stable")[:top]
    order = order[flat[order] >= 0]
    rows, cols = np.divmod(order, scores.shape[1])
    return pd.DataFrame(
        {
            "row": rows,
            "column": [str(table.columns[c]) for c in cols],
            # Cell by cell: a compact table is never expanded into one object per cell.
            "value": [str(table.iat[int(r), int(c)]) for r, c in zip(rows, cols, strict=True)],
            "score": scores[rows, cols].round(3),
        }
    )


def _scores_html(scores: CellScores | None, scored_on: str) -> str:
    if scores is None:
        return "<p>No precision or recall: give a clean table (<code>--clean</code>) or labels to measure them.</p>"
    return (
        f"<h2>Detection quality</h2><p>Measured on {html.escape(scored_on)}.</p>"
        '<table class="scores"><tr><th>precision</th><th>recall</th><th>F1</th>'
        "<th>flagged right</th><th>flagged wrongly</th><th>missed</th></tr>"
        f"<tr><td>{scores.precision:.3f}</td><td>{scores.recall:.3f}</td><td>{scores.f1:.3f}</td>"
        f"<td>{scores.true_positives}</td><td>{scores.false_positives}</td><td>{scores.false_negatives}</td></tr>"
        "</table>"
    )


def render_report(
    table: pd.DataFrame,
    result: DetectionResult,
    title: str = "Error detection report",
    scores: CellScores | None = None,
    scored_on: str = "",
) -> str:
    """The HTML report; `scores` (measured on `scored_on`) add precision, recall and F1."""
    columns = [str(c) for c in table.columns]
    summary = result.summary.copy()
    summary["error_rate"] = (summary["error_rate"] * 100).round(2).astype(str) + "%"
    summary[["mean_score", "max_score"]] = summary[["mean_score", "max_score"]].round(3)
    flagged = result.n_detected
    mode = (
        "zero-label (knowledge base only)"
        if result.mode == "zero-label"
        else f"{len(result.labeled_rows)} labeled tuples"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#223}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccd;padding:3px 8px;font-size:13px}} th{{background:#eef}} .big{{font-size:20px}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p class="big"><b>{flagged}</b> of {result.mask.size} cells flagged ({flagged / max(result.mask.size, 1):.2%}),
{table.shape[0]} rows x {table.shape[1]} columns; mode: {html.escape(mode)}.</p>
{_scores_html(scores, scored_on)}
<h2>Where the errors are</h2><p>Share of flagged cells per column and block of rows (darker = more).</p>
{heatmap_svg(result.mask.to_numpy(), columns)}
<h2>Most suspicious cells</h2>{suspicious_cells(table, result).to_html(index=False, escape=True)}
<h2>Per column</h2>{summary.to_html(index=False, escape=True)}
</body></html>
"""
