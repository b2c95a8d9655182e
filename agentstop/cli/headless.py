"""Running a task without the UI: progress on stderr, Ctrl+C is Stop, the report at the end."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import anyio
import click

from agentstop.errors import PlannerError
from agentstop.formatting import clock
from agentstop.journal import CallState, Event, EventKind, Journal
from agentstop.journal.owner import launched_at
from agentstop.report import Report
from agentstop.session import Target
from agentstop.supervisor import Supervisor
from agentstop.task import TaskFile
from agentstop.text import printable
from agentstop.tools import ToolRegistry

from .common import EXIT_FAILED, EXIT_OK

__all__ = ["ProgressPrinter", "exit_code", "run_headless"]

POLL_INTERVAL = 0.05


class ProgressPrinter:
    """Prints journal events as they become durable (never from memory)."""

    def __init__(self, journal: Journal, session_id: str, out: TextIO) -> None:
        self.journal = journal
        self.session_id = session_id
        self.out = out
        self.after = 0
        self._summaries: dict[str, tuple[str, str]] = {}

    def line(self, event: Event) -> str | None:
        """The progress line for one event, or None for events not worth a line."""
        at = clock(event.at)
        data = event.data
        if event.kind == EventKind.TRANSCRIPT:
            # Several lines stay several, each indented: none can pass for a progress line of its own.
            text = printable(str(data.get("text", "")).strip(), multiline=True).replace("\n", "\n" + " " * 21)
            return f"{at}  agent: {text}"
        if event.kind == EventKind.REVOKED:
            return (
                f"{at}  ── grant revoked by {printable(str(data.get('by')))}: {printable(str(data.get('reason')))} "
                "── nothing new can commit"
            )
        if event.kind == EventKind.SESSION_ENDED:
            return f"{at}  ── session {printable(str(data.get('status')))}"
        if event.call_id is None:
            return None
        if event.kind == CallState.PLANNED:
            self._summaries[event.call_id] = (str(data.get("tool", "")), str(data.get("summary", "")))
        _, summary = self._summaries.get(event.call_id, ("", ""))
        reason = data.get("reason")
        tail = (
            f"  ({printable(str(reason))})"
            if reason and event.kind not in (CallState.PLANNED, CallState.PREPARED)
            else ""
        )
        summary = printable(summary)
        if len(summary) > 72:
            summary = summary[:71] + "…"
        return f"{at}  {event.call_id:>4}  {event.kind:<19} {summary}{tail}"

    async def poll(self) -> None:
        """Print every event after the last one printed."""
        for event in await self.journal.events(self.session_id, after=self.after):
            self.after = event.seq
            text = self.line(event)
            if text:
                print(text, file=self.out, flush=True)

    async def follow(self) -> None:
        """Poll until cancelled."""
        while True:
            await self.poll()
            await anyio.sleep(POLL_INTERVAL)


def exit_code(report: Report) -> int:
    """0 only when the run completed with nothing interrupted or in flight."""
    return EXIT_OK if report.clean else EXIT_FAILED


async def _stop_on_signals(sup: Supervisor) -> None:
    # Stop runs in its own task, so a second Ctrl+C is read while Stop waits for calls in flight.
    async with anyio.create_task_group() as tg:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if not sup.stopping:
                    name = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
                    print(
                        f"\n{name}: stopping (revoking the grant first; press Ctrl+C again to quit at once)",
                        file=sys.stderr,
                        flush=True,
                    )
                    tg.start_soon(sup.stop, f"{name} in the terminal", "user")
                else:
                    print(
                        "quitting now; the journal is consistent and `agentstop report` reconciles what was in flight",
                        file=sys.stderr,
                        flush=True,
                    )
                    os._exit(130)


async def _stop_after(sup: Supervisor, seconds: float, since: float) -> None:
    await anyio.sleep(max(0.0, since + seconds - time.time()))
    await sup.stop(f"--stop-after {seconds:g}", "user")


def _command_started_at() -> float:
    """When this command was asked for: its process's start, when the process is `agentstop` itself.

    So a stop issued while the process was still starting (importing, reading the
    journal) binds the Resume. Run in-process by another program (a test's
    CliRunner), the process is older than the command: then it is now.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    ours = (spec is not None and spec.name == "agentstop.__main__") or Path(sys.argv[0]).name == "agentstop"
    return launched_at() if ours else time.time()


async def run_headless(
    task: TaskFile,
    tools: ToolRegistry,
    journal_path: Target,
    *,
    stop_after: float | None,
    as_json: bool,
    install_signals: bool = True,
    resume: str | None = None,
    instruction: str = "",
    meta: dict[str, Any] | None = None,
) -> int:
    """Run the task under a supervisor without UI; returns the exit code.

    `journal_path` is a journal file or a `postgresql://` URL. `resume` names an
    ended session of the task to run on as a new epoch (the agent is told
    `instruction`); then the exit code follows that last epoch, and
    `stop_after` counts from the Resume.
    """
    async with Journal.open(journal_path) as journal:
        sup = Supervisor(
            journal,
            tools,
            task.grant_spec(),
            task.planner(),
            task_name=task.name,
            goal=task.goal,
            task_path=str(task.path),
            grace=task.grace_seconds,
            approve=task.approve,
            session_id=resume,
            resume=resume is not None,
            instruction=instruction,
            resumed_by="agentstop run --resume",
            meta=meta,
            # A stop asked for since this command started binds the epoch it starts.
            resume_asked_at=_command_started_at() if resume is not None else None,
        )
        await sup.start()
        epoch = f" · resumed as epoch {sup.epoch}" if resume is not None else ""
        print(f"session {sup.session_id}{epoch} · journal {journal.location}", file=sys.stderr, flush=True)
        if instruction and task.model.agent.kind == "scripted":
            print(
                "note: a scripted agent plays its steps and does not read --instruction (it is journaled with "
                "the Resume); a model-driven agent (agent: {kind: openai}) is told it",
                file=sys.stderr,
                flush=True,
            )
        since = (await journal.session(sup.session_id)).started_at if resume is None else time.time()
        # A resumed session's earlier epochs are history: progress starts at this epoch.
        after = (await journal.events(sup.session_id))[-1].seq if resume is not None else 0
        progress = ProgressPrinter(journal, sup.session_id, sys.stderr)
        progress.after = after
        async with anyio.create_task_group() as tg:
            tg.start_soon(progress.follow)
            if install_signals:
                tg.start_soon(_stop_on_signals, sup)
            if stop_after is not None:
                tg.start_soon(_stop_after, sup, stop_after, since)
            planner_error: PlannerError | None = None
            try:
                await sup.run()
            except PlannerError as exc:
                planner_error = exc  # the supervisor has stopped the session with this reason
            tg.cancel_scope.cancel()
        await progress.poll()
        report = await Report.from_journal(journal, sup.session_id)
    if planner_error is not None:
        print(f"agentstop: {printable(str(planner_error))}", file=sys.stderr, flush=True)
    for item in report.done:
        if item.call_id in report.landed_after_stop:
            print(
                printable(f"{item.call_id} {item.summary}: in flight at Stop, landed during the grace"),
                file=sys.stderr,
                flush=True,
            )
    print(printable(report.summary_line()), file=sys.stderr, flush=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    return exit_code(report)
