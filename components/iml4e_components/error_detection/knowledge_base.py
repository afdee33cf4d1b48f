"""The historical knowledge: one base classifier per column of every historical dirty/clean pair,
with the column's profile, persisted to one file.

The file is a zlib-compressed pickle: load only knowledge bases you built or trust (like any pickled
model). Not joblib's format: joblib unpickles in pure Python, which took 5-15 s for the default
knowledge base's ~190 models here, against about 1 s for the standard C unpickler.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from iml4e_components.error_detection.evaluator import actual_errors
from iml4e_components.error_detection.features import FeatureConfig, table_features
from iml4e_components.error_detection.profiles import cosine_similarity, table_profiles
from iml4e_components.error_detection.tables import (
    as_string_frame,
    check_same_shape,
    check_table,
    write_atomically,
)
from iml4e_components.errors import ComponentError

KB_FORMAT = "iml4e-saged-knowledge-base"
#: Bumped whenever features or the file layout change; older files must be rebuilt.
#: 3: zlib-compressed pickle instead of joblib.
KB_VERSION = 3
DEFAULT_KB_NAME = "default.kb"
REBUILD_HINT = (
    "rebuild it with 'python -m iml4e_components.error_detection.build_knowledge_base' or fit a new one"
)


@dataclass
class BaseModel:
    """A classifier of one historical column: cell features -> probability the cell is wrong."""

    name: str
    profile: np.ndarray
    model: object
    error_rate: float


@dataclass
class KnowledgeBase:
    """Base models of historical columns and the feature settings they were trained with."""

    config: FeatureConfig
    models: list[BaseModel]
    sources: list[str] = field(default_factory=list)
    version: int = KB_VERSION

    @property
    def profiles(self) -> np.ndarray:
        return np.vstack([m.profile for m in self.models])

    def select(self, profile: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of the `k` base models whose column profile is most
        similar to `profile` (ties broken by position, so the choice is deterministic)."""
        similarity = cosine_similarity(profile, self.profiles)
        order = np.argsort(-similarity, kind="stable")[: min(k, len(self.models))]
        return order, similarity[order]

    @classmethod
    def fit(
        cls,
        pairs: Sequence[tuple[pd.DataFrame, pd.DataFrame]],
        names: Sequence[str] | None = None,
        config: FeatureConfig | None = None,
        seed: int = 0,
        max_cells_per_column: int = 20_000,
    ) -> KnowledgeBase:
        """Train one base model per historical column that has at least two wrong and two right cells."""
        import sklearn.ensemble  # noqa: F401 - load OpenMP first: threadpoolctl limits only loaded libraries
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # no stubs published

        # One thread: OpenMP spin-waiting makes gradient boosting many times slower on a busy machine.
        with threadpool_limits(limits=1):
            return cls._fit(pairs, names, config, seed, max_cells_per_column)

    @classmethod
    def _fit(
        cls,
        pairs: Sequence[tuple[pd.DataFrame, pd.DataFrame]],
        names: Sequence[str] | None,
        config: FeatureConfig | None,
        seed: int,
        max_cells_per_column: int,
    ) -> KnowledgeBase:
        from sklearn.ensemble import HistGradientBoostingClassifier

        config = config or FeatureConfig()
        names = list(names) if names is not None else [f"pair{i}" for i in range(len(pairs))]
        models: list[BaseModel] = []
        rng = np.random.default_rng(seed)
        for name, (dirty_frame, clean_frame) in zip(names, pairs, strict=True):
            dirty = check_table(as_string_frame(dirty_frame), what=f"historical dirty table {name}")
            clean = as_string_frame(clean_frame)
            check_same_shape(dirty, clean, what=f"historical pair {name}")
            truth = actual_errors(dirty, clean)
            features = table_features(dirty, config, seed)
            profiles = table_profiles(dirty)
            for j, column in enumerate(dirty.columns):
                labels = truth[:, j]
                if labels.sum() < 2 or (~labels).sum() < 2:
                    continue
                rows = np.arange(len(labels))
                if len(rows) > max_cells_per_column:
                    rows = np.sort(rng.choice(len(rows), max_cells_per_column, replace=False))
                model = HistGradientBoostingClassifier(
                    max_iter=30,
                    max_leaf_nodes=12,
                    learning_rate=0.2,
                    early_stopping=False,
                    random_state=seed,
                )
                model.fit(features.column(j)[rows], labels[rows])
                models.append(BaseModel(f"{name}:{column}", profiles[j], model, float(labels.mean())))
        if not models:
            raise ComponentError(
                "no historical column has at least two wrong and two right cells; pass dirty/clean pairs with errors"
            )
        return cls(config=config, models=models, sources=list(names))

    def extended(self, other: KnowledgeBase) -> KnowledgeBase:
        """A knowledge base with the base models of both (their features must be computed alike)."""
        if other.config != self.config:
            raise ComponentError(
                "the two knowledge bases compute features differently; fit both with the same FeatureConfig"
            )
        return KnowledgeBase(self.config, self.models + other.models, self.sources + other.sources)

    def save(self, path: str | Path) -> Path:
        """Write the knowledge base to `path` atomically; returns the path."""
        payload = {"format": KB_FORMAT, "version": self.version, "knowledge_base": self}
        data = zlib.compress(pickle.dumps(payload, protocol=5), 6)

        def write(tmp: Path) -> None:
            tmp.write_bytes(data)

        write_atomically(path, write)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> KnowledgeBase:
        """Read a knowledge base file; a file of another version or kind is refused with the fix."""
        file = Path(path)
        if not file.is_file():
            raise ComponentError(
                f"knowledge base file not found: {file}; pass --kb with an existing file or omit it"
            )
        try:
            payload = pickle.loads(zlib.decompress(file.read_bytes()))
        except Exception as exc:
            raise ComponentError(
                f"{file} is not an iml4e knowledge base of version {KB_VERSION} ({type(exc).__name__}); "
                f"{REBUILD_HINT}"
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != KB_FORMAT:
            raise ComponentError(f"{file} is not an iml4e knowledge base; {REBUILD_HINT}")
        if payload.get("version") != KB_VERSION:
            raise ComponentError(
                f"knowledge base {file} has version {payload.get('version')}, this iml4e reads version {KB_VERSION}; "
                f"{REBUILD_HINT}"
            )
        knowledge_base = payload["knowledge_base"]
        if not isinstance(knowledge_base, cls):
            raise ComponentError(f"{file} is not an iml4e knowledge base; {REBUILD_HINT}")
        return knowledge_base


def default_knowledge_base_path() -> Path:
    """The knowledge base shipped with iml4e_components (built from synthetic pairs)."""
    return Path(str(resources.files("iml4e_components.error_detection") / "knowledge" / DEFAULT_KB_NAME))


def load_default_knowledge_base() -> KnowledgeBase:
    path = default_knowledge_base_path()
    if not path.is_file():
        raise ComponentError(f"the default knowledge base {path} is missing; {REBUILD_HINT}")
    return KnowledgeBase.load(path)


def log_knowledge_base_to_mlflow(path: str | Path, experiment: str = "error-detection") -> str:
    """Log a knowledge base file as an artifact (under `knowledge_base/`) of a new run in `experiment` on
    MLflow's current tracking server; returns the run id."""
    import mlflow

    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="error-detection-knowledge-base") as run:
        mlflow.log_artifact(str(path), artifact_path="knowledge_base")
        mlflow.log_param("kb_version", KB_VERSION)
        return str(run.info.run_id)
