"""The historical knowledge: one base classifier per column of every historical dirty/clean pair,
with the column's profile, persisted to one file.

A knowledge base file holds data only, never code: loading an untrusted file can fail with a message,
but it cannot run anything. The file is a zip archive (deflate) of

- `knowledge_base.json`: `{"format": "iml4e-saged-knowledge-base", "version": 4, "config": {the
  FeatureConfig fields}, "sources": [names of the historical pairs], "n_features": int,
  "models": [{"name": str, "source": str, "error_rate": float, "baseline": float}, ...]}`, and
  optionally `"synthetic_sources": [names]` (pairs with generated errors; see `KnowledgeBase.select`)
  and `"zero_label_held_out": {source: {"cells": [[int] * (ZERO_LABEL_BINS + 1)] * columns, "errors":
  [...]}}`
  (see `zero_label_threshold`);
- `.npy` arrays read with `allow_pickle=False` (no object arrays): `profiles` (models x profile
  width, float64), `trees_per_model` (models, int64), `nodes_per_tree` (trees, int64) and, one entry per
  tree node in order (trees of the first model first, each tree's root first): `feature` (int32),
  `threshold` (float64), `missing_left` (bool), `left` and `right` (int32, child indices within the
  tree, always after their parent), `is_leaf` (bool), `value` (float64).

Each base model is a binary gradient-boosted tree ensemble (scikit-learn's HistGradientBoostingClassifier
at fit time) kept as these arrays: the probability that a cell is wrong is
`expit(baseline + sum of the trees' leaf values)`, the same numbers scikit-learn computes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iml4e_components.error_detection.evaluator import actual_errors
from iml4e_components.error_detection.features import FeatureConfig, table_features
from iml4e_components.error_detection.profiles import PROFILE_NAMES, cosine_similarity, table_profiles
from iml4e_components.error_detection.tables import (
    as_string_frame,
    check_same_shape,
    check_table,
)
from iml4e_components.errors import ComponentError
from iml4e_components.output_files import write_atomically

KB_FORMAT = "iml4e-saged-knowledge-base"
#: Bumped whenever features or the file layout change; older files must be rebuilt.
#: 3: zlib-compressed pickle instead of joblib. 4: arrays and JSON in a zip, no pickle.
KB_VERSION = 4
DEFAULT_KB_NAME = "default.kb"
REBUILD_HINT = (
    "rebuild it with 'python -m iml4e_components.error_detection.build_knowledge_base' or fit a new one"
)
_HEADER = "knowledge_base.json"
#: Refuse files whose members would unpack to more than this (a crafted zip can claim ~1000x its size;
#: the shipped knowledge base unpacks to about 5 MB).
MAX_UNPACKED_BYTES = 2 * 1024**3
_NODE_ARRAYS: dict[str, str] = {
    "feature": "i",
    "threshold": "f",
    "missing_left": "b",
    "left": "i",
    "right": "i",
    "is_leaf": "b",
    "value": "f",
}
_ARRAYS: dict[str, str] = {"profiles": "f", "trees_per_model": "i", "nodes_per_tree": "i", **_NODE_ARRAYS}


@dataclass(frozen=True)
class TreeEnsemble:
    """A fitted binary gradient-boosted tree ensemble as plain arrays (see the module docstring)."""

    baseline: float
    n_features: int
    nodes_per_tree: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray

    @classmethod
    def from_sklearn(cls, model: Any) -> TreeEnsemble:
        """The trees of a fitted binary HistGradientBoostingClassifier without categorical features
        (read from its private `_predictors` and `_baseline_prediction`: fit-time only)."""
        if model.n_trees_per_iteration_ != 1 or model.is_categorical_ is not None:
            raise ComponentError("only binary gradient boosting on numeric features can be stored")
        nodes = np.concatenate([predictors[0].nodes for predictors in model._predictors])
        return cls(
            baseline=float(model._baseline_prediction.ravel()[0]),
            n_features=int(model.n_features_in_),
            nodes_per_tree=np.array([len(p[0].nodes) for p in model._predictors], dtype=np.int64),
            feature=nodes["feature_idx"].astype(np.int32),
            threshold=nodes["num_threshold"].astype(np.float64),
            missing_left=nodes["missing_go_to_left"].astype(bool),
            left=nodes["left"].astype(np.int32),
            right=nodes["right"].astype(np.int32),
            is_leaf=nodes["is_leaf"].astype(bool),
            value=nodes["value"].astype(np.float64),
        )

    def error_probability(self, x: np.ndarray) -> np.ndarray:
        """Probability of the error class for each row of `x` (rows x n_features; NaN follows each
        split's learned missing-value side), as scikit-learn's `predict_proba(x)[:, 1]`."""
        from scipy.special import expit

        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ComponentError(
                f"feature rows have {x.shape[-1]} columns, the base model expects {self.n_features}; {REBUILD_HINT}"
            )
        raw = np.zeros(len(x), dtype=np.float64)
        raw += self.baseline
        out = np.empty(len(x), dtype=np.float64)
        start = 0
        for size in self.nodes_per_tree.tolist():
            stop = start + size
            feature, threshold = self.feature[start:stop], self.threshold[start:stop]
            missing_left, is_leaf, value = (
                self.missing_left[start:stop],
                self.is_leaf[start:stop],
                self.value[start:stop],
            )
            left, right = self.left[start:stop], self.right[start:stop]
            pending = [(0, np.arange(len(x)))]
            while pending:
                node, rows = pending.pop()
                if is_leaf[node]:
                    out[rows] = value[node]
                    continue
                cells = x[rows, feature[node]]
                go_left = np.where(np.isnan(cells), missing_left[node], cells <= threshold[node])
                for child, subset in ((left[node], rows[go_left]), (right[node], rows[~go_left])):
                    if len(subset):
                        pending.append((int(child), subset))
            raw += out
            start = stop
        return np.asarray(expit(raw))


@dataclass
class BaseModel:
    """A classifier of one historical column: cell features -> probability the cell is wrong."""

    name: str
    profile: np.ndarray
    model: TreeEnsemble
    error_rate: float
    source: str = ""


#: Zero-label scores are kept per held-out source as counts of cells (and of wrong cells) in bins of
#: this width: bin b holds the scores in [b / ZERO_LABEL_BINS, (b + 1) / ZERO_LABEL_BINS).
ZERO_LABEL_BINS = 100
#: Zero-label mode is precision first: its threshold is the lowest bin edge (from
#: `ZERO_LABEL_LOWEST_THRESHOLD` up) at which the knowledge base's own held-out cells scoring at least
#: that are wrong at this rate or more (`zero_label_threshold`).
ZERO_LABEL_PRECISION_TARGET = 0.9
ZERO_LABEL_LOWEST_THRESHOLD = 0.5
#: Without held-out scores (a knowledge base fitted before they were kept), zero-label mode flags a cell
#: when the base models' weighted mean probability reaches this.
ZERO_LABEL_FALLBACK_THRESHOLD = 0.7
#: Zero-label mode flags no cell of a column where more than this share of the cells reach the
#: threshold (errors are the exception in a column; a majority means the base models misread it).
MOSTLY_FLAGGED_SHARE = 0.5


@dataclass(frozen=True)
class HeldOutScores:
    """One source's cells scored in zero-label mode by a knowledge base without that source (and
    without the pairs sharing its clean table): per column, cell and wrong-cell counts per score bin
    (arrays of shape (columns, ZERO_LABEL_BINS + 1))."""

    cells: np.ndarray
    errors: np.ndarray

    @classmethod
    def of(cls, scores: np.ndarray, truth: np.ndarray) -> HeldOutScores:
        """Counts of a (rows, columns) score matrix and its true error mask."""
        scores = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
        wrong = np.asarray(truth, dtype=bool).reshape(scores.shape)
        bins = np.clip((scores * ZERO_LABEL_BINS).astype(np.int64), 0, ZERO_LABEL_BINS)
        width = ZERO_LABEL_BINS + 1
        return cls(
            np.stack([np.bincount(bins[:, j], minlength=width) for j in range(bins.shape[1])]).astype(
                np.int64
            ),
            np.stack(
                [np.bincount(bins[wrong[:, j], j], minlength=width) for j in range(bins.shape[1])]
            ).astype(np.int64),
        )


def zero_label_threshold(
    held_out: dict[str, HeldOutScores], synthetic: Sequence[str] = (), mostly: float = MOSTLY_FLAGGED_SHARE
) -> float:
    """Zero-label mode's precision-first threshold from the held-out scores: the lowest bin edge (at
    least `ZERO_LABEL_LOWEST_THRESHOLD`) at which the cells zero-label mode would flag reach
    `ZERO_LABEL_PRECISION_TARGET` precision, both on the `synthetic` sources pooled (one generator
    made them) and on each real source (each its own kind of data). A real source on which no edge
    reaches the target (the knowledge base cannot read it) is left out. Flagged cells are those at or
    above the edge, except in a column where more than `mostly` of the cells are (detection flags
    none of those). The fallback threshold without held-out scores; 1.0 (flag nothing) when the
    synthetic sources never reach the target."""
    if not held_out:
        return ZERO_LABEL_FALLBACK_THRESHOLD
    made = set(synthetic)
    generated = [h for s, h in held_out.items() if s in made]
    pooled = _lowest_edge(generated, mostly) if generated else None
    if generated and pooled is None:
        return 1.0
    real = [_lowest_edge([h], mostly) for s, h in held_out.items() if s not in made]
    reached = [edge for edge in [pooled, *real] if edge is not None]
    return max(reached) / ZERO_LABEL_BINS if reached else 1.0


def _lowest_edge(group: list[HeldOutScores], mostly: float) -> int | None:
    """The lowest bin (from `ZERO_LABEL_LOWEST_THRESHOLD`) at which the group's pooled flagged cells
    reach the precision target, or None."""
    cells = np.vstack([h.cells for h in group])
    errors = np.vstack([h.errors for h in group])
    # Per column, counts of the cells scoring at least each bin's lower edge.
    at_least_cells = np.cumsum(cells[:, ::-1], axis=1)[:, ::-1]
    at_least_errors = np.cumsum(errors[:, ::-1], axis=1)[:, ::-1]
    kept = at_least_cells <= mostly * cells.sum(axis=1, keepdims=True)
    flagged = (at_least_cells * kept).sum(axis=0)
    right = (at_least_errors * kept).sum(axis=0)
    for b in range(round(ZERO_LABEL_LOWEST_THRESHOLD * ZERO_LABEL_BINS), ZERO_LABEL_BINS + 1):
        if flagged[b] and right[b] >= ZERO_LABEL_PRECISION_TARGET * flagged[b]:
            return b
    return None


@dataclass
class KnowledgeBase:
    """Base models of historical columns and the feature settings they were trained with."""

    config: FeatureConfig
    models: list[BaseModel]
    sources: list[str] = field(default_factory=list)
    version: int = KB_VERSION
    #: Sources whose errors were generated (`injection`), not found in real data.
    synthetic_sources: list[str] = field(default_factory=list)
    #: Zero-label scores of each source's cells, held out (see `HeldOutScores`).
    held_out: dict[str, HeldOutScores] = field(default_factory=dict)

    @property
    def profiles(self) -> np.ndarray:
        return np.vstack([m.profile for m in self.models])

    @property
    def zero_label_threshold(self) -> float:
        """Zero-label mode's threshold, from the held-out scores of this knowledge base's sources."""
        return zero_label_threshold(self.held_out, self.synthetic_sources)

    def select(self, profile: np.ndarray, k: int, prefer_real: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of the `k` base models whose column profile is most
        similar to `profile` (ties broken by position, so the choice is deterministic). With
        `prefer_real`, only models of real (not synthetic) sources compete when there are at least `k`
        of them: with labeled tuples the meta-classifiers learn more from them (measured
        leave-one-out on the benchmark pairs, README)."""
        similarity = cosine_similarity(profile, self.profiles)
        candidates = np.arange(len(self.models))
        if prefer_real and self.synthetic_sources:
            synthetic = set(self.synthetic_sources)
            real = np.array([m.source not in synthetic for m in self.models])
            if real.sum() >= k:
                candidates = candidates[real]
        order = candidates[np.argsort(-similarity[candidates], kind="stable")[:k]]
        return order, similarity[order]

    def without(self, sources: Sequence[str]) -> KnowledgeBase:
        """This knowledge base without the base models and held-out scores of `sources` (for example
        to score a pair it was fitted on, leave-one-out). Unknown names are refused."""
        unknown = sorted(set(sources) - set(self.sources))
        if unknown:
            raise ComponentError(
                f"the knowledge base has no source {', '.join(unknown)}; name one of its sources: {', '.join(self.sources)}"
            )
        drop = set(sources)
        models = [m for m in self.models if m.source not in drop]
        if not models:
            raise ComponentError("leaving those sources out leaves no base model; leave out fewer")
        return KnowledgeBase(
            self.config,
            models,
            [s for s in self.sources if s not in drop],
            self.version,
            [s for s in self.synthetic_sources if s not in drop],
            {s: h for s, h in self.held_out.items() if s not in drop},
        )

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
                models.append(
                    BaseModel(
                        f"{name}:{column}",
                        profiles[j],
                        TreeEnsemble.from_sklearn(model),
                        float(labels.mean()),
                        name,
                    )
                )
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
        return KnowledgeBase(
            self.config,
            self.models + other.models,
            self.sources + other.sources,
            self.version,
            self.synthetic_sources + other.synthetic_sources,
            {**self.held_out, **other.held_out},
        )

    def save(self, path: str | Path) -> Path:
        """Write the knowledge base to `path` atomically (the format of the module docstring)."""
        header = {
            "format": KB_FORMAT,
            "version": self.version,
            "config": asdict(self.config),
            "sources": self.sources,
            "n_features": self.models[0].model.n_features,
            "models": [
                {"name": m.name, "source": m.source, "error_rate": m.error_rate, "baseline": m.model.baseline}
                for m in self.models
            ],
            "synthetic_sources": self.synthetic_sources,
            "zero_label_held_out": {
                source: {"cells": h.cells.tolist(), "errors": h.errors.tolist()}
                for source, h in self.held_out.items()
            },
        }
        arrays = {
            "profiles": self.profiles,
            "trees_per_model": np.array([len(m.model.nodes_per_tree) for m in self.models], dtype=np.int64),
            "nodes_per_tree": np.concatenate([m.model.nodes_per_tree for m in self.models]),
            **{name: np.concatenate([getattr(m.model, name) for m in self.models]) for name in _NODE_ARRAYS},
        }

        def write(tmp: Path) -> None:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
                archive.writestr(_HEADER, json.dumps(header, indent=1))
                for name, array in arrays.items():
                    buffer = io.BytesIO()
                    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
                    archive.writestr(f"{name}.npy", buffer.getvalue())

        write_atomically(path, write)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> KnowledgeBase:
        """Read a knowledge base file; never runs code from it. A file of another version or kind, or
        one whose arrays do not fit together, is refused with the fix."""
        file = Path(path)
        if not file.is_file():
            raise ComponentError(
                f"knowledge base file not found: {file}; pass --kb with an existing file or omit it"
            )
        try:
            with zipfile.ZipFile(file) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
                if unpacked > MAX_UNPACKED_BYTES:
                    raise ComponentError(
                        f"{file} would unpack to {unpacked:,} bytes, more than a knowledge base may hold "
                        f"({MAX_UNPACKED_BYTES:,}); {REBUILD_HINT}"
                    )
                header = json.loads(archive.read(_HEADER))
                if not isinstance(header, dict) or header.get("format") != KB_FORMAT:
                    raise ComponentError(f"{file} is not an iml4e knowledge base; {REBUILD_HINT}")
                if header.get("version") != KB_VERSION:
                    raise ComponentError(
                        f"knowledge base {file} has version {header.get('version')}, this iml4e reads version "
                        f"{KB_VERSION}; {REBUILD_HINT}"
                    )
                arrays = {name: _read_array(archive, name, kind, file) for name, kind in _ARRAYS.items()}
        except ComponentError:
            raise
        except Exception as exc:  # any malformed file (not a zip, bad JSON, a pickled array): refuse it
            raise ComponentError(
                f"{file} is not an iml4e knowledge base of version {KB_VERSION} ({type(exc).__name__}; files "
                f"from before version 4 were pickles and are no longer read); {REBUILD_HINT}"
            ) from exc
        return _knowledge_base(header, arrays, file)


def _read_array(archive: zipfile.ZipFile, name: str, kind: str, file: Path) -> np.ndarray:
    """One `.npy` member, without pickle, of the expected dtype kind (b, i or f)."""
    with archive.open(f"{name}.npy") as member:
        array = np.lib.format.read_array(io.BytesIO(member.read()), allow_pickle=False)
    if array.dtype.kind != kind:
        raise ComponentError(
            f"{file}: array {name} has dtype {array.dtype}, not of kind {kind!r}; {REBUILD_HINT}"
        )
    return np.asarray(array)


def _knowledge_base(header: dict[str, Any], arrays: dict[str, np.ndarray], file: Path) -> KnowledgeBase:
    """Check that the header and arrays fit together (every index in range, children after their
    parent, so prediction always ends) and build the knowledge base."""

    def bad(what: str) -> ComponentError:
        return ComponentError(f"{file} is an inconsistent knowledge base ({what}); {REBUILD_HINT}")

    config_fields = {f.name for f in fields(FeatureConfig)}
    config = header.get("config")
    if (
        not isinstance(config, dict)
        or set(config) != config_fields
        or not all(type(v) is int for v in config.values())
    ):
        raise bad("config")
    entries, sources, n_features = header.get("models"), header.get("sources"), header.get("n_features")
    if not isinstance(entries, list) or not entries or not isinstance(sources, list):
        raise bad("models")
    if n_features != FeatureConfig(**config).width:
        raise bad("n_features differs from the feature config's width")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise bad("model entry")
        if not all(isinstance(entry.get(key), int | float) for key in ("error_rate", "baseline")):
            raise bad("model entry")
    profiles, trees, sizes = arrays["profiles"], arrays["trees_per_model"], arrays["nodes_per_tree"]
    n_nodes = len(arrays["feature"])
    if profiles.shape != (len(entries), len(PROFILE_NAMES)) or trees.shape != (len(entries),):
        raise bad("model count or profile width")
    if trees.min() < 1 or sizes.ndim != 1 or len(sizes) != trees.sum() or sizes.min() < 1:
        raise bad("tree sizes")
    if (
        any(a.shape != (n_nodes,) for name, a in arrays.items() if name in _NODE_ARRAYS)
        or sizes.sum() != n_nodes
    ):
        raise bad("node count")
    tree_start = np.repeat(np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    local = np.arange(n_nodes) - tree_start
    size_of_node = np.repeat(sizes, sizes)
    internal = ~arrays["is_leaf"]
    for child in (arrays["left"], arrays["right"]):
        if np.any(internal & ((child <= local) | (child >= size_of_node))):
            raise bad("child index")
    if np.any(internal & ((arrays["feature"] < 0) | (arrays["feature"] >= n_features))):
        raise bad("feature index")
    models = []
    tree_offsets = np.concatenate([[0], np.cumsum(trees)])
    node_offsets = np.concatenate([[0], np.cumsum(sizes)])
    for i, entry in enumerate(entries):
        first, last = node_offsets[tree_offsets[i]], node_offsets[tree_offsets[i + 1]]
        ensemble = TreeEnsemble(
            baseline=float(entry["baseline"]),
            n_features=n_features,
            nodes_per_tree=sizes[tree_offsets[i] : tree_offsets[i + 1]],
            **{name: arrays[name][first:last] for name in _NODE_ARRAYS},
        )
        source = entry.get("source", entry["name"].partition(":")[0])
        models.append(
            BaseModel(entry["name"], profiles[i], ensemble, float(entry["error_rate"]), str(source))
        )
    synthetic = header.get("synthetic_sources", [])
    if not isinstance(synthetic, list) or not all(isinstance(s, str) for s in synthetic):
        raise bad("synthetic_sources")
    return KnowledgeBase(
        config=FeatureConfig(**config),
        models=models,
        sources=[str(s) for s in sources],
        synthetic_sources=synthetic,
        held_out=_held_out(header.get("zero_label_held_out", {}), bad),
    )


def _held_out(entries: Any, bad: Callable[[str], ComponentError]) -> dict[str, HeldOutScores]:
    """The held-out zero-label score counts of a header, checked."""
    if not isinstance(entries, dict):
        raise bad("zero_label_held_out")
    held_out = {}
    for source, counts in entries.items():
        if not isinstance(counts, dict) or set(counts) != {"cells", "errors"}:
            raise bad("zero_label_held_out")
        try:
            cells, errors = (np.array(counts[key]) for key in ("cells", "errors"))
        except ValueError:  # ragged lists
            raise bad("zero_label_held_out") from None
        if (
            cells.shape != errors.shape
            or cells.ndim != 2
            or cells.shape[1] != ZERO_LABEL_BINS + 1
            or cells.dtype.kind != "i"
            or errors.dtype.kind != "i"
            or (errors < 0).any()
            or (errors > cells).any()
        ):
            raise bad("zero_label_held_out")
        held_out[str(source)] = HeldOutScores(cells.astype(np.int64), errors.astype(np.int64))
    return held_out


def default_knowledge_base_path() -> Path:
    """The knowledge base shipped with iml4e_components (synthetic pairs and public benchmark pairs)."""
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
