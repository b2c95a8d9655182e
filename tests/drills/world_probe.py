"""The demo world as it is on disk, read by idempotency key: what landed, what was undone.

The drills never ask the tools (or the journal) what happened: they read the
services' own files. `Snapshot.effect(tool, key)` says, for one call, whether its
effect is "absent" (never landed), "landed" (there, not undone) or "undone"
(taken back or compensated); for the calendar an undone event is simply gone,
so there it says "gone" (absent or undone, the file cannot tell which).
"""

from __future__ import annotations

import json
import mailbox
import re
import sqlite3
import subprocess
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from icalendar import Calendar, Event

from demo_tools.local_stores import git_env
from demo_tools.world_config import WorldConfig

__all__ = ["ABSENT", "GONE", "LANDED", "UNDONE", "Snapshot", "allowed_effects", "message_id_key"]

ABSENT, LANDED, UNDONE, GONE = "absent", "landed", "undone", "gone"

_DONE = {"committed", "compensating", "compensated", "compensation_failed"}
_INTERRUPTED = {"planned", "prepared", "rejected", "discarded", "failed"}


def allowed_effects(state: str) -> set[str]:
    """What the world may show for a call in `state` once recovery has settled it.

    Committed means it is there; compensated means it was taken back; a call that
    never reached the world left nothing; a compensation that failed (or died
    half-way) may have done its work or not, and the report says to retry it.
    """
    if state == "committed":
        return {LANDED}
    if state == "compensated":
        return {UNDONE, GONE}
    if state in ("compensation_failed", "compensating"):
        return {LANDED, UNDONE, GONE}
    if state in _INTERRUPTED:
        return {ABSENT, GONE}
    return set()  # in flight: recovery settles every call of a tool with lookup


def _rows(path: str, sql: str) -> list[tuple[str, str]]:
    if not Path(path).exists():
        return []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return [(str(a), str(b)) for a, b in db.execute(sql)]


def message_id_key(message_id: str) -> str:
    """The idempotency key in a demo Message-ID (`<key@agentstop.demo>`; ':' became '.')."""
    match = re.fullmatch(r"<(.*)@agentstop\.demo>", message_id.strip())
    return match.group(1) if match else ""


@dataclass(frozen=True)
class Snapshot:
    """Every keyed effect in the world at one moment."""

    outbox: dict[str, str]
    chat: dict[str, str]
    calendar: set[str]
    prs: dict[str, dict[str, str]]
    branches: dict[str, str]
    audit: dict[str, str]
    ledger: dict[str, str]

    @classmethod
    def take(cls, world: WorldConfig, tools: Iterable[str] | None = None) -> Snapshot:
        """Read the world's stores (files and SQLite, never the HTTP APIs).

        Args:
            world: the running world.
            tools: only read the stores these tools write (default: every store).
        """
        wanted = set(tools) if tools is not None else None

        def needs(*names: str) -> bool:
            return wanted is None or bool(wanted.intersection(names))

        root = Path(world.dir)
        calendar: set[str] = set()
        ics = root / "calendar.ics"
        if needs("create_event") and ics.exists():
            cal = Calendar.from_ical(ics.read_bytes())
            calendar = {str(e["uid"]) for e in cal.walk("VEVENT") if isinstance(e, Event)}
        prs: dict[str, dict[str, str]] = {}
        branches: dict[str, str] = {}
        if needs("open_draft_pr"):
            prs_path = Path(world.prs)
            prs = {r["key"]: r for r in json.loads(prs_path.read_text() or "[]")} if prs_path.exists() else {}
            refs = subprocess.run(
                [
                    "git",
                    f"--git-dir={world.git_remote}",
                    "for-each-ref",
                    "--format=%(refname:short) %(objectname)",
                    "refs/heads",
                ],
                capture_output=True,
                text=True,
                env=git_env(),
                check=True,
            ).stdout
            branches = dict(line.split(" ", 1) for line in refs.splitlines() if line)
        return cls(
            outbox=dict(_rows(str(root / "outbox.sqlite"), "SELECT key, status FROM items"))
            if needs("send_email")
            else {},
            chat=dict(_rows(str(root / "chat_queue.sqlite"), "SELECT key, status FROM items"))
            if needs("post_message")
            else {},
            calendar=calendar,
            prs=prs,
            branches=branches,
            audit=dict(_rows(world.database, "SELECT key, kind FROM audit")) if needs("migrate_database") else {},
            ledger=dict(_rows(world.ledger, "SELECT key, kind FROM entries"))
            if needs("charge", "wire_transfer")
            else {},
        )

    def effect(self, tool: str, key: str) -> str:
        """ABSENT, LANDED, UNDONE or (calendar) GONE for the call made with `key`."""
        if tool == "send_email":
            status = self.outbox.get(key)
            if status is None:
                return ABSENT
            return UNDONE if status == "pulled" or f"{key}:undo" in self.outbox else LANDED
        if tool == "post_message":
            status = self.chat.get(key)
            if status is None:
                return ABSENT
            return UNDONE if status in ("pulled", "retracted") else LANDED
        if tool == "create_event":
            return LANDED if key in self.calendar else GONE
        if tool == "open_draft_pr":
            record = self.prs.get(key)
            if record is None:
                return ABSENT
            return {"draft": LANDED, "closed": UNDONE}.get(record["state"], record["state"])
        if tool == "migrate_database":
            if self.audit.get(key) != "migration":
                return ABSENT
            return UNDONE if f"{key}:undo" in self.audit else LANDED
        if tool in ("charge", "wire_transfer"):
            if key not in self.ledger:
                return ABSENT
            return UNDONE if f"{key}:refund" in self.ledger else LANDED
        raise AssertionError(f"the drills do not know how to look for {tool} in the world")

    def problems(self, calls: Iterable[tuple[str, str, str, str]]) -> list[str]:
        """Calls whose journaled state the world contradicts: (call_id, tool, key, state) in, lines out."""
        out = []
        for call_id, tool, key, state in calls:
            seen = self.effect(tool, key)
            if seen not in allowed_effects(state):
                out.append(f"{call_id} {tool} is {state} in the journal but {seen} in the world (key {key})")
        return out

    def pr_branch_problems(self, calls: Iterable[tuple[str, str, str, str]], branches: dict[str, str]) -> list[str]:
        """A pushed branch is on origin exactly while its PR is an open draft.

        `branches` maps each open_draft_pr call's key to the branch it asked for.
        """
        out = []
        for call_id, tool, key, state in calls:
            if tool != "open_draft_pr":
                continue
            record = self.prs.get(key)
            head = self.branches.get(branches[key])
            if record is not None and record["state"] == "draft" and head != record["head_sha"]:
                out.append(f"{call_id}: PR #{record['number']} is a draft but origin has {head} for its branch")
            if head is not None and (record is None or record["state"] != "draft") and state not in _DONE:
                out.append(f"{call_id} is {state}, but its branch {branches[key]} was pushed to origin ({head[:12]})")
        return out

    def unaccounted(self, calls_by_key: dict[str, tuple[str, str]]) -> list[str]:
        """Effects in the world that no journaled call accounts for (the world read from its side).

        Args:
            calls_by_key: idempotency key -> (tool, state after recovery) of every call made against
                this world. An undo's own effect (`<key>:undo`, `<key>:refund`) is checked against its call.
        """
        out: list[str] = []
        accounted = _DONE | {"committing", "unknown"}  # Done or In flight

        def check(store: str, key: str, states: set[str] = accounted) -> None:
            base = key.removesuffix(":undo").removesuffix(":refund")
            call = calls_by_key.get(base)
            if call is None:
                out.append(f"{store} holds {key!r}, which no journaled call made")
            elif call[1] not in states:
                out.append(f"{store} holds {key!r}, but the journal has its {call[0]} call as {call[1]}")

        for key in self.outbox:
            check("the mail outbox", key)
        for key in self.chat:
            check("the chat queue", key)
        for key in self.audit:
            check("the production audit table", key)
        for key in self.ledger:
            check("the ledger", key)
        for uid in self.calendar:
            check("the calendar", uid, {"committed", "compensation_failed"})
        for key, record in self.prs.items():
            check("prs.json", key)
            if record["state"] == "pending":
                out.append(f"prs.json holds a pending record for {key!r} after recovery")
        open_heads = {r["branch"]: r["head_sha"] for r in self.prs.values() if r["state"] == "draft"}
        for branch, head in self.branches.items():
            if branch not in ("main", "release") and open_heads.get(branch) != head:
                out.append(f"origin has branch {branch!r} at {head[:12]} with no open draft PR for it")
        return out


def maildir_keys(world: WorldConfig) -> set[str]:
    """Keys of every message delivered to the Maildir."""
    box = mailbox.Maildir(world.mailbox, create=False)
    return {message_id_key(str(msg["Message-ID"])) for msg in box}
