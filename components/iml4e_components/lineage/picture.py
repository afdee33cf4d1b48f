"""The lineage graph as a picture: a layered DAG laid out by grandalf's Sugiyama layout (the layering,
crossing reduction and coordinate assignment of graphviz's `dot`), drawn as SVG in a standalone page.

Each step is one box with its outputs listed inside it, so a step sits next to what it wrote; raw
data and models get boxes of their own. Data flows left to right when the layers fit in
`FIT_WIDTH` pixels, top to bottom otherwise (long pipelines), so the page reads at that width
without labels being cut."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

from iml4e_components.lineage.graph import TreeNode, tree_edges

#: The page width the picture is made to be read at.
FIT_WIDTH = 1400
_COLOURS = {"model": "#f58518", "run": "#4c78a8", "dataset": "#54a24b"}
# Text widths are estimated from the font size: sans-serif glyphs average under 0.6 em.
_EM = 0.62
_TITLE_PX, _ROW_PX, _DETAIL_PX = 12, 11, 10
_PAD, _TITLE_H, _ROW_H, _GAP_LAYERS, _GAP_BOXES, _MARGIN = 8, 36, 30, 56, 22, 20


@dataclass
class _Box:
    """One drawn box: a step with its outputs, or a dataset or model on its own."""

    key: str
    node: TreeNode
    outputs: list[TreeNode] = field(default_factory=list)
    x: float = 0.0
    y: float = 0.0

    @property
    def width(self) -> float:
        texts = [(self.node.label, _TITLE_PX), (self.node.detail, _DETAIL_PX)]
        texts += [(o.label, _ROW_PX) for o in self.outputs] + [(o.detail, _DETAIL_PX) for o in self.outputs]
        return max(len(text) * size * _EM for text, size in texts) + 2 * _PAD

    @property
    def height(self) -> float:
        return _TITLE_H + _ROW_H * len(self.outputs)

    def row_centre(self, key: str) -> float:
        """The vertical centre of an output's row, or of the title."""
        for index, output in enumerate(self.outputs):
            if output.key == key:
                return self.y + _TITLE_H + _ROW_H * index + _ROW_H / 2
        return self.y + _TITLE_H / 2


class _View:
    def __init__(self, w: float, h: float) -> None:
        self.w, self.h = w, h
        self.xy = (0.0, 0.0)


class _EdgeView:
    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = points


def _flows(tree: TreeNode, upstream: bool) -> tuple[dict[str, TreeNode], list[tuple[str, str]]]:
    """Nodes and (producer, consumer) edges in the direction data flows."""
    nodes, edges = tree_edges(tree)
    return nodes, edges if upstream else [(b, a) for a, b in edges]


def _boxes(
    nodes: dict[str, TreeNode], flows: list[tuple[str, str]]
) -> tuple[dict[str, _Box], dict[str, str]]:
    """Boxes, and the box each node is drawn in (a dataset written by one step goes in that step's box)."""
    producers: dict[str, list[str]] = {}
    for source, target in flows:
        if nodes[source].kind == "run" and nodes[target].kind == "dataset":
            producers.setdefault(target, []).append(source)
    home = {key: key for key in nodes}
    for dataset, runs in producers.items():
        if len(runs) == 1:
            home[dataset] = runs[0]
    boxes = {key: _Box(key, node) for key, node in nodes.items() if home[key] == key}
    for key, node in nodes.items():
        if home[key] != key:
            boxes[home[key]].outputs.append(node)
    return boxes, home


def _layout(
    boxes: dict[str, _Box], links: list[tuple[str, str]], across: bool
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Place the boxes (layers left to right when `across`, else top to bottom); routed edge points."""
    vertices = {key: Vertex(key) for key in boxes}
    for key, vertex in vertices.items():
        box = boxes[key]
        # grandalf stacks layers vertically; for left-to-right layers the axes are swapped.
        vertex.view = _View(box.height, box.width) if across else _View(box.width, box.height)
    edges = {}
    for source, target in links:
        edge = Edge(vertices[source], vertices[target])
        edge.view = _EdgeView()
        edges[(source, target)] = edge
    graph = Graph(list(vertices.values()), list(edges.values()))
    offset = 0.0
    routes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for component in graph.C:
        layout = SugiyamaLayout(component)
        layout.xspace, layout.yspace = _GAP_BOXES, _GAP_LAYERS
        roots = [v for v in component.sV if not v.e_in()]
        layout.init_all(roots=roots or None)
        layout.draw()
        members = list(component.sV)
        left = min(v.view.xy[0] - v.view.w / 2 for v in members)
        top = min(v.view.xy[1] - v.view.h / 2 for v in members)

        def place(
            point: tuple[float, float], left: float = left, top: float = top, offset: float = offset
        ) -> tuple[float, float]:
            inside, along = point[0] - left, point[1] - top
            return (
                (_MARGIN + along, _MARGIN + offset + inside)
                if across
                else (_MARGIN + offset + inside, _MARGIN + along)
            )

        for vertex in members:
            box = boxes[vertex.data]
            cx, cy = place(vertex.view.xy)
            box.x, box.y = cx - box.width / 2, cy - box.height / 2
        for (source, target), edge in edges.items():
            if edge.v[0] in members:
                routes[(source, target)] = [place(p) for p in edge.view.points]
        offset += max(v.view.xy[0] + v.view.w / 2 for v in members) - left + _GAP_LAYERS
    return routes


def _drop_implied_run_links(links: dict[tuple[str, str], str], boxes: dict[str, _Box], root: str) -> None:
    """Drop a step's link to the root when the step already reaches it through other steps.

    The walk from a model lists every step of the model's MLflow run under the model; drawn as they
    are, those links would cross the whole picture and say nothing the data flow does not."""
    following: dict[str, set[str]] = {}
    for source, target in links:
        following.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [t for t in following.get(start, ()) if t != goal]
        while todo:
            key = todo.pop()
            if key == goal:
                return True
            if key not in seen:
                seen.add(key)
                todo.extend(following.get(key, ()))
        return False

    for source, target in list(links):
        if target == root and boxes[source].node.kind == "run" and reaches(source, root):
            del links[(source, target)]


def _edge_path(
    source: _Box, target: _Box, row: float, middle: list[tuple[float, float]], across: bool
) -> str:
    if across:
        points = [(source.x + source.width, row), *middle, (target.x, target.y + target.height / 2)]
    else:
        points = [
            (source.x + source.width / 2, source.y + source.height),
            *middle,
            (target.x + target.width / 2, target.y),
        ]
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _box_svg(box: _Box) -> str:
    node = box.node
    colour = _COLOURS.get(node.kind, "#999")
    parts = [
        f"<g><title>{html.escape(box.key)}</title>",
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{box.height:.1f}" rx="6" '
        f'fill="white" stroke="{colour}" stroke-width="2"/>',
        f'<text x="{box.x + _PAD:.1f}" y="{box.y + 16:.1f}" font-size="{_TITLE_PX}" font-weight="bold">'
        f"{html.escape(node.label)}</text>",
        f'<text x="{box.x + _PAD:.1f}" y="{box.y + 30:.1f}" font-size="{_DETAIL_PX}" fill="#555">'
        f"{html.escape(node.detail)}</text>",
    ]
    for index, output in enumerate(box.outputs):
        top = box.y + _TITLE_H + _ROW_H * index
        parts += [
            f'<line x1="{box.x:.1f}" y1="{top:.1f}" x2="{box.x + box.width:.1f}" y2="{top:.1f}" stroke="#ddd"/>',
            f'<rect x="{box.x + 2:.1f}" y="{top + 3:.1f}" width="4" height="{_ROW_H - 6}" '
            f'fill="{_COLOURS.get(output.kind, "#999")}"><title>{html.escape(output.key)}</title></rect>',
            f'<text x="{box.x + _PAD:.1f}" y="{top + 13:.1f}" font-size="{_ROW_PX}">{html.escape(output.label)}</text>',
            f'<text x="{box.x + _PAD:.1f}" y="{top + 25:.1f}" font-size="{_DETAIL_PX}" fill="#555">'
            f"{html.escape(output.detail)}</text>",
        ]
    parts.append("</g>")
    return "".join(parts)


def graph_svg(tree: TreeNode, upstream: bool = True) -> str:
    """The lineage tree as a layered SVG (raw data first, models last)."""
    nodes, flows = _flows(tree, upstream)
    boxes, home = _boxes(nodes, flows)
    links: dict[tuple[str, str], str] = {}  # (box, box) -> the node the data leaves from
    for source, target in flows:
        pair = (home[source], home[target])
        if pair[0] != pair[1]:
            links.setdefault(pair, source)
    _drop_implied_run_links(links, boxes, tree.key)
    across = True
    routes = _layout(boxes, list(links), across)
    if max(b.x + b.width for b in boxes.values()) + _MARGIN > FIT_WIDTH:
        across = False
        routes = _layout(boxes, list(links), across)
    points = [p for route in routes.values() for p in route]
    width = max([b.x + b.width for b in boxes.values()] + [x for x, _ in points]) + _MARGIN
    height = max([b.y + b.height for b in boxes.values()] + [y for _, y in points]) + _MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'font-family="sans-serif" data-direction="{"left-to-right" if across else "top-to-bottom"}">',
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" fill="#888"/></marker></defs>',
    ]
    for (source, target), leaving in links.items():
        first, last = boxes[source], boxes[target]
        middle = routes.get((source, target), [])[1:-1]
        path = _edge_path(first, last, first.row_centre(leaving), middle, across)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#888" marker-end="url(#arrow)"/>')
    parts += [_box_svg(box) for box in boxes.values()]
    parts.append("</svg>")
    return "\n".join(parts)


def graph_html(title: str, tree: TreeNode, upstream: bool = True) -> str:
    """A standalone HTML page with the SVG graph and a legend."""
    legend = " ".join(
        f'<span style="border:2px solid {colour};padding:0 .4rem;margin-right:.5rem">{kind}</span>'
        for kind, colour in _COLOURS.items()
    )
    note = "Each step's box lists the datasets and models it wrote."
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>{html.escape(title)}</title></head><body style="font-family:sans-serif">'
        f"<h1>{html.escape(title)}</h1><p>{legend} {note}</p>{graph_svg(tree, upstream)}</body></html>\n"
    )
