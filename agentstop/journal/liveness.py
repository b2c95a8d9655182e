"""Whether a session's process, or the process doing a call's undo or re-apply, may still be running it.

Read by recovery (settle what nobody runs any more), by the CLI and the TUI (a
session shown as live or not), and by anything that must not touch a running
session's calls. Light on purpose: the journal's records and `owner`, nothing of
the supervisor, so `agentstop report` and `sessions` need not import it.
"""

from __future__ import annotations

import os
import socket
import time

from .owner import pid_alive
from .records import CallRecord, SessionRecord
from .states import CallState
from .status import SessionStatus

__all__ = ["STALE_HEARTBEAT", "WORKED", "is_alive", "owner_alive", "work_alive"]

WORKED = (CallState.COMPENSATING, CallState.REAPPLYING)
"""The states in which a process (the call's worker) is doing something to a call's effect."""

# Another machine's session is presumed dead when its heartbeat is older than this.
STALE_HEARTBEAT = 15.0


def is_alive(session: SessionRecord, now: float | None = None) -> bool:
    """True while the session is running and its process may still be running it."""
    return session.status == SessionStatus.RUNNING and owner_alive(session, now)


def owner_alive(session: SessionRecord, now: float | None = None) -> bool:
    """True while the session's process may still be running, whatever the session's status says."""
    if session.pid == os.getpid() and session.host == socket.gethostname():
        return True
    if session.host == socket.gethostname() and session.pid is not None:
        return pid_alive(session.pid)
    if session.status != SessionStatus.RUNNING:
        return False  # an ended session on another machine writes no heartbeat
    beat = session.heartbeat_at or session.started_at
    return (now or time.time()) - beat < STALE_HEARTBEAT


def work_alive(call: CallRecord, session: SessionRecord, now: float | None = None) -> bool:
    """True while the process running the call's undo or re-apply may still be running it.

    Judged by the call's worker: on this host, its pid with its start time; on
    another, its lease. A journal from before schema 4 records no worker: the
    session's process is presumed to run it, as it was then.
    """
    worker = call.worker
    if worker is None:
        return owner_alive(session, now)
    alive = worker.alive()
    if alive is not None:
        return alive
    return call.lease_until is not None and (now or time.time()) < call.lease_until
