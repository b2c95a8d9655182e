"""Two undos of the same call: the loser says who has it, instead of "This is a bug" (issue 20, item 10)."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from agentstop import CallState, GrantSpec, Journal, Supervisor, ToolContext
from agentstop.errors import CallTaken
from tests.support.tools import WriteNote

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


class RacedNotes(WriteNote):
    """A notes tool whose drift check is where the other undo wins: it takes the call meanwhile."""

    journal: Journal
    other_finishes = False

    async def check(self, receipt: dict[str, Any], ctx: ToolContext) -> str | None:
        await self.journal.transition(
            ctx.session_id,
            ctx.call_id,
            CallState.COMPENSATING,
            durable=True,
            undo_by="agentstop undo --all (the other terminal)",
        )
        if self.other_finishes:
            await self.journal.transition(ctx.session_id, ctx.call_id, CallState.COMPENSATED, durable=True)
        return None


@pytest.mark.parametrize("other_finishes", [False, True])
async def test_an_undo_that_loses_the_call_names_who_has_it(
    journal: Journal, notes: WriteNote, other_finishes: bool
) -> None:
    raced = RacedNotes(notes.root)
    raced.journal, raced.other_finishes = journal, other_finishes
    sup = Supervisor(journal, [raced], GrantSpec())
    await sup.call("write_note", {"name": "once"})
    with pytest.raises(CallTaken) as err:
        await sup.undo(["c1"])
    message = str(err.value)
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in message
    assert "(agentstop undo --all (the other terminal))" in message
    assert ("already being undone" in message) is not other_finishes
    assert ("was undone" in message and "meanwhile" in message) is other_finishes
    assert "bug" not in message
    [call] = await journal.calls(sup.session_id)
    assert call.state == (CallState.COMPENSATED if other_finishes else CallState.COMPENSATING)
    await sup.stop("done")
