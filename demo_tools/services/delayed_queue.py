"""A durable queue of keyed messages, each delivered once its time has come.

The mail outbox and the chat webhook both hold a message for a while before it
reaches anyone: that delay is what makes a pull-back an exact undo. The queue
lives in SQLite so a restarted world still delivers (or has pulled) what it had.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DelayedQueue", "Item", "Status"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key         TEXT PRIMARY KEY,
    payload     TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    deliver_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
)
"""


class Status(enum.StrEnum):
    """Where a queued message is."""

    QUEUED = "queued"
    """Waiting for its delivery time; can still be pulled back."""

    DELIVERED = "delivered"
    """Reached its recipient."""

    PULLED = "pulled"
    """Taken back before delivery; nobody saw it."""

    RETRACTED = "retracted"
    """Delivered, then a retraction was posted after it."""


@dataclass(frozen=True)
class Item:
    """One message in the queue."""

    key: str
    payload: dict[str, Any]
    status: Status
    created_at: float
    deliver_at: float
    updated_at: float

    def as_json(self) -> dict[str, Any]:
        """The item as the HTTP API shows it: its payload plus its status."""
        return {
            **self.payload,
            "key": self.key,
            "status": self.status.value,
            "created_at": self.created_at,
            "deliver_at": self.deliver_at,
            "updated_at": self.updated_at,
        }


class DelayedQueue:
    """Keyed messages with a delivery time, safe to use from many threads.

    One lock serialises every change, so a pull-back and a delivery of the same
    message can never both happen.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._db() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
            yield db

    def enqueue(self, key: str, payload: dict[str, Any], delay_s: float) -> tuple[Item, bool]:
        """Queue a message unless one with this key exists.

        Returns:
            The item for the key and whether this call created it.
        """
        now = time.time()
        with self._lock, self._db() as db:
            existing = _get(db, key)
            if existing is not None:
                return existing, False
            db.execute(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)",
                (key, json.dumps(payload), Status.QUEUED.value, now, now + delay_s, now),
            )
            created = _get(db, key)
        assert created is not None
        return created, True

    def get(self, key: str) -> Item | None:
        """The item for a key, or None."""
        with self._db() as db:
            return _get(db, key)

    def items(self) -> list[Item]:
        """Every item, oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM items ORDER BY created_at").fetchall()
        return [_item(row) for row in rows]

    def transition(
        self, key: str, src: Status, dst: Status, effect: Callable[[Item], None] | None = None
    ) -> Item | None:
        """Move an item from `src` to `dst`, running `effect` first.

        Nothing changes when the item is not in `src`, or when `effect` raises.

        Returns:
            The item after the call (in whatever status it is), or None when the
            key is unknown.
        """
        with self._lock, self._db() as db:
            item = _get(db, key)
            if item is None or item.status is not src:
                return item
            if effect is not None:
                effect(item)
            db.execute("UPDATE items SET status = ?, updated_at = ? WHERE key = ?", (dst.value, time.time(), key))
            return _get(db, key)

    def deliver_due(self, deliver: Callable[[Item], None]) -> int:
        """Deliver every queued item whose time has come; return how many were."""
        with self._db() as db:
            rows = db.execute(
                "SELECT key FROM items WHERE status = ? AND deliver_at <= ? ORDER BY deliver_at",
                (Status.QUEUED.value, time.time()),
            ).fetchall()
        delivered = 0
        for (key,) in rows:
            # Re-checked under the lock: it may have been pulled since the select.
            item = self.transition(key, Status.QUEUED, Status.DELIVERED, deliver)
            delivered += item is not None and item.status is Status.DELIVERED
        return delivered


def _get(db: sqlite3.Connection, key: str) -> Item | None:
    row = db.execute("SELECT * FROM items WHERE key = ?", (key,)).fetchone()
    return None if row is None else _item(row)


def _item(row: tuple[Any, ...]) -> Item:
    key, payload, status, created_at, deliver_at, updated_at = row
    return Item(key, json.loads(payload), Status(status), created_at, deliver_at, updated_at)
