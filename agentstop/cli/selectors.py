"""Which running sessions `agentstop stop --all-running / --tool / --task` means.

A session *has* a tool when the tool's name, class or import path is among
what the session recorded: the tools' names (`send_email`, `memory.create_entities`),
the import paths of its tools (`demo_tools.mail:SendEmail`), their class names
(`SendEmail`) and those in snake case, and the names of the tools it has called.
Matching errs towards stopping: in an incident, a session stopped needlessly
costs a restart; one missed keeps acting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentstop.journal import Journal, SessionRecord, SessionStatus
from agentstop.journal.liveness import is_alive
from agentstop.text import printable

__all__ = ["Chosen", "Picked", "Selector", "select_running", "tool_names"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class Selector:
    """What `stop` selects: every running session, or those with a tool or of a task."""

    all_running: bool
    tools: tuple[str, ...]
    tasks: tuple[str, ...]

    @property
    def given(self) -> bool:
        """True when any selector was passed (else `stop` takes one --session)."""
        return self.all_running or bool(self.tools) or bool(self.tasks)

    def describe(self) -> str:
        """The selector as the user wrote it, for messages."""
        if self.all_running:
            return "--all-running"
        return " ".join([*(f"--tool {t}" for t in self.tools), *(f"--task {t!r}" for t in self.tasks)])

    def matches(self, session: SessionRecord, called: set[str]) -> bool:
        """True when the running session is selected (`called`: the tool names it has called)."""
        if self.all_running:
            return True
        if self.tasks and session.task_name not in self.tasks:
            return False
        recorded = {str(n) for n in session.meta.get("tool_names", ())}
        return not self.tools or bool(set(self.tools) & (tool_names(session.tools) | recorded | called))


def tool_names(import_paths: list[str]) -> set[str]:
    """Every name a person may use for the session's tools: import path, class, class in snake case."""
    names: set[str] = set()
    for path in import_paths:
        cls = path.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
        names |= {path, cls, _CAMEL.sub("_", cls).lower()}
    return names


@dataclass(frozen=True)
class Picked:
    """A running session `stop` selected."""

    session: SessionRecord
    live: bool

    def describe(self) -> str:
        """`<id> (<task>) on <host> pid <pid>`, and a note when its process seems gone."""
        s = self.session
        where = f"on {s.host or 'an unknown host'}" + (f" pid {s.pid}" if s.pid is not None else "")
        gone = "" if self.live else " [not live: its process seems gone; `agentstop report` marks it crashed]"
        return printable(f"{s.session_id} ({s.task_name}) {where}{gone}")


@dataclass(frozen=True)
class Chosen:
    """The running sessions, and those the selector matched among them."""

    selector: Selector
    running: list[SessionRecord]
    matched: list[Picked]

    def nothing_matched(self, where: str) -> str:
        """The message when no running session matched: what is running instead."""
        if not self.running:
            return f"agentstop: no session is running in {where}; nothing to stop."
        listed = printable(", ".join(f"{s.session_id} ({s.task_name})" for s in self.running[:5]))
        more = f" and {len(self.running) - 5} more" if len(self.running) > 5 else ""
        return (
            f"agentstop: no running session matches {self.selector.describe()} in {where}; "
            f"{len(self.running)} running: {listed}{more}. "
            "See them with `agentstop sessions`; stop one with --session ID."
        )


async def select_running(journal: Journal, selector: Selector) -> Chosen:
    """The journal's running sessions that `selector` matches, oldest first."""
    running = [s for s in await journal.sessions() if s.status == SessionStatus.RUNNING]
    matched: list[Picked] = []
    for session in running:
        called: set[str] = set()
        if selector.tools:
            called = {c.tool for c in await journal.calls(session.session_id)}
        if selector.matches(session, called):
            matched.append(Picked(session, is_alive(session)))
    return Chosen(selector, running, matched)
