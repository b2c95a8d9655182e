"""Enter expands a report row: its arguments (secrets masked), prepared effect, receipt and undo."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop.tui.widgets.call_detail import CallDetail
from tests.tui.helpers import GatedNote, Puppet, app_for, ended, finish, note, press, rows, text_of, wait_until

pytestmark = pytest.mark.anyio

SECRET = "tok-live-4f9a8c7e1d2b"


def two_notes(notes: GatedNote) -> Puppet:
    return Puppet([note("a", text="draft"), note("b", text="with the token", api_token=SECRET)])


async def test_enter_expands_a_row_with_its_secrets_masked(tmp_path: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], two_notes(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        await wait_until(pilot, lambda: rows(app.report_screen.table("undoable")) == ["c2", "c1"], "the report")
        await wait_until(pilot, lambda: app.focused is app.report_screen.table("undoable"), "Undoable has the focus")
        detail = app.report_screen.query_one("#detail", CallDetail)
        assert not detail.display

        await press(pilot, "enter")  # c2 is under the cursor
        await wait_until(pilot, lambda: detail.display, "the row is expanded")
        assert detail.item is not None and detail.item.call_id == "c2"
        shown = text_of(detail)
        assert "c2 · write_note  note 'b'" in shown
        assert '"api_token": "***"' in shown
        assert SECRET not in shown
        assert '"text": "with the token"' in shown
        assert '"path": "world/b.json"' in shown  # the receipt
        assert "undo available: exact undo" in shown

        await press(pilot, "down")  # the expanded view follows the cursor
        await wait_until(pilot, lambda: detail.item is not None and detail.item.call_id == "c1", "c1 is expanded")
        await press(pilot, "enter")  # again on the expanded row: collapse
        await wait_until(pilot, lambda: not detail.display, "the detail is collapsed")
        await finish(pilot)
    assert all(SECRET.encode() not in f.read_bytes() for f in tmp_path.glob("journal.db*"))
