"""Safe undo: a tool's `check` refuses an undo whose effect changed since; force overrides it; all journaled."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from agentstop import GrantSpec, Journal, Supervisor, Tool, ToolContext
from agentstop.supervisor.undo import UNDO_REFUSED
from tests.support.tools import WriteNote

pytestmark = pytest.mark.anyio


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class CheckedNote(WriteNote):
    """WriteNote whose receipt keeps a hash of the file; `check` refuses when the file was edited since."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.check_failures: dict[str, int] = {}
        self.checked: list[tuple[str, int]] = []
        self.compensated: list[tuple[str, bool]] = []
        self.edit_during_compensate: dict[str, str] = {}

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        receipt = await super().commit(prepared, ctx)
        return {**receipt, "sha256": digest(Path(receipt["path"]))}

    async def check(self, receipt: dict[str, Any], ctx: ToolContext) -> str | None:
        self.checked.append((ctx.call_id, ctx.attempt))
        left = self.check_failures.get(ctx.call_id, 0)
        if left:
            self.check_failures[ctx.call_id] = left - 1
            raise ConnectionError("notes service unavailable")
        path = Path(receipt["path"])
        if path.exists() and digest(path) != receipt["sha256"]:
            return f"note {receipt['name']!r} was edited since the agent wrote it"
        return None

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        self.compensated.append((ctx.call_id, ctx.forced))
        if ctx.call_id in self.edit_during_compensate:
            # Someone edits the note while the first attempt fails: the retry must notice.
            edit(Path(receipt["path"]), self.edit_during_compensate.pop(ctx.call_id))
            raise ConnectionError("notes service unavailable")
        await super().compensate(receipt, ctx)


def edit(path: Path, text: str) -> None:
    """What a person does to the note between the agent's write and the undo."""
    note = json.loads(path.read_text())
    path.write_text(json.dumps({**note, "text": text}))


@pytest.fixture
def checked(world: Path) -> CheckedNote:
    return CheckedNote(world)


async def wrote(sup: Supervisor, *names: str) -> dict[str, Path]:
    return {name: Path((await sup.call("write_note", {"name": name, "text": "v1"}))["path"]) for name in names}


async def test_an_edited_effect_is_not_undone_and_the_refusal_is_journaled(
    journal: Journal, checked: CheckedNote
) -> None:
    sup = Supervisor(journal, [checked], GrantSpec())
    path = (await wrote(sup, "draft"))["draft"]
    edit(path, "a person's better text")

    [result] = await sup.undo(["c1"], by="ada")

    assert (result.status, result.attempts, result.forced) == ("refused", 1, False)
    assert result.drift == "note 'draft' was edited since the agent wrote it"
    assert result.drift in result.detail and "force" in result.detail
    assert checked.compensated == [], "nothing ran"
    assert json.loads(path.read_text())["text"] == "a person's better text"
    report = await sup.report()
    [item] = report.done
    assert (item.state, item.undo.status) == ("committed", "available")
    assert [i.call_id for i in report.undoable] == ["c1"]
    [refusal] = [e for e in await journal.events(sup.session_id) if e.kind == UNDO_REFUSED]
    assert refusal.call_id == "c1"
    assert refusal.data == {"reason": result.drift, "by": "ada", "attempt": 1}
    assert not [e for e in await journal.events(sup.session_id) if e.kind.startswith("compensat")]


async def test_force_skips_the_check_and_the_journal_says_it_was_forced(journal: Journal, checked: CheckedNote) -> None:
    sup = Supervisor(journal, [checked], GrantSpec())
    path = (await wrote(sup, "draft"))["draft"]
    edit(path, "a person's better text")
    [refused] = await sup.undo(["c1"])
    assert refused.status == "refused"

    [result] = await sup.undo(["c1"], by="ada", force=True)

    assert (result.status, result.forced, result.attempts) == ("compensated", True, 1)
    assert checked.checked == [("c1", 1)], "the forced undo ran no check"
    assert checked.compensated == [("c1", True)], "compensate is told the undo is forced"
    assert not path.exists()
    undo_events = [
        (e.kind, e.data)
        for e in await journal.events(sup.session_id)
        if e.call_id == "c1" and e.kind.startswith("compensat")
    ]
    # `compensating` names who asked and the process that ran it: a concurrent undo that loses says so.
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    assert undo_events == [
        ("compensating", {"forced": True, "by": "ada", "worker": me}),
        ("compensated", {"attempts": 1, "by": "ada", "forced": True}),
    ]
    assert (await journal.call(sup.session_id, "c1")).undo_by == "ada"


async def test_undo_all_goes_on_past_a_refusal_and_reports_it(journal: Journal, checked: CheckedNote) -> None:
    sup = Supervisor(journal, [checked], GrantSpec())
    paths = await wrote(sup, "a", "b", "c")
    edit(paths["b"], "edited")

    results = await sup.undo_all()

    assert [(r.call_id, r.status) for r in results] == [("c3", "compensated"), ("c2", "refused"), ("c1", "compensated")]
    assert checked.landed() == {"b"}
    assert [i.call_id for i in (await sup.report()).undoable] == ["c2"]

    [forced] = await sup.undo_all(force=True)
    assert (forced.call_id, forced.status) == ("c2", "compensated")
    assert checked.landed() == set()


async def test_an_unchanged_effect_is_checked_then_undone(journal: Journal, checked: CheckedNote) -> None:
    sup = Supervisor(journal, [checked], GrantSpec())
    await wrote(sup, "draft")

    [result] = await sup.undo(["c1"])

    assert (result.status, result.detail, result.drift) == ("compensated", "undone", "")
    assert checked.checked == [("c1", 1)] and checked.compensated == [("c1", False)]


async def test_a_check_that_raises_is_a_failed_attempt_and_is_retried(journal: Journal, checked: CheckedNote) -> None:
    sup = Supervisor(journal, [checked], GrantSpec())
    await wrote(sup, "draft")
    checked.check_failures["c1"] = 2

    [result] = await sup.undo(["c1"])

    assert (result.status, result.attempts) == ("compensated", 3)
    assert checked.checked == [("c1", 1), ("c1", 2), ("c1", 3)]
    assert checked.compensated == [("c1", False)], "compensate ran once, after the check could answer"


async def test_a_check_that_always_raises_ends_failed_and_retryable_with_nothing_run(
    journal: Journal, checked: CheckedNote
) -> None:
    sup = Supervisor(journal, [checked], GrantSpec())
    await wrote(sup, "draft")
    checked.check_failures["c1"] = 3

    [result] = await sup.undo(["c1"])

    assert result.status == "failed"
    assert result.detail == ("the drift check failed: ConnectionError: notes service unavailable (after 3 attempts)")
    assert checked.compensated == [] and checked.landed() == {"draft"}
    [item] = (await sup.report()).undoable
    assert (item.state, item.undo.status) == ("compensation_failed", "failed")
    assert "the drift check failed" in item.undo.detail

    [retry] = await sup.undo(["c1"])
    assert retry.status == "compensated"
    assert checked.landed() == set()


async def test_a_change_made_between_two_attempts_stops_the_retry(journal: Journal, checked: CheckedNote) -> None:
    sup = Supervisor(journal, [checked], GrantSpec())
    path = (await wrote(sup, "draft"))["draft"]
    checked.edit_during_compensate["c1"] = "edited while the undo was failing"

    [result] = await sup.undo(["c1"])

    assert (result.status, result.attempts) == ("refused", 2)
    assert checked.compensated == [("c1", False)], "the second attempt's check refused before compensating"
    assert json.loads(path.read_text())["text"] == "edited while the undo was failing"
    # The undo had begun (compensating), so it ends failed, saying why; it stays undoable, and can be forced.
    [item] = (await sup.report()).undoable
    assert item.state == "compensation_failed"
    assert item.undo.detail == f"undo failed: refused: {result.drift}; retry possible"

    [forced] = await sup.undo(["c1"], force=True)
    assert forced.status == "compensated" and not path.exists()


async def test_a_tool_without_check_is_undone_as_before(journal: Journal, notes: WriteNote) -> None:
    assert not WriteNote.can_check() and CheckedNote.can_check()
    assert await Tool().check({}, ToolContext("s", "c1", "t", "k")) is None
    assert Tool().undo_summary({}) == ""
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "a"})
    [result] = await sup.undo(["c1"], force=False)
    assert (result.status, result.forced) == ("compensated", False)


async def test_a_drift_reason_is_redacted_before_it_is_journaled(journal: Journal, world: Path) -> None:
    class Leaky(CheckedNote):
        async def check(self, receipt: dict[str, Any], ctx: ToolContext) -> str | None:
            return "edited by a script using api_key=sk-live-0123456789abcdef0123"

    sup = Supervisor(journal, [Leaky(world)], GrantSpec())
    await wrote(sup, "draft")
    [result] = await sup.undo(["c1"])
    [refusal] = [e for e in await journal.events(sup.session_id) if e.kind == UNDO_REFUSED]
    assert "sk-live-0123456789abcdef0123" not in result.drift + json.dumps(refusal.data)
