"""Which journal database a location names: a path is SQLite, a `postgresql://` URL is PostgreSQL.

Apart from `backend.py` so that the base class the backends build on does not
import the backends themselves (each is loaded only when a location names it:
psycopg is needed only for a URL).
"""

from __future__ import annotations

import os
from pathlib import Path

from .backend import Backend, is_url

__all__ = ["open_backend"]


def open_backend(target: str | os.PathLike[str], busy_timeout: float) -> Backend:
    """The backend a path or `postgresql://` URL names."""
    if is_url(target):
        from .postgres import PostgresBackend  # psycopg is needed only here

        return PostgresBackend(str(target), busy_timeout)
    from .sqlite import SqliteBackend

    return SqliteBackend(Path(target).expanduser(), busy_timeout)
