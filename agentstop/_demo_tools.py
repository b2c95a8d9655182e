"""Where the demo tools are: the checkout's top-level `demo_tools`, or the copy a wheel ships inside agentstop.

A checkout (and an editable install, which puts the checkout on `sys.path`) has the
demo package at the top level, beside `agentstop/`. A wheel must not put a package
named `demo_tools` into a user's site-packages, so it ships it as
`agentstop/_bundled/demo_tools` (pyproject's wheel `sources`). Task files, journals
and `agentstop undo` name the demo tools by import path (`demo_tools.mail:SendEmail`)
either way: `make_importable()` adds the bundled copy's folder at the end of
`sys.path` when no other `demo_tools` can be found, so those paths resolve to the
same classes under the same names. The demo's world process is started with the
package's parent folder on its PYTHONPATH (`demo_tools.world.running_world`), so it
finds the package the same way.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from agentstop.errors import AgentstopError

__all__ = ["BUNDLED", "PACKAGE", "make_importable", "names_demo_tools"]

PACKAGE = "demo_tools"
"""The demo package's import name, the prefix of every demo tool's recorded path."""

BUNDLED = Path(__file__).resolve().parent / "_bundled"
"""The folder holding the `demo_tools` package in a wheel install (absent from a checkout)."""


def names_demo_tools(module_name: str) -> bool:
    """True when `module_name` is the demo package or one of its modules (`demo_tools.mail`)."""
    return module_name == PACKAGE or module_name.startswith(PACKAGE + ".")


def make_importable() -> Path:
    """Make `import demo_tools` work here, from the checkout or from the wheel's bundled copy.

    Returns:
        The package's folder (its `tasks/` holds the demo's task files).

    Raises:
        AgentstopError: neither a `demo_tools` package nor the bundled copy is installed.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None and (BUNDLED / PACKAGE / "__init__.py").is_file():
        sys.path.append(str(BUNDLED))
        importlib.invalidate_caches()
        spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise AgentstopError(
            f"the demo tools are not installed here (no {PACKAGE!r} package, nor {BUNDLED / PACKAGE}); "
            "reinstall agentstop (`pip install --force-reinstall agentstop`)"
        )
    return Path(spec.origin).parent
