"""A package's names imported on first use: the module `__getattr__` (PEP 562) of `agentstop.mcp` and `.task`.

A command that only needs a package's light half (the CLI's `report` reading a
session's recorded tools) should not pay for its heavy half (pydantic models, an
SDK). The package lists where each name lives; the first access imports that
module and keeps the value in the package, so later accesses are plain lookups.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["names_imported_on_use"]


def names_imported_on_use(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` for `package`: each name in `homes` imported from its module (relative to it) on first use.

    Usage, in the package's `__init__.py`: `__getattr__ = names_imported_on_use(__name__, {"Name": ".module"})`.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
