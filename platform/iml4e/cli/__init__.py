"""The `iml4e` command line. Command modules import heavy libraries inside their functions."""
