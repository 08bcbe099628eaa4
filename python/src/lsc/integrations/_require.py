"""Imports of optional packages with a message that says what to install, and the options both
callbacks check the same way."""
from __future__ import annotations

import importlib
from typing import Callable, List, Optional, Sequence, Union


def require(module: str, pip_name: str, needed_by: str):
    """`module` imported, or an ImportError naming what needs it and the pip command that
    installs it (the original error chained, for a package that is present but broken)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{needed_by} needs the `{pip_name}` package, which is not installed "
                          f"here ({e}): pip install {pip_name}") from e


def callback_options(every: int, log: Union[None, Callable, Sequence[Callable]],
                     monitor_options: dict) -> Optional[List[Callable]]:
    """Checks a callback's `every` and that `monitor_options` (passed on to lsc.Monitor) do not
    name the callback's own arguments; returns `log` as a list of adapters (None: none given)."""
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every}")
    for bad in ("log", "every"):
        if bad in monitor_options:
            raise TypeError(f"CollapseMonitor: {bad} is the callback's own argument")
    return None if log is None else [log] if callable(log) else list(log)
