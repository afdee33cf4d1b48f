"""Cell-level error detection (SAGED: meta-learning over historical base models, a small labeling
budget) and an error generator for testing pipelines."""

from iml4e_components.error_detection.detector import DetectionResult, ErrorDetector
from iml4e_components.error_detection.evaluator import CellScores, actual_errors, score_cells
from iml4e_components.error_detection.injection import ERROR_KINDS, inject_errors
from iml4e_components.error_detection.knowledge_base import KnowledgeBase, load_default_knowledge_base
from iml4e_components.error_detection.oracles import CleanTableOracle, InteractiveOracle, LabelsFileOracle

__all__ = [
    "ERROR_KINDS",
    "CellScores",
    "CleanTableOracle",
    "DetectionResult",
    "ErrorDetector",
    "InteractiveOracle",
    "KnowledgeBase",
    "LabelsFileOracle",
    "actual_errors",
    "inject_errors",
    "load_default_knowledge_base",
    "score_cells",
]
