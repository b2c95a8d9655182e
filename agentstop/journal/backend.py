"""What a journal database must provide (`opening.open_backend` picks one for a location).

`ops.py` and `reads.py` hold the journal's only SQL, written once in the
dialect both databases speak (`?` placeholders, `RETURNING`, no JSON
functions). A backend supplies the rest: how to open and migrate its schema,
how to begin a transaction of a given durability, how to read without blocking
the event loop, and how its driver's errors read to a person. So the fence, the
state machine and the report are the same code on SQLite and PostgreSQL.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Backend", "ReadConnection", "is_url", "redact_url"]

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str | os.PathLike[str]) -> bool:
    """True when `target` names a PostgreSQL server rather than a file."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def redact_url(url: str) -> str:
    """The URL as messages may show it: a password (in the user part or `?password=`) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:  # too malformed to tell the password from the rest: show none of it
        return url.split("://", 1)[0] + "://..."
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query, flags=re.IGNORECASE)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class ReadConnection(abc.ABC):
    """A read-only view of the journal that never blocks the event loop."""

    @abc.abstractmethod
    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows (sequences) of one query; raises `JournalError` subclasses only."""

    @abc.abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[None]:
        """A block whose reads on this connection all see the journal as it was at its first read.

        One read transaction (SQLite: `BEGIN` ... `COMMIT` on this connection;
        PostgreSQL: `REPEATABLE READ, READ ONLY`), for a reader that reads one moment
        in several queries (a report written as it is read). Other reads on this
        connection meanwhile see that moment too: keep the block short.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection."""


class Backend(abc.ABC):
    """One journal database: a SQLite file or a PostgreSQL database."""

    #: "sqlite" or "postgresql".
    kind: str
    #: How messages name the journal: the file, or the URL without its password.
    where: str
    #: The driver's base error class(es): the writer maps them through `error`.
    driver_errors: tuple[type[BaseException], ...]
    #: A lone caller's unit may run on its own thread (`Writer.run(inline=True)`): the database answers
    #: from this machine's disk, never from a network that could hold the caller's event loop.
    runs_inline: bool = False

    @property
    def round_trips(self) -> int:
        """How many times this journal's connections have waited on a database server so far.

        A count, not a time: each batch of statements sent and answered is one
        (PostgreSQL); an in-process SQLite file has none. The benchmark and the
        tests read it around gated calls to see how many each one costs.
        """
        return 0

    @abc.abstractmethod
    def prepare(self, readonly: bool) -> None:
        """Create (unless read-only), validate and migrate the schema. Blocking."""

    @abc.abstractmethod
    def connect(self) -> Any:
        """A new write connection (DB-API style: `execute(sql, params)`). Blocking."""

    @abc.abstractmethod
    def usable(self, conn: Any) -> bool:
        """False once the connection is lost (the writer then opens a new one)."""

    @abc.abstractmethod
    def begin(self, conn: Any, durable: bool, *, wait: bool = True) -> None:
        """Begin a write transaction that commits durably (survives power loss) or not.

        Raises `JournalBusy` when another writer holds the lock past the bound,
        or at once, without `wait` (an inline unit must not hold its event loop).
        """

    @abc.abstractmethod
    def error(self, exc: BaseException) -> Exception:
        """The `JournalError` a driver error means, for a person."""

    @abc.abstractmethod
    async def reader(self, readonly: bool) -> ReadConnection:
        """A connection for reads."""

    def listen(self, wake: Callable[[str], None]) -> Callable[[], None] | None:
        """Call `wake(session_id)` when another process revokes; returns a stopper, or None if polling must do."""
        return None
