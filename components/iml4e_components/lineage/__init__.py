"""OpenLineage for every iml4e step: emission (`emit`), local event store (`store`), graph walks."""
