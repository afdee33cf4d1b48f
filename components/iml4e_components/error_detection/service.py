"""One call for the CLI and the pipeline: read a table, pick the oracle, detect, write mask and report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from iml4e_components.error_detection.detector import BlockSink, DetectionResult, ErrorDetector
from iml4e_components.error_detection.engines import DetectionEngine
from iml4e_components.error_detection.knowledge_base import KnowledgeBase, load_default_knowledge_base
from iml4e_components.error_detection.oracles import CleanTableOracle, LabelsFileOracle, Oracle
from iml4e_components.error_detection.tables import check_same_shape, read_any_table, read_string_table
from iml4e_components.output_files import write_atomically


def load_knowledge_base(path: str | Path | None) -> KnowledgeBase:
    """The knowledge base at `path`, or the shipped default when `path` is empty."""
    return KnowledgeBase.load(path) if path else load_default_knowledge_base()


def is_labels_file(path: str | Path) -> bool:
    """A labels file starts with the header `row,column,error`."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        header = handle.readline().strip().lower().replace(" ", "")
    return header.startswith("row,column,error")


def oracle_from_source(source: str | Path, dirty: pd.DataFrame) -> Oracle:
    """A labels file (header row,column,error) or a clean table of the same shape as `dirty`."""
    if Path(source).is_file() and is_labels_file(source):
        return LabelsFileOracle(source)
    clean = read_string_table(source, what="clean table", compact=True)
    check_same_shape(dirty, clean, what="dirty and clean tables")
    return CleanTableOracle(clean)


def mask_frame(result: DetectionResult) -> pd.DataFrame:
    """The mask as 0/1 integers under the table's header (how it is written to CSV)."""
    return result.mask.astype("int8")


def read_mask(path: str | Path) -> pd.DataFrame:
    """Read a mask written by `mask_frame` (CSV or Parquet) back as booleans."""
    return read_any_table(path).astype(bool)


def detect_table(
    dirty: pd.DataFrame,
    budget: int,
    seed: int,
    oracle: Oracle | None,
    knowledge_base: KnowledgeBase | None = None,
    *,
    engine: str | DetectionEngine = "local",
    ray_address: str | None = None,
    sink: BlockSink | None = None,
    keep_mask: bool = True,
) -> DetectionResult:
    """Detect on `engine` (see `ErrorDetector.detect`); with a `sink`, mask blocks stream to it."""
    detector = ErrorDetector(knowledge_base or load_default_knowledge_base())
    return detector.detect(
        dirty,
        budget=budget,
        oracle=oracle,
        seed=seed,
        engine=engine,
        ray_address=ray_address,
        sink=sink,
        keep_mask=keep_mask,
    )


class MaskCsvWriter:
    """A block sink writing the 0/1 mask as CSV under the table's header, block by block (the same
    bytes as `mask_frame(result).to_csv(path, index=False)`)."""

    def __init__(self, handle: TextIO, columns: list[str]) -> None:
        self.handle = handle
        self.columns = columns
        pd.DataFrame(columns=columns).to_csv(handle, index=False)

    def __call__(self, start: int, scores: np.ndarray, mask: np.ndarray) -> None:
        block = pd.DataFrame(mask.astype("int8"), columns=self.columns)
        block.to_csv(self.handle, index=False, header=False)


def write_mask_csv(
    output: str | Path, columns: list[str], detect: Callable[[BlockSink], DetectionResult]
) -> DetectionResult:
    """Run `detect(sink)` with a sink writing the mask to `output` as the blocks arrive: to a temporary
    file renamed on success, so a failed run leaves no mask behind."""
    results: list[DetectionResult] = []

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            results.append(detect(MaskCsvWriter(handle, columns)))

    write_atomically(output, write, "mask")
    return results[0]
