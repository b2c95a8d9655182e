"""What the demo world persisted, read from its directory after the demo (and its world) exited.

Nothing here talks to a service: the checks read the files the services keep
(the outbox and chat queues in SQLite, the Maildir, calendar.ics, prs.json and
the bare git remote, the production database and the ledger), as a person
checking the demo's report against the world would.
"""

from __future__ import annotations

import json
import mailbox
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

from icalendar import Calendar

__all__ = ["BASE_BRANCHES", "INITIAL_BALANCES", "WorldState", "assert_world_matches", "by_tool"]

INITIAL_BALANCES = {"acme": 50_000, "globex": 1_500, "initech": 0, "ops": 1_000_000}
BASE_BRANCHES = {"main", "release"}


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    assert db.exists(), f"the world never created {db}"
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


class WorldState:
    """Readers for each store of one demo world directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def _queue(self, name: str) -> list[dict[str, Any]]:
        rows = _rows(self.dir / name, "SELECT key, payload, status FROM items ORDER BY created_at")
        return [{"key": key, "status": status, **json.loads(payload)} for key, payload, status in rows]

    def outbox(self) -> list[dict[str, Any]]:
        """Every message the mail API accepted: key, to, subject, body, message_id, status."""
        return self._queue("outbox.sqlite")

    def chat_queue(self) -> list[dict[str, Any]]:
        """Every message the chat webhook accepted: key, channel, text, status."""
        return self._queue("chat_queue.sqlite")

    def channel(self) -> list[dict[str, Any]]:
        """What reached the chat channel (chat.jsonl)."""
        path = self.dir / "chat.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def maildir(self) -> list[dict[str, str]]:
        """The delivered mail: Message-ID, To and Subject of each message in the Maildir."""
        box = mailbox.Maildir(self.dir / "mailbox", create=False)
        try:
            return [{"message_id": str(m["Message-ID"]), "to": str(m["To"]), "subject": str(m["Subject"])} for m in box]
        finally:
            box.close()

    def events(self) -> list[tuple[str, str]]:
        """(UID, SUMMARY) of each event in calendar.ics."""
        path = self.dir / "calendar.ics"
        if not path.exists():
            return []
        calendar = Calendar.from_ical(path.read_bytes())
        return [(str(e["UID"]), str(e["SUMMARY"])) for e in calendar.walk("VEVENT")]

    def prs(self) -> list[dict[str, Any]]:
        """The pull request records (prs.json)."""
        records: list[dict[str, Any]] = json.loads((self.dir / "prs.json").read_text())
        return records

    def branches(self) -> set[str]:
        """The branches of the bare git remote."""
        out = subprocess.run(
            [
                "git",
                f"--git-dir={self.dir / 'origin.git'}",
                "for-each-ref",
                "--format=%(refname:lstrip=2)",
                "refs/heads",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        return set(out.stdout.split())

    def migrations(self) -> list[tuple[int, str, str]]:
        """(id, kind, description) of each audit row of the production database."""
        return [
            (int(i), str(k), str(d))
            for i, k, d in _rows(self.dir / "production.db", "SELECT id, kind, description FROM audit ORDER BY id")
        ]

    def customer_columns(self) -> set[str]:
        return {row[1] for row in _rows(self.dir / "production.db", "PRAGMA table_info(customers)")}

    def entries(self) -> list[tuple[int, str, str, int]]:
        """(id, kind, account, amount_cents) of each ledger entry."""
        return [
            (int(i), str(k), str(a), int(c))
            for i, k, a, c in _rows(
                self.dir / "ledger.db", "SELECT id, kind, account, amount_cents FROM entries ORDER BY id"
            )
        ]

    def balances(self) -> dict[str, int]:
        return {str(a): int(b) for a, b in _rows(self.dir / "ledger.db", "SELECT id, balance_cents FROM accounts")}


def by_tool(items: list[dict[str, Any]], tool: str) -> list[dict[str, Any]]:
    return [i for i in items if i["tool"] == tool]


def assert_partition(report: dict[str, Any]) -> None:
    """Every call is in exactly one of done, interrupted, in flight; undoable is a subset of done."""
    ids = [i["call_id"] for bucket in ("done", "interrupted", "in_flight") for i in report[bucket]]
    assert len(ids) == len(set(ids)), f"a call is in two buckets: {ids}"
    done = {i["call_id"] for i in report["done"]}
    assert {i["call_id"] for i in report["undoable"]} <= done
    revoked_at = report["session"]["revoked_at"]
    if revoked_at is not None:
        for item in report["done"]:
            assert item["fence_at"] < revoked_at, f"{item['call_id']} passed the fence after the revoke"


def assert_world_matches(report: dict[str, Any], world: WorldState) -> None:
    """Each store holds exactly the effects of the calls the report calls done (and nothing else)."""
    assert_partition(report)
    assert report["in_flight"] == [], "the demo tools settle every call before the demo exits"
    done = report["done"]

    # Mail: the outbox holds exactly the done sends, each queued or delivered; the Maildir holds
    # exactly the delivered ones.
    sends = by_tool(done, "send_email")
    outbox = world.outbox()
    assert sorted((m["key"], m["to"], m["subject"]) for m in outbox) == sorted(
        (i["receipt"]["key"], i["args"]["to"], i["args"]["subject"]) for i in sends
    )
    assert {m["status"] for m in outbox} <= {"queued", "delivered"}
    delivered = sorted((m["message_id"], m["to"], m["subject"]) for m in outbox if m["status"] == "delivered")
    assert sorted((m["message_id"], m["to"], m["subject"]) for m in world.maildir()) == delivered

    # Calendar: exactly the done events.
    assert sorted(world.events()) == sorted(
        (i["receipt"]["uid"], i["args"]["title"]) for i in by_tool(done, "create_event")
    )

    # Pull requests: exactly the done PRs, as drafts, with their branch pushed.
    prs = by_tool(done, "open_draft_pr")
    assert sorted((p["number"], p["branch"], p["title"], p["state"]) for p in world.prs()) == sorted(
        (i["receipt"]["pr_number"], i["args"]["branch"], i["args"]["title"], "draft") for i in prs
    )
    assert world.branches() == BASE_BRANCHES | {i["args"]["branch"] for i in prs}

    # Chat: the webhook accepted exactly the done posts; the channel shows the delivered ones.
    posts = by_tool(done, "post_message")
    queue = world.chat_queue()
    assert sorted((m["key"], m["channel"], m["text"]) for m in queue) == sorted(
        (i["receipt"]["key"], i["args"]["channel"], i["args"]["text"]) for i in posts
    )
    assert sorted(m["key"] for m in world.channel()) == sorted(m["key"] for m in queue if m["status"] == "delivered")

    # Production database: one audit row per done migration, and its schema change only then.
    migrations = by_tool(done, "migrate_database")
    assert world.migrations() == [(i["receipt"]["audit_id"], "migration", i["args"]["description"]) for i in migrations]
    assert ("tier" in world.customer_columns()) == bool(migrations)

    # Ledger: one entry per done charge or wire, and balances that add up.
    charges, wires = by_tool(done, "charge"), by_tool(done, "wire_transfer")
    assert sorted(world.entries()) == sorted(
        [(i["receipt"]["entry_id"], "charge", i["args"]["account"], i["args"]["amount_cents"]) for i in charges]
        + [(i["receipt"]["entry_id"], "wire", i["args"]["from_account"], i["args"]["amount_cents"]) for i in wires]
    )
    expected = dict(INITIAL_BALANCES)
    for i in charges:
        expected[i["args"]["account"]] -= i["args"]["amount_cents"]
    for i in wires:
        expected[i["args"]["from_account"]] -= i["args"]["amount_cents"]
    assert world.balances() == expected
