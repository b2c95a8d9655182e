"""Which process does a piece of work, and whether it still can: pid, host, the process's start time, a lease.

A session records the process that runs it (pid and host). An undo or a
re-apply may run in another process (`agentstop undo`, the TUI, a script), so
the call it works on records that process too, while the work runs
(`compensating`, `reapplying`): its pid, host and start time, and a lease, the
latest time the work could still be running (every step has a hard timeout).
Recovery judges the work by that owner, not by the session's: on this host the
pid must be alive *and* have the recorded start time (a reused pid is another
process); on another host, which cannot be asked, the lease must not have run out.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Owner", "launched_at", "pid_alive", "process_started_at", "this_process"]

_IMPORTED_AT = time.time()

# Two readings of one process's start time differ by the jitter of /proc/uptime (10 ms) and
# the float arithmetic; a reused pid started later by at least a fork's time, usually seconds.
_SAME_START = 0.5


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    except OverflowError:
        return False  # not a pid this system can have
    return True


def process_started_at(pid: int) -> float | None:
    """When the process `pid` started, as a wall-clock time (Linux: /proc), or None when it cannot be told.

    The kernel keeps a process's start in clock ticks since boot (truncated, so
    this is at most one tick, 10 ms, early, never late); boot time is `now -
    time since boot`, read together from the clock the kernel counts from, not
    the whole second /proc/stat's `btime` rounds to, nor /proc/uptime's 10 ms.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if hasattr(time, "CLOCK_BOOTTIME"):
            since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
        else:
            since_boot = float(Path("/proc/uptime").read_text().split()[0])
        now = time.time()
    except (OSError, ValueError):
        return None
    try:
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None
    return (now - since_boot) + ticks / _ticks_per_second()


@functools.cache
def _ticks_per_second() -> int:
    return int(os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True)
class Owner:
    """A process that runs a piece of journaled work.

    Attributes:
        pid: its process id.
        host: the host name it runs on.
        started_at: when the process started (None where the system cannot say).
    """

    pid: int
    host: str
    started_at: float | None

    def alive(self) -> bool | None:
        """On this host: whether the process still runs (the same process: its start time matches).

        None on another host: it cannot be asked from here (judge by a lease).
        """
        if self.host != socket.gethostname():
            return None
        if self.pid == os.getpid():
            return True
        if not pid_alive(self.pid):
            return False
        if self.started_at is None:
            return True
        now_started = process_started_at(self.pid)
        return now_started is None or abs(now_started - self.started_at) < _SAME_START

    def describe(self) -> str:
        """ "pid 4242 on build-7", for messages."""
        return f"pid {self.pid} on {self.host}"


@functools.cache
def _me(pid: int) -> Owner:
    return Owner(pid, socket.gethostname(), process_started_at(pid))


def this_process() -> Owner:
    """The process running this code (cached per pid: a forked child is another owner)."""
    return _me(os.getpid())


_LAUNCH_MARGIN = 0.05
"""How much earlier than its computed start a process counts as launched: the clocks read to compute
it are read a few microseconds apart, and a stop asked for at the same moment should bind it."""


def launched_at() -> float:
    """When this process started, a little early rather than late (where the system cannot say: when
    agentstop was first imported)."""
    started = this_process().started_at
    return _IMPORTED_AT if started is None else started - _LAUNCH_MARGIN
