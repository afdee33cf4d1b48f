"""iml4e component library: one subpackage per capability, each a pure `core` plus KFP wrappers.

This package never imports `iml4e` or `iml4e_pipelines`, so the component image stays light.
"""

__version__ = "0.1.0"
