"""Drill 4: hostile and bad input through the Supervisor with the demo tools.

Path traversal into and out of the git repository, header injection into mail,
SQL the database tool must refuse, 1 MB strings, lone surrogates, JSON nested
10,000 deep, and calls outside the grant. Each must be refused (or neutralised)
with a clear reason in the journal, and nothing may reach the world: the
world's own files are read before and after.
"""

from __future__ import annotations

import hashlib
import mailbox
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import (
    AgentstopError,
    CallLimitReached,
    GrantExpired,
    GrantSpec,
    InvalidArgs,
    Journal,
    OutOfScope,
    Rejected,
    Supervisor,
    ToolFailed,
)
from demo_tools.calendar_tool import CreateEvent
from demo_tools.database import MigrateDatabase
from demo_tools.git_pr import OpenDraftPR
from demo_tools.local_stores import git_env
from demo_tools.mail import SendEmail
from demo_tools.payments import Charge
from demo_tools.settings import UNDO_WINDOW_ENV
from demo_tools.world_config import WorldConfig
from tests.drills.stats import record
from tests.drills.world_probe import ABSENT, GONE, LANDED, Snapshot, maildir_keys

pytestmark = pytest.mark.anyio

TOOLS = [SendEmail, CreateEvent, OpenDraftPR, MigrateDatabase, Charge]
MB = 1_000_000
OUTSIDE = Path("/tmp/agentstop-drill-outside")


def _fingerprint(world: WorldConfig) -> dict[str, Any]:
    """Everything hostile input could touch, hashed: repository refs, PRs, database, ledger, mail, calendar."""
    refs = subprocess.run(
        ["git", f"--git-dir={world.git_remote}", "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        text=True,
        env=git_env(),
        check=True,
    ).stdout
    out: dict[str, Any] = {
        "refs": refs,
        "prs": Path(world.prs).read_text(),
        "calendar": hashlib.sha256(Path(world.dir, "calendar.ics").read_bytes()).hexdigest(),
    }
    with closing(sqlite3.connect(world.database)) as db:
        out["database"] = [
            db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in ("customers", "audit", "tombstones")
        ]
        out["schema"] = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    with closing(sqlite3.connect(world.ledger)) as db:
        out["ledger"] = db.execute("SELECT * FROM entries").fetchall(), db.execute("SELECT * FROM accounts").fetchall()
    with closing(sqlite3.connect(Path(world.dir, "outbox.sqlite"))) as db:
        out["outbox"] = db.execute("SELECT key FROM items ORDER BY key").fetchall()
    return out


async def _refused(sup: Supervisor, tool: str, args: Any) -> tuple[type[BaseException], str]:
    """Run one hostile call; it must raise an AgentstopError and leave a reason in the journal."""
    with pytest.raises(AgentstopError) as caught:
        await sup.call(tool, args)
    call = (await sup.journal.calls(sup.session_id))[-1]
    assert call.state in ("rejected", "failed", "discarded"), (tool, call.state)
    assert call.reason, f"{tool}: refused without a reason in the journal"
    return type(caught.value), call.reason


@pytest.fixture
def quiet_world(world: WorldConfig) -> Iterator[WorldConfig]:
    """The world, checked to be exactly as it was once the test is over (nothing landed)."""
    before = _fingerprint(world)
    yield world
    assert _fingerprint(world) == before, "hostile input changed the world"


# -- git: paths and branch names --------------------------------------------------------------

TRAVERSALS = [
    "../escape.txt",
    "a/../../escape.txt",
    "/etc/agentstop-drill",
    "./.git/hooks/post-checkout",
    ".git/config",
    "sub/.GIT/config",
    "dir\\..\\..\\escape.txt",
    "nul\x00byte",
    "new\nline.txt",
    "dir/",
]
BRANCHES = [
    "--upload-pack=touch /tmp/pwned",
    "main..evil",
    "feature branch",
    "-x",
    "HEAD",
    "a/.hidden",
    "evil.lock",
    "@{-1}",
    "tab\tbranch",
    "ünïcode",
]


async def test_path_traversal_and_bad_branch_names_never_reach_the_repository(
    scratch: Path, quiet_world: WorldConfig
) -> None:
    async with Journal.open(scratch / "git.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        reasons = []
        for path in TRAVERSALS:
            kind, reason = await _refused(
                sup, "open_draft_pr", {"branch": "drill/t", "title": "x", "files": {path: "pwned\n"}}
            )
            assert kind is InvalidArgs and "files" in reason, reason
            reasons.append(reason)
        for branch in BRANCHES:
            kind, reason = await _refused(
                sup, "open_draft_pr", {"branch": branch, "title": "x", "files": {"ok.txt": "x\n"}}
            )
            assert kind is InvalidArgs and "branch" in reason, reason
    assert not Path("/etc/agentstop-drill").exists() and not Path("/tmp/pwned").exists()
    assert list(Path(quiet_world.dir).glob("work/git/*")) == []  # no private work dir left behind
    record("hostile input", "git: path traversal and option-like/invalid branch names", len(TRAVERSALS) + len(BRANCHES))


@pytest.fixture
def symlink_base(world: WorldConfig) -> Iterator[str]:
    """A base branch on origin whose tree holds symlinks leading out of the repository and into .git."""

    def git(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["git", f"--git-dir={world.git_remote}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=git_env(),
            check=True,
        ).stdout.strip()

    out_link = git("hash-object", "-w", "--stdin", stdin=str(OUTSIDE))
    git_link = git("hash-object", "-w", "--stdin", stdin=".git/hooks")
    tree = git(
        "mktree", stdin=git("ls-tree", "main") + f"\n120000 blob {out_link}\tescape\n120000 blob {git_link}\thooks\n"
    )
    git("update-ref", "refs/heads/drill-symlinks", git("commit-tree", tree, "-p", "main", "-m", "symlinks"))
    yield "drill-symlinks"
    git("update-ref", "-d", "refs/heads/drill-symlinks")


async def test_symlinks_in_the_base_branch_cannot_smuggle_a_write_out(
    scratch: Path, world: WorldConfig, symlink_base: str
) -> None:
    before = _fingerprint(world)
    async with Journal.open(scratch / "symlink.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for path in ("escape/evil.txt", "hooks/pre-commit"):
            kind, reason = await _refused(
                sup,
                "open_draft_pr",
                {
                    "branch": f"drill/{path.split('/')[0]}",
                    "base": symlink_base,
                    "title": "x",
                    "files": {path: "#!/bin/sh\ntouch /tmp/pwned\n"},
                },
            )
            assert kind is ToolFailed and "resolves outside the repository" in reason
    assert not OUTSIDE.exists() and not Path("/tmp/pwned").exists()
    assert _fingerprint(world) == before
    record("hostile input", "git: writes through symlinks out of the repo and into .git", 2)


# -- mail: header injection ---------------------------------------------------------------------


async def test_header_injection_in_mail_is_refused_and_nothing_is_sent(scratch: Path, quiet_world: WorldConfig) -> None:
    async with Journal.open(scratch / "mail.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for to in (
            "ada@example.com\r\nBcc: eve@evil.example",
            "ada@example.com\nBcc: eve@evil.example",
            "ada@example.com, eve@evil.example",
            "Ada <ada@example.com>",
            "eve@evil.example\x00",
        ):
            kind, reason = await _refused(sup, "send_email", {"to": to, "subject": "hi"})
            assert kind is InvalidArgs and reason.startswith("invalid arguments: to:"), reason
        for subject in ("hi\r\nBcc: eve@evil.example", "hi\nBcc: eve@evil.example", "hi\rBcc: eve@evil.example"):
            kind, reason = await _refused(sup, "send_email", {"to": "ada@example.com", "subject": subject})
            assert kind is ToolFailed and "must be one line" in reason, reason
    record("hostile input", "mail: header injection through the recipient and the subject (CR/LF)", 8)


UNICODE_BREAKS = ["\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c"]


async def test_unicode_line_breaks_in_a_subject_are_refused_too(
    scratch: Path, world: WorldConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "30")  # keep them queued: pulled back below, whatever happens
    refused = 0
    async with Journal.open(scratch / "mail-unicode.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for br in UNICODE_BREAKS:
            try:
                await sup.call("send_email", {"to": "ada@example.com", "subject": f"hi{br}Bcc: eve@evil.example"})
            except (InvalidArgs, ToolFailed):
                refused += 1
        await sup.undo_all()
    assert refused == len(UNICODE_BREAKS)


async def test_smtp_smuggling_in_a_body_is_neutralised(
    scratch: Path, world: WorldConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "0")
    body = (
        "hello\r\n.\r\nMAIL FROM:<eve@evil.example>\r\nRCPT TO:<eve@evil.example>\r\nDATA\r\n"
        "Subject: smuggled\r\n\r\nowned\r\n.\r\n"
    )
    async with Journal.open(scratch / "smuggle.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        receipt = await sup.call("send_email", {"to": "ada@example.com", "subject": "smuggling drill", "body": body})
    with anyio.fail_after(10):
        while receipt["key"] not in maildir_keys(world):
            await anyio.sleep(0.05)
    box = mailbox.Maildir(world.mailbox, create=False)
    assert not [m for m in box if m["Subject"] == "smuggled" or "eve@evil.example" in str(m["X-RcptTo"])]
    [mail] = [m for m in box if m["Message-ID"] == receipt["message_id"]]
    assert "MAIL FROM:<eve@evil.example>" in mail.get_payload()  # delivered as text, inside the one message
    record("hostile input", "mail: SMTP smuggling (CRLF.CRLF and commands) in a body", 1)


# -- database: forbidden statements and injection ------------------------------------------------

FORBIDDEN_SQL = [
    "DROP TABLE customers",
    "DELETE FROM customers",
    "UPDATE customers SET plan = 'free'; DROP TABLE customers",
    "UPDATE customers SET plan = 'free' -- WHERE id = 1",
    "UPDATE customers SET plan = 'free' /* WHERE id = 1 */",
    "ATTACH DATABASE '/tmp/agentstop-drill-evil.db' AS evil",
    "PRAGMA writable_schema = ON",
    "UPDATE audit SET description = 'nothing happened'",
    "UPDATE \"AUDIT\" SET description = 'nothing happened'",
    "UPDATE [audit] SET description = 'nothing happened'",
    "UPDATE main.customers SET plan = 'free'",
    "INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 0, 'CREATE TABLE x (a)')",
    "CREATE TRIGGER wipe AFTER INSERT ON customers BEGIN DELETE FROM customers; END",
    "CREATE TEMP TABLE shadow (a)",
    "CREATE VIEW v AS SELECT * FROM customers",
    "WITH doomed AS (SELECT id FROM customers) DELETE FROM customers WHERE id IN doomed",
    "REPLACE INTO customers (id, name, email) VALUES (1, 'x', 'x@example.com')",
    "INSERT INTO customers (name, email) VALUES ('x', 'ada@example.com') ON CONFLICT (email) DO UPDATE SET plan = 'x'",
    "UPDATE OR REPLACE customers SET email = 'ada@example.com'",
    "UPDATE customers SET plan = 'free' RETURNING *",
    "UPDATE customers SET plan = ?",
    "ALTER TABLE customers DROP COLUMN plan",
    "ALTER TABLE customers RENAME TO clients",
    "VACUUM",
    "BEGIN; DELETE FROM customers; COMMIT",
    "SELECT * FROM customers",
    "UPDATE customers SET name = 'unclosed",
]


async def test_forbidden_and_injected_sql_is_refused_before_the_database_sees_it(
    scratch: Path, quiet_world: WorldConfig
) -> None:
    async with Journal.open(scratch / "sql.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for sql in FORBIDDEN_SQL:
            kind, reason = await _refused(sup, "migrate_database", {"description": "drill", "statements": [sql]})
            assert kind is InvalidArgs and "statements: Value error, statement 1:" in reason, (sql, reason)
        # Allowed in form, refused by SQLite itself in prepare: still nothing committed.
        kind, reason = await _refused(
            sup,
            "migrate_database",
            {
                "description": "drill",
                "statements": ["UPDATE customers SET name = load_extension('/tmp/agentstop-drill-evil.so')"],
            },
        )
        assert kind is ToolFailed and "not authorized" in reason
    assert not Path("/tmp/agentstop-drill-evil.db").exists()
    record("hostile input", "database: forbidden statements and SQL injection", len(FORBIDDEN_SQL) + 1)


# -- huge, broken and deep arguments -----------------------------------------------------------------


async def test_megabyte_strings_in_bounded_fields_are_refused_with_the_field_named(
    scratch: Path, quiet_world: WorldConfig
) -> None:
    huge = "x" * MB
    cases = [
        ("open_draft_pr", {"branch": "drill/huge", "title": huge, "files": {"a.txt": "x"}}, "title"),
        ("migrate_database", {"description": huge, "statements": ["UPDATE customers SET plan = 'pro'"]}, "description"),
        (
            "migrate_database",
            {"description": "d", "statements": ["UPDATE customers SET plan = 'pro'"] * 51},
            "statements",
        ),
        ("charge", {"account": "acme", "amount_cents": 1, "memo": huge}, "memo"),
        ("charge", {"account": huge, "amount_cents": 1}, "account"),
    ]
    async with Journal.open(scratch / "huge.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for tool, args, field in cases:
            kind, reason = await _refused(sup, tool, args)
            assert kind is InvalidArgs and f"{field}:" in reason and len(reason) < 2_000, (field, reason[:200])
    record("hostile input", "1 MB strings in fields with a bound", len(cases))


async def test_megabyte_branch_names_and_paths_are_refused_by_validation(
    scratch: Path, quiet_world: WorldConfig
) -> None:
    huge = "x" * MB
    async with Journal.open(scratch / "huge-git.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for args, field in (
            ({"branch": "drill/" + huge, "title": "t", "files": {"a.txt": "x"}}, "branch"),
            ({"branch": "drill/huge", "title": "t", "files": {huge: "x"}}, "files"),
        ):
            kind, reason = await _refused(sup, "open_draft_pr", args)
            assert kind is InvalidArgs and f"{field}:" in reason and len(reason) < 2_000, (field, reason[:200])


async def test_megabyte_strings_anywhere_are_refused_before_they_bloat_the_journal_or_reach_the_world(
    scratch: Path, world: WorldConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "30")
    path = scratch / "huge-mail.db"
    huge = "x" * MB
    calls = [
        ("send_email", {"to": "ada@example.com", "subject": huge}),
        ("send_email", {"to": "ada@example.com", "subject": "big body", "body": huge}),
        ("create_event", {"title": "t", "start": "2032-01-01T10:00", "calendar": huge}),
        ("send_email", {"to": huge + "@example.com", "subject": "a megabyte address"}),
    ]
    seen = []
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for tool, args in calls:
            try:
                await sup.call(tool, args)
            except InvalidArgs:
                pass
            call = (await journal.calls(sup.session_id))[-1]
            seen.append(Snapshot.take(world, [tool]).effect(tool, call.idempotency_key))
        await sup.undo_all()
    size = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
    assert seen == [ABSENT, ABSENT, GONE, ABSENT], "a 1 MB argument was issued"
    assert size < 1_000_000, f"the journal holds {size} bytes for four refused calls"


async def test_lone_surrogates_in_arguments_are_refused_and_journaled(scratch: Path, quiet_world: WorldConfig) -> None:
    async with Journal.open(scratch / "surrogates.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for tool, args in (
            ("send_email", {"to": "ada@example.com", "subject": "bad \ud800 subject"}),
            ("charge", {"account": "acme", "amount_cents": 1, "memo": "bad \udcff memo"}),
        ):
            kind, reason = await _refused(sup, tool, args)
            assert issubclass(kind, Rejected) and "Unicode" in reason


async def test_lone_surrogates_in_file_contents_are_refused_before_prepare_and_nothing_is_pushed(
    scratch: Path, quiet_world: WorldConfig
) -> None:
    async with Journal.open(scratch / "surrogate-file.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        kind, reason = await _refused(
            sup, "open_draft_pr", {"branch": "drill/surrogate", "title": "t", "files": {"a.txt": "bad \ud800 content"}}
        )
    assert kind is InvalidArgs and "not valid Unicode" in reason
    record("hostile input", "invalid UTF-8 (lone surrogates) in file contents", 1)


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


async def test_nested_json_where_text_is_expected_is_refused(scratch: Path, quiet_world: WorldConfig) -> None:
    async with Journal.open(scratch / "nested.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        kind, reason = await _refused(
            sup, "send_email", {"to": "ada@example.com", "subject": "s", "body": _nested(300)}
        )
        assert kind is InvalidArgs and "nested deeper than 64 levels" in reason
    record("hostile input", "JSON nested 300 deep where text is expected", 1)


async def test_json_nested_ten_thousand_deep_is_refused_and_journaled(scratch: Path, quiet_world: WorldConfig) -> None:
    async with Journal.open(scratch / "deep.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec())
        for tool, args in (
            ("send_email", {"to": "ada@example.com", "subject": "s", "body": _nested(10_000)}),
            ("open_draft_pr", {"branch": "drill/deep", "title": "t", "files": _nested(10_000)}),
        ):
            kind, reason = await _refused(sup, tool, args)
            assert kind is InvalidArgs and "nested" in reason


# -- the grant: scopes, expiry, call limits -----------------------------------------------------------


async def test_calls_outside_the_grant_are_rejected_at_the_fence(scratch: Path, quiet_world: WorldConfig) -> None:
    grant = GrantSpec(
        tools=["send_email", "open_draft_pr", "charge", "migrate_database"],
        scopes=["mail:*@example.com", "git:main", "payments:acme"],
    )
    async with Journal.open(scratch / "scopes.db") as journal:
        sup = Supervisor(journal, TOOLS, grant)
        cases = [
            ("send_email", {"to": "eve@evil.example", "subject": "s"}, "resource 'mail:eve@evil.example'"),
            ("send_email", {"to": "ada@example.com.evil.example", "subject": "s"}, "outside grant"),
            ("send_email", {"to": "ADA@EXAMPLE.COM", "subject": "s"}, "outside grant"),
            (
                "open_draft_pr",
                {"branch": "drill/scope", "base": "release", "title": "t", "files": {"a.txt": "x"}},
                "resource 'git:release'",
            ),
            ("charge", {"account": "ops", "amount_cents": 1}, "resource 'payments:ops'"),
            ("create_event", {"title": "t", "start": "2032-01-01T10:00"}, "tool 'create_event' is not in grant"),
            (
                "migrate_database",
                {"description": "d", "statements": ["UPDATE customers SET plan = 'pro'"]},
                "resource 'db:production'",
            ),
        ]
        for tool, args, why in cases:
            kind, reason = await _refused(sup, tool, args)
            assert kind is OutOfScope and why in reason, reason
        calls = await journal.calls(sup.session_id)
        events = await journal.events(sup.session_id)
    assert {c.state for c in calls} == {"rejected"}
    assert not [e for e in events if e.kind == "committing"]
    assert list(Path(quiet_world.dir).glob("work/git/*")) == []  # the PR prepared before the fence was discarded
    record("hostile input", "calls outside the grant's tools and scopes (other domain, branch, account)", len(cases))


async def test_an_expired_grant_and_a_spent_call_limit_reject_at_the_fence(scratch: Path, world: WorldConfig) -> None:
    async with Journal.open(scratch / "expiry.db") as journal:
        sup = Supervisor(journal, TOOLS, GrantSpec(ttl=0.5))
        await sup.call("create_event", {"title": "in time", "start": "2032-01-01T10:00", "calendar": "grants"})
        await anyio.sleep(0.6)
        with pytest.raises(GrantExpired, match="expired"):
            await sup.call("create_event", {"title": "too late", "start": "2032-01-01T11:00", "calendar": "grants"})
        limited = Supervisor(journal, TOOLS, GrantSpec(max_calls=2))
        for i in range(2):
            await limited.call("create_event", {"title": f"ok {i}", "start": "2032-01-02T10:00", "calendar": "grants"})
        with pytest.raises(CallLimitReached, match="allows 2 calls, all used"):
            await limited.call("create_event", {"title": "third", "start": "2032-01-02T11:00", "calendar": "grants"})
        keys = {
            c.summary.split("“")[1].split("”")[0]: (c.idempotency_key, c.state)
            for s in (sup, limited)
            for c in await journal.calls(s.session_id)
        }
        snapshot = Snapshot.take(world, ["create_event"])
        await sup.undo_all()
        await limited.undo_all()
    assert keys["too late"][1] == keys["third"][1] == "rejected"
    assert [snapshot.effect("create_event", keys[t][0]) for t in ("in time", "ok 0", "ok 1")] == [LANDED] * 3
    assert [snapshot.effect("create_event", keys[t][0]) for t in ("too late", "third")] == [GONE] * 2
    record("hostile input", "expired grant; max_calls used up", 2)
