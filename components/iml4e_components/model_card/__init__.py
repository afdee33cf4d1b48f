"""Model cards: the Model Card Toolkit schema (`card`), conformance specs and checks (`spec`), generation
from MLflow (`generate`), rendering (`render`) and the pipeline gate (`core`, `component`)."""
