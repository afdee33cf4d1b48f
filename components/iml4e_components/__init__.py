"""iml4e component library: one subpackage per capability, each a pure `core` plus KFP wrappers.

This package never imports `iml4e` or `iml4e_pipelines`, so the component image stays light.
"""

from iml4e_components.mlflow_plugins import skip_slow_mlflow_plugins

__version__ = "0.1.0"

skip_slow_mlflow_plugins()
