"""Optional extras: a missing one becomes one line with the command that installs it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from agentstop.errors import AgentstopError

__all__ = ["needs_extra"]

# The modules each optional extra brings (their top-level packages), for `needs_extra`.
_EXTRA_MODULES = {
    "mcp": frozenset({"mcp", "mcp_types", "jmespath", "jsonschema", "uvicorn", "starlette", "httpx", "httpx_sse"}),
    "postgres": frozenset({"psycopg", "psycopg_binary"}),
}


@contextmanager
def needs_extra(extra: str, what: str) -> Iterator[None]:
    """Turn a missing optional dependency of `extra` into an `AgentstopError` naming the install command.

    Raises:
        AgentstopError: a module of `extra` is not installed (the command line exits 2 with the line).
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _EXTRA_MODULES[extra]:
            raise
        raise AgentstopError(
            f"{what} needs agentstop's {extra} extra, which is not installed (no module named "
            f"{exc.name!r}): pip install 'agentstop[{extra}]'"
        ) from None
