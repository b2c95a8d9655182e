"""A call that is running now (`Flight`) and the one awaiting it (`Caller`), as Stop and cancels see them.

A flight's handles (the scopes that cut off its prepare or its commit, the
events that say it passed the fence or ended) are made when first asked for:
most calls end without anyone cancelling them or waiting on them but their own
caller, and making an anyio event or cancel scope costs more than most of the
call path's own lines (some 13,000 instructions each, measured). A handle
asked for late reads as it would have from the start: a scope cancelled before
it is made is made cancelled, an event asked for after its moment is made set.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import anyio

from agentstop.tools import Tool

__all__ = ["Caller", "Flight", "Phase", "past_fence_or_done"]


class Phase(enum.Enum):
    """Where a live call is, as Stop needs to know it."""

    PREPARING = "preparing"
    """Before the fence: Stop discards it."""

    COMMITTING = "committing"
    """Past the fence: Stop applies the tool's `on_stop` after the grace period."""


@dataclass(eq=False)
class Flight:
    """A call that is running now, with the handles Stop needs (compared by identity)."""

    call_id: str
    """Its id; "" for the moment its plan and fence are being written in one transaction, which numbers it."""
    tool: Tool
    phase: Phase = Phase.PREPARING
    cancelled_because: str = ""
    """Why it is being cut off when Stop is not the reason ("cancelled by the caller", "the host
    cancelled its request 7"): set before cancelling a scope, journaled as the reason."""
    _ended: bool = field(default=False, repr=False)
    _prepare_scope: anyio.CancelScope | None = field(default=None, repr=False)
    _commit_scope: anyio.CancelScope | None = field(default=None, repr=False)
    _done: anyio.Event | None = field(default=None, repr=False)
    _fenced: anyio.Event | None = field(default=None, repr=False)

    @property
    def prepare_scope(self) -> anyio.CancelScope:
        """The scope its prepare (or its wait for approval) runs in: cancelling it cuts them off."""
        if self._prepare_scope is None:
            self._prepare_scope = anyio.CancelScope()
        return self._prepare_scope

    @prepare_scope.setter
    def prepare_scope(self, scope: anyio.CancelScope) -> None:
        self._prepare_scope = scope

    @property
    def commit_scope(self) -> anyio.CancelScope:
        """The scope its commit runs in: cancelling it cuts the commit off (Stop, by the tool's `on_stop`)."""
        if self._commit_scope is None:
            self._commit_scope = anyio.CancelScope()
        return self._commit_scope

    @property
    def done(self) -> anyio.Event:
        """Set once the call has ended."""
        if self._done is None:
            self._done = anyio.Event()
            if self._ended:
                self._done.set()
        return self._done

    @property
    def fenced(self) -> anyio.Event:
        """Set when it passes the fence (its phase becomes COMMITTING)."""
        if self._fenced is None:
            self._fenced = anyio.Event()
            if self.committing:
                self._fenced.set()
        return self._fenced

    @property
    def is_done(self) -> bool:
        """True once the call has ended (its outcome is journaled or being journaled)."""
        return self._ended

    @property
    def committing(self) -> bool:
        """True once it passed the fence (Stop then applies its tool's `on_stop`, never a discard)."""
        return self.phase is Phase.COMMITTING

    def pass_fence(self) -> None:
        """It is durably `committing`: from now on Stop applies its tool's `on_stop`, never a discard."""
        self.phase = Phase.COMMITTING
        if self._fenced is not None:
            self._fenced.set()

    def end(self) -> None:
        """The call has ended: wake whoever waits for it."""
        self._ended = True
        if self._done is not None:
            self._done.set()

    def because(self, why: str) -> None:
        """Add `why` to the reasons it is being cut off ("..., and the supervisor closed while it ran")."""
        self.cancelled_because = ", and ".join(w for w in (self.cancelled_because, why) if w)

    def cancel_before_fence(self) -> None:
        """Cut off its prepare (or its wait for approval); one past the fence is not touched."""
        self.prepare_scope.cancel()

    def cancel_commit(self) -> None:
        """Cancel its commit; its outcome is then asked of `lookup`, else recorded unknown."""
        self.commit_scope.cancel()

    def cut_off(self, why: str) -> None:
        """Cut it off wherever it is, for `why`: a prepare is discarded, a commit cancelled."""
        self.because(why)
        if self.committing:
            self.cancel_commit()
        else:
            self.cancel_before_fence()


async def past_fence_or_done(flight: Flight) -> None:
    """Wait until the call passed the fence or ended, whichever comes first."""
    async with anyio.create_task_group() as tg:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(wait, flight.fenced)
        tg.start_soon(wait, flight.done)


@dataclass(eq=False)
class Caller:
    """The one awaiting a call: whether they went away (cancelled), and the call's flight once it has one."""

    cancelled_as: str = "cancelled by the caller"
    """How the journal words this caller's cancel ("the host cancelled its request 7")."""
    gone: str = ""
    """Why the caller went away ("cancelled by the caller"); empty while it still waits."""
    flight: Flight | None = None
    call_id: str | None = None
    tool: str = ""
    grace_spent: bool = False
    """Its commit has had its grace since the caller left (the supervisor's follower waited it out)."""

    def leave(self, why: str) -> None:
        """The caller was cancelled: a call not yet past the fence is discarded, a commit goes on."""
        self.gone = why
        flight = self.flight
        if flight is not None and not flight.is_done:
            flight.cancelled_because = why
            if not flight.committing:
                flight.cancel_before_fence()
