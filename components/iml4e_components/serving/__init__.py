"""KServe-protocol model server for MLflow models (V1 and Open Inference Protocol V2), with metrics and request logging."""
