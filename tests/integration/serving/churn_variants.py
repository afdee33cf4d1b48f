"""A canary variant of the churn classifier, as MLflow "models from code" (a real pyfunc).

`kind` (the model config): `good` answers like the wrapped classifier, `broken` raises on the rows
whose age is a multiple of 5 (about 20% of the rows), `wrong` answers the opposite class. The
wrapped scikit-learn model is the pyfunc's `churn` artifact. Loaded by MLflow from this file; see
`churn_model.register_variant`.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd


class ChurnVariant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]  # mlflow ships partial hints
    def load_context(self, context: Any) -> None:
        import mlflow.sklearn

        self.model = mlflow.sklearn.load_model(context.artifacts["churn"])
        self.kind = str(context.model_config["kind"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        if self.kind == "broken" and (model_input["age"] % 5 == 0).any():
            raise RuntimeError("this canary fails on ages that are a multiple of 5")
        predicted = self.model.predict(model_input)
        return 1 - predicted if self.kind == "wrong" else predicted


mlflow.models.set_model(ChurnVariant())
