"""An MLflow model as a KServe model: loaded once, predicting on typed numpy columns.

scikit-learn models are called directly on a DataFrame built from the already validated
columns (MLflow's pyfunc would check the schema a second time per request); other flavours go
through the pyfunc.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from kserve import Model

from iml4e_components.errors import ComponentError
from iml4e_components.serving.validation import Columns, ColumnSpec, columns_from_signature, decode_v1

#: The names of the served outputs (Open Inference Protocol tensors).
PREDICT = "predict"
PREDICT_PROBA = "predict_proba"


class MLflowServedModel(Model):  # type: ignore[misc]  # kserve ships no type information
    """One MLflow model (any `models:/`, `runs:/` or path URI) behind KServe's model interface."""

    def __init__(self, name: str, model_uri: str) -> None:
        super().__init__(name)
        self.model_uri = model_uri
        self.version: str | None = None
        self.columns: list[ColumnSpec] = []
        self.output_datatype = "FP64"
        self._predict: Any = None
        #: The classifier's class labels, in the order of `predict_proba`'s columns; empty if it has none.
        self.classes: list[Any] = []
        self._features: Any = None  # a scikit-learn pipeline's steps before its classifier
        self._classifier: Any = None

    def load(self) -> bool:
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException

        try:
            pyfunc = mlflow.pyfunc.load_model(self.model_uri)
        except (MlflowException, OSError) as exc:
            raise ComponentError(
                f"cannot load model '{self.model_uri}': {getattr(exc, 'message', exc)}; "
                "check the URI (models:/name@alias, runs:/id/model or a path) and MLFLOW_TRACKING_URI"
            ) from exc
        signature = pyfunc.metadata.get_input_schema()
        if signature is None or not signature.has_input_names():
            raise ComponentError(
                f"model '{self.model_uri}' has no named input signature; log it with a signature "
                "(mlflow.models.infer_signature) so requests can be checked"
            )
        self.columns = columns_from_signature(
            [(str(spec.name), str(getattr(spec.type, "name", spec.type))) for spec in signature.inputs]
        )
        outputs = pyfunc.metadata.get_output_schema()
        if outputs is not None and outputs.inputs:
            first = outputs.inputs[0]
            mlflow_type = str(getattr(first.type, "name", first.type))
            self.output_datatype = columns_from_signature([("out", mlflow_type)])[0].v2_datatype
        self.version = _resolve_version(self.model_uri)
        flavors = pyfunc.metadata.flavors
        if "sklearn" in flavors and pyfunc.loader_module == "mlflow.sklearn":
            import sklearn

            # Validated JSON numbers are always finite (JSON has no NaN), so skip sklearn's re-check.
            sklearn.set_config(assume_finite=True)
            raw = pyfunc.get_raw_model()
            self._predict = raw.predict
            self._find_probabilities(raw)
        else:
            self._predict = pyfunc.predict
        self.ready = True
        return True

    def _find_probabilities(self, raw: Any) -> None:
        """A scikit-learn classifier (or a pipeline ending in one) also serves `predict_proba`."""
        from sklearn.pipeline import Pipeline

        classifier = raw[-1] if isinstance(raw, Pipeline) else raw
        if not hasattr(classifier, "predict_proba") or not hasattr(classifier, "classes_"):
            return
        self.classes = np.asarray(classifier.classes_).tolist()
        self._classifier = classifier
        self._features = raw[:-1] if isinstance(raw, Pipeline) else None

    @property
    def output_names(self) -> list[str]:
        return [PREDICT, PREDICT_PROBA] if self.classes else [PREDICT]

    def predict_columns(self, columns: Columns) -> np.ndarray[Any, Any]:
        """Predict on validated columns (each one numpy array, same length); one output row per input row."""
        result = self._predict(self._frame(columns))
        if isinstance(result, pd.DataFrame | pd.Series):
            result = result.to_numpy()
        return np.asarray(result)

    def predict_with_probabilities(self, columns: Columns) -> np.ndarray[Any, Any]:
        """Labels and class probabilities in one pass, as a record array with the fields `predict` and
        `predict_proba` (one row per input row, so a batch of requests can be sliced like labels).

        A pipeline's feature steps run once; its classifier then gives both answers, exactly as
        the pipeline's own `predict` and `predict_proba` would."""
        if not self.classes:
            raise ComponentError(f"model '{self.model_uri}' is not a classifier with predict_proba")
        features = self._frame(columns)
        if self._features is not None:
            features = self._features.transform(features)
        labels = np.asarray(self._classifier.predict(features))
        probabilities = np.asarray(self._classifier.predict_proba(features), dtype=np.float64)
        answer = np.empty(
            len(labels),
            dtype=[(PREDICT, labels.dtype), (PREDICT_PROBA, np.float64, (probabilities.shape[1],))],
        )
        answer[PREDICT] = labels
        answer[PREDICT_PROBA] = probabilities
        return answer

    def _frame(self, columns: Columns) -> pd.DataFrame:
        return pd.DataFrame({spec.name: columns[spec.name] for spec in self.columns}, copy=False)

    # KServe's own V1 request path; iml4e's front serves the inference routes itself (see server.py).
    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        columns, _ = decode_v1(payload, self.columns)
        return {"predictions": self.predict_columns(columns).tolist()}

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "datatype": c.v2_datatype, "shape": [-1]} for c in self.columns]

    def get_output_types(self) -> list[dict[str, Any]]:
        """The Open Inference Protocol's output metadata: the label, and for a classifier the
        probability of each class (columns in the order of `classes`)."""
        outputs = [{"name": PREDICT, "datatype": self.output_datatype, "shape": [-1]}]
        if self.classes:
            outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, len(self.classes)]})
        return outputs


def _resolve_version(model_uri: str) -> str | None:
    """The registry version behind a `models:/name@alias` or `models:/name/version` URI, if any."""
    if not model_uri.startswith("models:/"):
        return None
    reference = model_uri.removeprefix("models:/")
    try:
        import mlflow

        client = mlflow.MlflowClient()
        if "@" in reference:
            name, alias = reference.split("@", 1)
            return str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = reference.partition("/")
        return version or None
    except Exception:  # the version is informative only; serving works without it
        return None
