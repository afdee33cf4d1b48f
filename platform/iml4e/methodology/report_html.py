"""The assessment as one self-contained HTML file: radar chart of levels per area and the roadmap."""

from __future__ import annotations

import math
import time
from pathlib import Path

from iml4e.methodology.content import MAX_LEVEL, load_maturity_model
from iml4e.methodology.scoring import Assessment
from iml4e_components.output_files import write_text_atomically

_SIZE = 420
_RADIUS = 150
_LABEL_GAP = 22


def radar_svg(profile: dict[str, tuple[str, int]]) -> str:
    """An inline SVG radar chart: one axis per area (label, level), rings for levels 1..4."""
    centre = _SIZE / 2
    names = list(profile)
    count = len(names)

    def point(index: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * index / count
        distance = _RADIUS * value / MAX_LEVEL
        return centre + distance * math.cos(angle), centre + distance * math.sin(angle)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-90 -10 {_SIZE + 180} {_SIZE + 20}" '
        f'width="{_SIZE + 180}" role="img" aria-label="maturity level per area">'
    ]
    for ring in range(1, MAX_LEVEL + 1):
        ring_points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, ring) for i in range(count)))
        parts.append(f'<polygon points="{ring_points}" fill="none" stroke="#ccd" stroke-width="1"/>')
        x, y = point(0, ring)
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 4:.1f}" font-size="10" fill="#889">{ring}</text>')
    for index, name in enumerate(names):
        x, y = point(index, MAX_LEVEL)
        parts.append(f'<line x1="{centre}" y1="{centre}" x2="{x:.1f}" y2="{y:.1f}" stroke="#ccd"/>')
        lx, ly = point(index, MAX_LEVEL + _LABEL_GAP * MAX_LEVEL / _RADIUS)
        anchor = "middle" if abs(lx - centre) < 5 else ("start" if lx > centre else "end")
        label, level = profile[name]
        parts.append(
            f'<text x="{lx:.1f}" y="{ly + 4:.1f}" font-size="12" text-anchor="{anchor}">'
            f"{_escape(label)} ({level})</text>"
        )
    shape = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, profile[n][1]) for i, n in enumerate(names)))
    parts.append(
        f'<polygon points="{shape}" fill="#3b7dd8" fill-opacity="0.35" stroke="#1f5fb8" stroke-width="2"/>'
    )
    for index, name in enumerate(names):
        x, y = point(index, profile[name][1])
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="#1f5fb8"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_report(assessment: Assessment) -> str:
    """The HTML report as a string (no external resources: styles and chart are inline)."""
    import jinja2
    from markupsafe import Markup

    model = load_maturity_model()
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("iml4e.methodology", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    # Area ids as axis labels: full names would run off the chart; the table beside it has them.
    chart = radar_svg({r.area.id: (r.area.id.capitalize(), r.level) for r in assessment.areas})
    safe_chart = Markup(chart)  # nosec B704  # generated above from escaped labels and numbers only
    return environment.get_template("report.html.j2").render(
        data=assessment.as_dict(),
        levels=model.levels,
        chart=safe_chart,
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )


def write_report(assessment: Assessment, path: Path) -> Path:
    """Write the report atomically (no half-written file on failure)."""
    html = render_report(assessment)
    try:
        write_text_atomically(path, html, create_parent=True)
        path.chmod(0o644)  # a report is meant to be shared; the temporary file was private
    except OSError as exc:
        from iml4e.errors import UsageError

        raise UsageError(
            f"cannot write the report to {path} ({exc.strerror or exc}); pass a writable file path to --report"
        ) from exc
    return path
