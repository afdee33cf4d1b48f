"""Render a model card as a standalone HTML page (tables + inline SVG metric charts) or Markdown."""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

import jinja2

from iml4e_components.errors import ComponentError
from iml4e_components.model_card.card import ModelCard
from iml4e_components.model_card.spec import Verdict
from iml4e_components.output_files import write_text_atomically

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("iml4e_components.model_card", "templates"),
    autoescape=jinja2.select_autoescape(["html", "html.j2"], default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def error_figure(value: float) -> str:
    """A detected-error figure as people read it: counts whole, shares (below 1) as a percentage."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2%}" if 0 < value < 1 else f"{value:.4g}"


_TEMPLATES.filters["error_figure"] = error_figure


def metric_chart_svg(card: ModelCard, metric: str, width: int = 420) -> str:
    """A horizontal bar chart of `metric` overall and per slice, as inline SVG (no plotting library)."""
    rows = [
        (m.slice or "overall", m.value)
        for m in card.quantitative_analysis.performance_metrics
        if m.type == metric
    ]
    if not rows:
        return ""
    top = max(1.0, max(abs(v) for _, v in rows))
    # The label column fits the longest slice name whole (12 px sans-serif: under 7.2 px a glyph).
    label_width = max(110, round(max(len(label) for label, _ in rows) * 7.2) + 10)
    bar_area, row_height = width - 170, 22
    total_width = label_width + bar_area + 60  # `width` with the default label column; wider for long names
    height = row_height * len(rows) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_width}" height="{height}" role="img" '
        f'aria-label="{html.escape(metric)} by slice">'
    ]
    for index, (label, value) in enumerate(rows):
        y = 5 + index * row_height
        length = max(1.0, bar_area * abs(value) / top)
        colour = "#4c78a8" if label == "overall" else "#72b7b2"
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="12" font-family="sans-serif">'
            f"{html.escape(label)}</text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row_height - 8}" '
            f'fill="{colour}"/>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + 15}" font-size="12" '
            f'font-family="sans-serif">{value:.3f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _metric_groups(card: ModelCard) -> dict[str, list[tuple[str, float]]]:
    groups: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for entry in card.quantitative_analysis.performance_metrics:
        groups[entry.type].append((entry.slice or "overall", entry.value))
    return dict(groups)


def render_html(card: ModelCard, verdict: Verdict | None = None) -> str:
    charts = {
        metric: metric_chart_svg(card, metric)
        for metric, rows in _metric_groups(card).items()
        if len(rows) > 1
    }
    return _TEMPLATES.get_template("card.html.j2").render(card=card, verdict=verdict, charts=charts)


def render_markdown(card: ModelCard, verdict: Verdict | None = None) -> str:
    return _TEMPLATES.get_template("card.md.j2").render(
        card=card, verdict=verdict, groups=_metric_groups(card)
    )


def write_rendered(card: ModelCard, path: str | Path, verdict: Verdict | None = None) -> Path:
    """Render by the file's suffix (.html/.htm or .md) and write atomically."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix in {".html", ".htm"}:
        text = render_html(card, verdict)
    elif suffix in {".md", ".markdown"}:
        text = render_markdown(card, verdict)
    else:
        raise ComponentError(
            f"cannot render a model card to '{target.name}'; name the output file .html or .md"
        )
    return write_text_atomically(target, text, "rendered model card", create_parent=True)
