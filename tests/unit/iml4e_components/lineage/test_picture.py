"""The lineage picture: a layered layout (grandalf's Sugiyama) with each step holding its outputs."""

from __future__ import annotations

import re

from iml4e_components.lineage.graph import TreeNode
from iml4e_components.lineage.picture import FIT_WIDTH, graph_svg


def _chain(steps: int, prefix: str = "tabular_training.") -> TreeNode:
    """An upstream tree: model <- step_n <- out_{n-1} <- ... <- step_0 <- raw data."""
    node = TreeNode("dataset", "raw", "sample:churn-dirty")
    for index in range(steps):
        step = TreeNode("run", f"run-{index}", f"{prefix}step_number_{index}", "complete", children=[node])
        node = TreeNode(
            "dataset", f"out-{index}", f"step-{index}/output", "system.Dataset, 10 rows", children=[step]
        )
    return TreeNode("model", "models:/churn/1", "churn", "version 1", children=[node.children[0]])


def _boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """Box title (the node key) -> x, y, width, height of the box drawn for it."""
    found = {}
    for key, x, y, w, h in re.findall(
        r'<g><title>([^<]+)</title><rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', svg
    ):
        found[key] = (float(x), float(y), float(w), float(h))
    return found


def test_a_short_pipeline_reads_left_to_right_with_outputs_inside_their_step() -> None:
    svg = graph_svg(_chain(3))
    assert 'data-direction="left-to-right"' in svg
    boxes = _boxes(svg)
    # raw data, three steps and the model: outputs are rows of their step's box, not boxes
    assert sorted(boxes) == ["models:/churn/1", "raw", "run-0", "run-1", "run-2"]
    order = sorted(boxes, key=lambda key: boxes[key][0])
    assert order == ["raw", "run-0", "run-1", "run-2", "models:/churn/1"]
    # every edge points forward: it ends left of where the next box starts, never backwards
    for points in re.findall(r'<polyline points="([^"]+)"', svg):
        xs = [float(p.split(",")[0]) for p in points.split()]
        assert xs[-1] > xs[0]
    assert "step-1/output" in svg and "tabular_training.step_number_2" in svg


def test_a_long_pipeline_turns_top_to_bottom_to_stay_readable_at_page_width() -> None:
    svg = graph_svg(_chain(12))
    assert 'data-direction="top-to-bottom"' in svg
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    assert width <= FIT_WIDTH
    boxes = _boxes(svg)
    tops = [boxes[f"run-{i}"][1] for i in range(12)]
    assert tops == sorted(tops) and len(set(tops)) == 12  # one layer per step, in order


def test_boxes_are_wide_enough_for_whole_labels() -> None:
    long_name = "tabular_training." + "a_very_long_step_name_" * 3
    svg = graph_svg(_chain(1, prefix=long_name))
    _, _, width, _ = _boxes(svg)["run-0"]
    # 12 px bold sans-serif stays under 0.62 em per glyph; the box holds the label plus padding
    assert width >= len(f"{long_name}step_number_0") * 12 * 0.6
    assert f"{long_name}step_number_0" in svg


def test_steps_of_the_same_mlflow_run_link_to_the_model_only_when_the_data_does_not() -> None:
    model = _chain(3)
    side = TreeNode("run", "run-side", "tabular_training.start_tracking", "complete")
    model.children += [
        side,
        TreeNode("run", "run-1", "tabular_training.step_number_1", "complete", repeated=True),
    ]
    svg = graph_svg(model)
    links = re.findall(r'<polyline points="([^"]+)"', svg)
    # raw->0, 0->1, 1->2, 2->model, side->model; the run-1->model link is implied by the data flow
    assert len(links) == 5
