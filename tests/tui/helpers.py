"""What the TUI tests share: a puppet agent, file tools the test can hold at a gate, and polling.

The tests drive the real app (`make_app`), a real journal and tools that write
real files. Nothing is mocked; instead the test decides exactly where the agent
stands: a `Puppet` planner parks on a `Gate` between moves, and `GatedNote`
holds a prepare or a commit at a gate until the test opens it. While something
is parked nothing moves, so a screenshot or an assertion sees one stable state.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from textual import events
from textual.app import App
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Static

from agentstop import Agent, CallCutOff, GrantSpec, StopPolicy, ToolContext, ToolFailed, ToolRegistry
from agentstop.tui import AgentstopApp, RunMode, SessionConfig, make_app
from agentstop.tui.widgets.virtual_table import VirtualTable
from tests.support.tools import NoteArgs, WriteNote

FROZEN_NOW = 1_800_000_000.0
"""The wall clock every TUI test runs at (2027-01-15 08:00:00 UTC)."""

SESSION_ID = "tui-session"


def frozen_clock() -> float:
    """The SessionConfig/Journal clock of the tests: time stands still."""
    return FROZEN_NOW


class Gate:
    """A door the test opens. Code that awaits `wait()` parks on an anyio.Event until `open()`.

    The event is created lazily inside the running loop, so a gate can be built
    before the app (and its loop) exists, as the snapshot tests do.
    """

    def __init__(self) -> None:
        self._event: anyio.Event | None = None
        self._opened = False
        self.waiting = 0

    @property
    def is_open(self) -> bool:
        return self._opened

    async def wait(self) -> None:
        if self._opened:
            return
        if self._event is None:
            self._event = anyio.Event()
        self.waiting += 1
        try:
            await self._event.wait()
        finally:
            self.waiting -= 1

    def open(self) -> None:
        self._opened = True
        if self._event is not None:
            self._event.set()


class GatedNote(WriteNote):
    """`WriteNote` whose prepare or commit of a given note waits at a gate the test holds."""

    def __init__(self, root: Path, on_stop: StopPolicy = StopPolicy.WAIT) -> None:
        super().__init__(root, on_stop)
        self.prepare_gates: dict[str, Gate] = {}
        self.commit_gates: dict[str, Gate] = {}

    def hold_prepare(self, *names: str) -> None:
        for name in names:
            self.prepare_gates[name] = Gate()

    def hold_commit(self, *names: str) -> None:
        for name in names:
            self.commit_gates[name] = Gate()

    def parked(self, name: str) -> bool:
        """True while a prepare or commit of `name` waits at its gate."""
        gates = [self.prepare_gates.get(name), self.commit_gates.get(name)]
        return any(g is not None and g.waiting for g in gates)

    def release(self, name: str) -> None:
        for gates in (self.prepare_gates, self.commit_gates):
            if name in gates:
                gates[name].open()

    def release_all(self) -> None:
        for gates in (self.prepare_gates, self.commit_gates):
            for gate in gates.values():
                gate.open()

    async def prepare(self, args: NoteArgs, ctx: ToolContext) -> dict[str, Any]:
        if args.name in self.prepare_gates:
            await self.prepare_gates[args.name].wait()
        return await super().prepare(args, ctx)

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        if prepared["name"] in self.commit_gates:
            await self.commit_gates[prepared["name"]].wait()
        return await super().commit(prepared, ctx)


class Upload(GatedNote):
    """A second file tool (its own name) whose commit Stop abandons: it stays in flight."""

    name = "upload"
    description = "Upload a file to the shared drive."

    def __init__(self, root: Path) -> None:
        super().__init__(root, StopPolicy.ABANDON)

    def summary(self, args: NoteArgs) -> str:
        return f"upload {args.name!r} to the shared drive"

    def resource(self, args: NoteArgs) -> str:
        return f"drive:{args.name}"


# -- the puppet agent -----------------------------------------------------------


@dataclass(frozen=True)
class Think:
    """Say a thought (streamed word by word, then closed)."""

    text: str


@dataclass(frozen=True)
class Call:
    """Issue one tool call and wait for it; a fixed key makes file names predictable."""

    tool: str
    args: dict[str, Any]
    key: str | None = None


@dataclass(frozen=True)
class Together:
    """Issue several calls at once and wait for all of them."""

    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Park:
    """Stand still at the named gate until the test opens it."""

    name: str


Move = Think | Call | Together | Park


@dataclass
class Puppet:
    """A planner that plays `moves` and parks wherever the test told it to.

    A refused or failed call is said aloud, like `ScriptedPlanner` does.
    """

    moves: Sequence[Move]
    gates: dict[str, Gate] = field(default_factory=dict)
    parked_at: str | None = None
    finished: bool = False

    def __post_init__(self) -> None:
        for move in self.moves:
            if isinstance(move, Park):
                self.gates[move.name] = Gate()

    def release(self, name: str) -> None:
        self.gates[name].open()

    async def run(self, agent: Agent) -> None:
        for move in self.moves:
            if isinstance(move, Think):
                for word in move.text.split(" "):
                    await agent.say(word + " ")
                await agent.end_thought()
            elif isinstance(move, Call):
                await self._call(agent, move)
            elif isinstance(move, Together):
                async with anyio.create_task_group() as tg:
                    for call in move.calls:
                        tg.start_soon(self._call, agent, call)
            else:
                self.parked_at = move.name
                try:
                    await self.gates[move.name].wait()
                finally:
                    self.parked_at = None
        self.finished = True

    async def _call(self, agent: Agent, call: Call) -> None:
        try:
            await agent.call(call.tool, call.args, key=call.key)
        except (CallCutOff, ToolFailed) as exc:
            await agent.say(f"(that did not work: {exc})")
            await agent.end_thought()


def note(name: str, **args: Any) -> Call:
    """A `write_note` call whose file is `<world>/<name>.json`."""
    return Call("write_note", {"name": name, **args}, key=name)


# -- sessions and waiting ----------------------------------------------------------


def session(tmp_path: Path, tools: Iterable[Any], planner: Any, **options: Any) -> SessionConfig:
    """A session in `tmp_path/journal.db` at the frozen clock, with a fixed id."""
    options.setdefault("goal", "Write the release notes and tell the team.")
    options.setdefault("task_name", "release notes")
    return SessionConfig(
        journal_path=tmp_path / "journal.db",
        tools=ToolRegistry(tools),
        grant=GrantSpec(),
        planner=planner,
        session_id=SESSION_ID,
        clock=frozen_clock,
        **options,
    )


def app_for(tmp_path: Path, tools: Iterable[Any], planner: Any, **options: Any) -> AgentstopApp[RunMode]:
    return make_app(session(tmp_path, tools, planner, **options))


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], bool | Awaitable[bool]], what: str, *, attempts: int = 250
) -> None:
    """Poll `condition` between short pauses (at most attempts x 20 ms); fail saying `what` never happened.

    A condition that reads a widget its screen has not composed yet (a screen is pushed at once, its
    widgets come a moment later: `NoMatches`) is not met yet, and is asked again.
    """
    for _ in range(attempts):
        try:
            result = condition()
            if not isinstance(result, bool):
                result = await result
        except NoMatches:
            result = False
        if result:
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def attached_live(app: AgentstopApp[Any]) -> bool:
    """The journal mode shows the session it attached to live, its run screen composed (its panels there to read).

    The screen is the app's as soon as it is pushed; its widgets come a moment later (later still
    when the app settles a long session's heap first), so a test reading them waits for both.
    """
    attachment = getattr(app.mode, "attachment", None)
    return (
        attachment is not None and app.screen is attachment.run_screen and bool(attachment.run_screen.query("#effects"))
    )


async def call_states(app: AgentstopApp) -> dict[str, str]:
    """Each call's state as the journal has it."""
    assert app.mode.journal is not None
    return {c.call_id: c.state for c in await app.mode.journal.calls(SESSION_ID)}


async def states_are(app: AgentstopApp, **wanted: str) -> bool:
    """True when every named call (c1=..., c2=...) is in that state in the journal."""
    if app.mode.journal is None:
        return False
    states = await call_states(app)
    return all(states.get(call_id) == state for call_id, state in wanted.items())


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the UI has shown every journal event there is (nothing left to deliver)."""
    app = pilot.app
    assert isinstance(app, AgentstopApp)

    async def caught_up() -> bool:
        if app.mode.journal is None or app.bridge is None:
            return False
        events = await app.mode.journal.events(SESSION_ID)
        return not events or app.bridge.after == events[-1].seq

    await wait_until(pilot, caught_up, "the bridge delivered every journal event")
    await pilot.pause()


async def finish(pilot: Pilot[Any]) -> None:
    """End a test the way a person quits: once the UI is idle, exit and let the message loop wind down.

    Leaving `run_test` without this tears the screens down while the app's
    timers and handlers still run, and the app closes its journal under them
    (see the report); exiting first stops the timers in order.
    """
    app = pilot.app
    if app.is_running and app.return_value is None:
        await settle(pilot)
        app.exit()
    await exited(app)


async def exited(app: App[Any]) -> None:
    """Wait (bounded) until the app's message loop has ended after `exit()`."""
    for _ in range(250):
        if not app.is_running:
            break
        await anyio.sleep(0.02)
    else:
        raise AssertionError("the app did not exit")
    await anyio.sleep(0.05)  # its timers are stopped right after the loop ends


def ended(app: AgentstopApp) -> bool:
    """The session is over and the UI knows it (Stop settled, or the agent finished)."""
    return app.mode.finished and app.report is not None and app.report.session.status != "running"


async def press(pilot: Pilot[Any], *keys: str) -> None:
    """Press keys one after the other, each handled (by the app and the screen) before the next.

    `pilot.press` also waits, after every key, for the process to go idle, up to
    a second a key; this app is never quite idle (the journal bridge polls 20
    times a second, the report summary redraws 10 times a second), so that wait
    costs up to a second a key for nothing. The key events are the same; what a
    key sets off asynchronously (a worker, a journal write) is awaited with
    `wait_until`.
    """
    app = pilot.app
    for key in keys:
        character = key if len(key) == 1 else {"space": " "}.get(key)
        app.post_message(events.Key(key, character))
        await pilot.pause(0)  # the app handled it (and forwarded it to the focused widget)
        await pilot.pause(0)  # the widget or the screen it opened handled what followed
        await pilot.pause(0)  # and the messages that posted (a RowSelected, say) reached their handlers


# -- reading what is on screen ------------------------------------------------------


def rows(table: DataTable[Any] | VirtualTable[Any]) -> list[str]:
    """The row keys of a table, top to bottom."""
    if isinstance(table, VirtualTable):
        return list(table.row_keys())
    return [str(row.key.value) for row in table.ordered_rows]


def cell(table: DataTable[Any] | VirtualTable[Any], row: str, column: str) -> str | None:
    """A cell's plain text (None while the table has no such row)."""
    if row not in table.rows:
        return None
    value = table.get_cell(row, column)
    return value.plain if hasattr(value, "plain") else str(value)


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (rendered at the widget's width)."""
    console = Console(file=io.StringIO(), width=max(widget.size.width, 60), color_system=None, record=True)
    console.print(widget.content)
    return console.export_text()


def top_screen(app: App[Any]) -> Screen[Any]:
    """The screen shown now. A call, not `app.screen`: a type checker would carry what an earlier
    assert said of `app.screen` past the key presses that changed it."""
    return app.screen


def shown(node: DOMNode, selector: str) -> str:
    """The plain text of the Static (or Label) matching `selector` under `node`."""
    return text_of(node.query_one(selector, Static))


def world_notes(world: Path) -> set[str]:
    """Names of the notes that exist in the world directory now."""
    return {json.loads(p.read_text())["name"] for p in world.glob("*.json")}
