"""Golden files and the tools that write them: rendered manifests per profile, compiled pipelines.

Regenerate after an intended change with `make golden`, then review the diff.
"""
