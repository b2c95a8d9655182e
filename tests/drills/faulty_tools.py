"""Demo tools with a fault built in, for the fault drills.

Each is a real demo tool (the calendar's `create_event`, the database's
`migrate_database`) with one thing made to go wrong, so that what lands and
what does not is read from the real world. They build with no arguments, so
`agentstop undo` in a fresh process can load them by the import path the
journal recorded; their faults are switched by environment variables or by
attributes a test sets.
"""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import anyio
from pydantic import Field

from agentstop import StopPolicy, ToolContext
from demo_tools.calendar_tool import CreateEvent
from demo_tools.database import MigrateDatabase
from demo_tools.http_client import commit_receipt, path_key, request

__all__ = [
    "BrokenUndoEvent",
    "FlakyUndoEvent",
    "HangingEvent",
    "LockingMigration",
    "StarvingEvent",
    "SwallowedEvent",
    "starve_file_size",
]

UNDO_BROKEN_ENV = "AGENTSTOP_DRILL_UNDO_BROKEN"
STARVE_AT_ENV = "AGENTSTOP_DRILL_STARVE_AT"
STARVE_JOURNAL_ENV = "AGENTSTOP_DRILL_STARVE_JOURNAL"


class HangingEvent(CreateEvent):
    """`create_event` whose commit hangs `hang_s` seconds before (or after) booking."""

    class Args(CreateEvent.Args):
        """create_event's arguments, plus where and how long the commit hangs."""

        hang_s: float = Field(default=0.0, ge=0)
        hang_after_effect: bool = False

    def __init__(self, on_stop: StopPolicy = StopPolicy.WAIT) -> None:
        self.on_stop = on_stop  # type: ignore[misc]

    async def prepare(self, args: Any, ctx: ToolContext) -> dict[str, Any]:
        prepared = await super().prepare(args, ctx)
        return {**prepared, "hang_s": args.hang_s, "hang_after_effect": args.hang_after_effect}

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        event = {k: v for k, v in prepared.items() if k not in ("hang_s", "hang_after_effect")}
        if not prepared["hang_after_effect"]:
            await anyio.sleep(prepared["hang_s"])
        receipt = await super().commit(event, ctx)
        if prepared["hang_after_effect"]:
            await anyio.sleep(prepared["hang_s"])
        return receipt


class SwallowedEvent(CreateEvent):
    """`create_event` sent through `via`, a server that never answers (it may pass the request on).

    The demo HTTP client's own timeout is what ends the commit: `ServiceUnavailable`.
    """

    via: ClassVar[str] = ""
    timeout_s: ClassVar[float] = 0.3

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        event = {k: v for k, v in prepared.items() if k != "uid"}
        response = await request(
            "PUT", f"{self.via}/events/{path_key(prepared['uid'])}", event, timeout_s=self.timeout_s
        )
        return commit_receipt(response, "calendar service")


class FlakyUndoEvent(CreateEvent):
    """`create_event` whose undo fails on its first `failures` attempts."""

    failures: ClassVar[int] = 2

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        if ctx.attempt <= self.failures:
            raise ConnectionError(f"calendar service unavailable (attempt {ctx.attempt})")
        result: dict[str, Any] = await super().compensate(receipt, ctx)
        return result


class BrokenUndoEvent(CreateEvent):
    """`create_event` whose undo fails for as long as $AGENTSTOP_DRILL_UNDO_BROKEN is set."""

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        if os.environ.get(UNDO_BROKEN_ENV):
            raise ConnectionError("calendar service is down for maintenance")
        result: dict[str, Any] = await super().compensate(receipt, ctx)
        return result


class LockingMigration(MigrateDatabase):
    """`migrate_database`; once prepared, `on_prepared` runs (a test grabs the journal's lock there)."""

    on_prepared: ClassVar[Callable[[], None] | None] = None

    async def prepare(self, args: Any, ctx: ToolContext) -> dict[str, Any]:
        prepared = await super().prepare(args, ctx)
        on_prepared = type(self).on_prepared  # from the class: a function stored there is not a method
        if on_prepared is not None:
            on_prepared()
        return prepared


def starve_file_size(journal: Path) -> None:
    """From now on this process cannot grow any file past the journal's current size: a full disk.

    RLIMIT_FSIZE makes a write past the limit fail (EFBIG; SIGXFSZ is ignored so
    the write returns the error instead of killing us), which SQLite reports as
    an I/O error: what it would report on a full or failing disk. Unlike chmod,
    it binds root too.
    """
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    size = max(p.stat().st_size for p in (journal, Path(f"{journal}-wal")) if p.exists())
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


class StarvingEvent(CreateEvent):
    """`create_event` that fills the disk at $AGENTSTOP_DRILL_STARVE_AT: "fence" (end of prepare) or
    "outcome" (after the event is booked, before the receipt is journaled)."""

    def _starve_if(self, moment: str) -> None:
        if os.environ.get(STARVE_AT_ENV) == moment:
            starve_file_size(Path(os.environ[STARVE_JOURNAL_ENV]))

    async def prepare(self, args: Any, ctx: ToolContext) -> dict[str, Any]:
        prepared = await super().prepare(args, ctx)
        self._starve_if("fence")
        return prepared

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        receipt = await super().commit(prepared, ctx)
        self._starve_if("outcome")
        return receipt
