"""Imports of optional packages with a message that says what to install."""
from __future__ import annotations

import importlib


def require(module: str, pip_name: str, needed_by: str):
    """`module` imported, or an ImportError naming what needs it and the pip command that
    installs it (the original error chained, for a package that is present but broken)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{needed_by} needs the `{pip_name}` package, which is not installed "
                          f"here ({e}): pip install {pip_name}") from e
