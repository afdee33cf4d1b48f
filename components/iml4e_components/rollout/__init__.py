"""Canary rollouts: the analysis that compares a canary with the primary on served traffic and decides to
promote or roll it back, reading the request log as it grows, and the rollout's marks in MLflow.

The split itself (which variant answers a request, the control file) is the model server's:
`iml4e_components.serving.traffic_split`."""
