"""Options that several commands share, declared once."""

from __future__ import annotations

import typer

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON to stdout.")
CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="iml4e.yaml to read (default: ./iml4e.yaml if present)."
)
PROFILE_OPTION = typer.Option(None, "--profile", help="minimal | standard | full (overrides iml4e.yaml).")
KUBECONFIG_OPTION = typer.Option(None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG).")
CONTEXT_OPTION = typer.Option(None, "--context", help="kubeconfig context (default: the current one).")
YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
