"""Approvals: an irreversible call waits, prepared, at the fence until the person at the terminal decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input

from agentstop.tui import AgentstopApp
from agentstop.tui.screens.approval import ApprovalScreen
from tests.support.tools import Wire
from tests.tui.helpers import (
    Call,
    GatedNote,
    Puppet,
    Think,
    app_for,
    call_states,
    cell,
    ended,
    finish,
    note,
    press,
    shown,
    wait_until,
    world_notes,
)

pytestmark = pytest.mark.anyio


def agent_that_wires(notes: GatedNote) -> Puppet:
    return Puppet([note("a"), Think("Now I pay the agency."), Call("wire", {"amount": 2500}), note("after")])


async def asking(pilot: Pilot[Any], app: AgentstopApp) -> ApprovalScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval modal is shown")
    screen = app.screen
    assert isinstance(screen, ApprovalScreen)
    await wait_until(pilot, lambda: any(b.region.area for b in screen.query("#deny")), "the modal is laid out")
    await pilot.pause()
    return screen


async def test_approve_once_commits_the_call(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes, Wire(world)], agent_that_wires(notes), approve="irreversible")
    async with app.run_test(size=(140, 42)) as pilot:
        modal = await asking(pilot, app)
        body = shown(modal, "#dialog-body")
        assert "c2 · wire · irreversible" in body
        assert '"amount": 2500' in body
        assert "If it goes wrong: call the bank to recall the wire" in body
        assert await call_states(app) == {"c1": "committed", "c2": "prepared"}
        assert not (world / "wires.log").exists()  # nothing is sent while it waits
        effects = app.mode.run_screen.effects
        await wait_until(
            pilot,
            lambda: "c2" in effects.rows and cell(effects, "c2", "state") == "awaiting approval",
            "the panel says c2 awaits approval",
        )

        await pilot.click("#approve")
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        assert await call_states(app) == {"c1": "committed", "c2": "committed", "c3": "committed"}
        await finish(pilot)
    assert (world / "wires.log").read_text().endswith(" 2500\n")
    assert world_notes(world) == {"a", "after"}


async def test_escape_denies_and_nothing_is_sent(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes, Wire(world)], agent_that_wires(notes), approve="irreversible")
    async with app.run_test(size=(140, 42)) as pilot:
        await asking(pilot, app)
        await press(pilot, "escape")
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        assert app.report is not None
        [denied] = app.report.interrupted
        assert (denied.call_id, denied.state) == ("c2", "rejected")
        assert denied.reason == "denied by the user; nothing was sent"
        await finish(pilot)
    assert not (world / "wires.log").exists()
    assert world_notes(world) == {"a", "after"}  # the agent went on after the refusal


async def test_a_denial_can_carry_a_message_to_the_agent(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes, Wire(world)], agent_that_wires(notes), approve="irreversible")
    async with app.run_test(size=(140, 42)) as pilot:
        modal = await asking(pilot, app)
        modal.query_one("#deny-message", Input).value = "wrong account"
        await pilot.click("#deny")
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        assert app.report is not None
        assert app.report.interrupted[0].reason == "denied by the user: wrong account; nothing was sent"
        await finish(pilot)
    assert not (world / "wires.log").exists()


@pytest.mark.parametrize("key", ["s", "ctrl+c"])
async def test_while_the_modal_is_open_s_and_ctrl_c_stop_and_deny_the_call(
    tmp_path: Path, world: Path, notes: GatedNote, key: str
) -> None:
    app = app_for(tmp_path, [notes, Wire(world)], agent_that_wires(notes), approve="irreversible")
    async with app.run_test(size=(140, 42)) as pilot:
        modal = await asking(pilot, app)
        assert modal.focused is not None and modal.focused.id == "deny"  # not the message field: keys are keys
        assert app.mode.sup is not None
        stopping_before = app.mode.sup.stopping  # a name: asserting on app.mode.sup.stopping would narrow it for good
        assert not stopping_before

        await press(pilot, key)  # Stop works from anywhere, the approval included
        assert modal not in app.screen_stack  # not typed into a field: the modal is gone, the call denied
        assert app.mode.sup.stopping
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        await wait_until(pilot, lambda: app.screen is app.report_screen, "the report is shown")
        await pilot.pause(0.2)
        assert app.screen is app.report_screen
        assert not [s for s in app.screen_stack if isinstance(s, ApprovalScreen)]  # the modal is gone
        assert await call_states(app) == {"c1": "committed", "c2": "rejected"}
        assert app.report is not None
        [denied] = app.report.interrupted
        assert denied.call_id == "c2" and (denied.reason or "").startswith("denied: stopped")
        await finish(pilot)
    assert not (world / "wires.log").exists()
    assert world_notes(world) == {"a"}


async def test_the_buttons_show_their_keys_and_the_keys_do_what_they_say(
    tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    app = app_for(tmp_path, [notes, Wire(world)], agent_that_wires(notes), approve="irreversible")
    async with app.run_test(size=(140, 42)) as pilot:
        modal = await asking(pilot, app)
        labels = [str(b.label) for b in modal.query(Button)]
        assert labels == ["Approve once (a)", "Allow wire for this session (l)", "Deny (d, Esc)"]
        await press(pilot, "m")  # m puts the cursor in the message field; now letters are typed
        await press(pilot, "s", "o", "r", "r", "y", "enter")  # Enter in the field denies with the message
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        assert app.report is not None
        assert app.report.interrupted[0].reason == "denied by the user: sorry; nothing was sent"
        await finish(pilot)
    assert not (world / "wires.log").exists()


async def test_a_approves_once(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes, Wire(world)], agent_that_wires(notes), approve="irreversible")
    async with app.run_test(size=(140, 42)) as pilot:
        await asking(pilot, app)
        await press(pilot, "a")
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        assert await call_states(app) == {"c1": "committed", "c2": "committed", "c3": "committed"}
        await finish(pilot)
    assert (world / "wires.log").read_text().endswith(" 2500\n")


async def test_ctrl_a_approves_from_the_keyboard(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes, Wire(world)], agent_that_wires(notes), approve="irreversible")
    async with app.run_test(size=(140, 42)) as pilot:
        await asking(pilot, app)
        await press(pilot, "m", "x")
        await press(pilot, "ctrl+a")  # even with the cursor in the message field
        assert not isinstance(app.screen, ApprovalScreen)
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        assert await call_states(app) == {"c1": "committed", "c2": "committed", "c3": "committed"}
        await finish(pilot)
    assert (world / "wires.log").read_text().endswith(" 2500\n")


async def test_allow_for_this_session_is_not_asked_again(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    agent = Puppet([Call("wire", {"amount": 100}), Call("wire", {"amount": 200}), note("after")])
    app = app_for(tmp_path, [notes, Wire(world)], agent, approve="irreversible")
    async with app.run_test(size=(140, 42)) as pilot:
        modal = await asking(pilot, app)
        assert "a yes covers exactly this" in shown(modal, "#dialog-body")
        await pilot.click("#approve-session")
        await wait_until(pilot, lambda: ended(app), "the agent finished without asking again")
        assert await call_states(app) == {"c1": "committed", "c2": "committed", "c3": "committed"}
        await finish(pilot)
    assert (world / "wires.log").read_text().count("\n") == 2
