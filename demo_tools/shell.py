"""shell: run a command in its own process group; Stop kills the whole group.

The command is an argv list, never a string a shell parses: whoever wants a
shell writes `["sh", "-c", "..."]`. prepare resolves the program and the working
directory and starts nothing. commit starts the command with
`start_new_session=True`, so it leads a new session and process group that
holds every process it forks, and watches it through /proc while it runs
(every `watch_interval` seconds and once more before any kill): the PIDs it was
seen to start, including any that left the group, go to the journal as
`processes` notes (the call's journal notes, `ToolContext.note`) until
they are gone.

The call owns its group. When the command's first process exits, what it left
running in the group is stopped. When the timeout expires, or Stop cancels the
commit (TRY_CANCEL after the grace, at once on escalation), the whole group gets
SIGTERM, then SIGKILL after `term_grace` seconds. Then every process the call
started is looked up again: one still there (it left the group with setsid, it
is stuck in the kernel, it is a zombie nobody reaps) is named, in the receipt's
`not_killed`, or, when Stop cut the commit off, in the call's reason through
`ProcessesSurvived`, so the report lists it. A cancelled command whose
processes are all gone re-raises the cancellation: its outcome is unknown (it
may have done part of its work) and the journal says so.

A non-zero exit is a receipt, not a failure: unlike a refused payment, a command
that exits 1 may have done part of its work, so "nothing landed" would be a lie.
Only a program that cannot be started at all is refused (`CommitRefused`).

Linux only for the survivor checks (/proc); elsewhere only the group as a whole
is checked. A process that detaches and whose parent exits between two looks is
never seen, so it cannot be named.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import Process
from pydantic import BaseModel, Field, field_validator

from agentstop import CommitRefused, Reversibility, StopPolicy, Tool, ToolContext

__all__ = ["ProcessesSurvived", "Shell"]

Notifier = Callable[[ToolContext, dict[str, Any]], Awaitable[None]]
"""Receives the `processes` notes of a call: `(ctx, {"pgid", "state", "pids", ...})`."""

WATCH_INTERVAL = 0.2
"""Seconds between two looks at /proc while a command runs."""

TERM_GRACE = 1.0
"""Seconds the group has to exit after SIGTERM before it gets SIGKILL."""

KILL_WAIT = 1.0
"""Seconds to wait for the group to vanish after SIGKILL before naming what is left."""

NOTE_TIMEOUT = 2.0
"""A `processes` note that takes longer is dropped: the command and Stop never wait on it."""

TAIL_LINES = 20
TAIL_CHARS = 4000
"""The receipt keeps the last TAIL_LINES lines of each stream, at most TAIL_CHARS characters."""

MAX_LISTED = 50
"""At most this many PIDs in a note or a receipt (the count says how many there were)."""

_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "uninterruptible (stuck in the kernel)",
    "Z": "zombie",
    "T": "stopped",
    "t": "stopped (traced)",
    "I": "idle",
    "X": "dead",
}


class ProcessesSurvived(RuntimeError):
    """Stop cut a command off and processes it started are still there; the message names them.

    Raised by `Shell.commit` instead of the cancellation, so the call's reason (and
    the report) lists the PIDs; the call stays in flight, its outcome unknown.

    Attributes:
        pgid: the command's process group.
        survivors: one dict per process: pid, cmd, state, why.
    """

    def __init__(self, pgid: int, survivors: list[dict[str, Any]]) -> None:
        self.pgid = pgid
        self.survivors = survivors
        named = "; ".join(_describe(s) for s in survivors[:5])
        more = f"; and {len(survivors) - 5} more" if len(survivors) > 5 else ""
        super().__init__(
            f"stopped: process group {pgid} got SIGTERM, then SIGKILL, but {len(survivors)} of its "
            f"processes could not be killed: {named}{more}; kill them by hand (kill -KILL PID) or find "
            f"out why with `ps -o pid,stat,cmd -p PID`"
        )


class Shell(Tool):
    """Run a program (argv, no shell parsing) in its own process group; Stop kills the group.

    Args:
        notify: where the PIDs go while the command runs; None: the call's journal notes
            (`ToolContext.note`), shown on its in-flight row.
        term_grace: seconds between SIGTERM and SIGKILL.
        kill_wait: seconds to wait for the group to vanish after SIGKILL.
        watch_interval: seconds between two looks at /proc.
    """

    name = "shell"
    description = (
        "Run a program with arguments, e.g. argv ['git', 'status'] or ['sh', '-c', 'make test'] (no shell "
        "parsing unless you call a shell). Returns the exit code and the last lines of stdout and stderr. "
        "Background processes are stopped when the command exits. Irreversible."
    )
    reversibility = Reversibility.IRREVERSIBLE
    on_stop = StopPolicy.TRY_CANCEL
    undo_hint = (
        "A command cannot be taken back: read its receipt (exit code, output), check what it "
        "changed and repair it by hand; kill any process the call lists as not killed."
    )

    class Args(BaseModel):
        """Arguments of shell."""

        argv: list[str] = Field(
            min_length=1, max_length=4096, description="the program and its arguments, one item each"
        )
        cwd: str | None = Field(default=None, description="working directory (default: the agent's)")
        timeout: float = Field(
            default=120.0, gt=0, le=86_400, description="seconds before the command's process group is killed"
        )

        @field_validator("argv")
        @classmethod
        def _argv(cls, value: list[str]) -> list[str]:
            if not value[0]:
                raise ValueError("argv[0], the program, is empty")
            for i, arg in enumerate(value):
                if "\x00" in arg:
                    raise ValueError(f"argv[{i}] contains a NUL character, which no program can receive")
            return value

        @field_validator("cwd")
        @classmethod
        def _cwd(cls, value: str | None) -> str | None:
            if value is not None and (not value or "\x00" in value):
                raise ValueError("cwd is empty or contains a NUL character")
            return value

    def __init__(
        self,
        notify: Notifier | None = None,
        *,
        term_grace: float = TERM_GRACE,
        kill_wait: float = KILL_WAIT,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self.notify = notify
        self.term_grace = term_grace
        self.kill_wait = kill_wait
        self.watch_interval = watch_interval

    def resource(self, args: Shell.Args) -> str:
        """`shell:<program name>`, so a grant scope `shell:git` allows git and nothing else."""
        return f"shell:{Path(args.argv[0]).name}"

    def summary(self, args: Shell.Args) -> str:
        """`$ sh -c 'sleep 60 & wait'  (in /work)`."""
        where = f"  (in {args.cwd})" if args.cwd else ""
        return f"$ {shlex.join(args.argv)}"[:140] + where

    async def prepare(self, args: Shell.Args, ctx: ToolContext) -> dict[str, Any]:
        """Resolve the program and the working directory; start nothing.

        Returns:
            {"argv", "executable", "cwd", "timeout"}: `executable` is the file that
            will run, found now so that the command runs what was checked.

        Raises:
            ValueError: the working directory or the program does not exist, or the
                program is not executable.
        """
        cwd, executable = await anyio.to_thread.run_sync(_locate, args.argv[0], args.cwd)
        return {"argv": list(args.argv), "executable": executable, "cwd": cwd, "timeout": args.timeout}

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Run the command in a new process group and wait for it.

        Returns:
            {"exit_code", "signal", "timed_out", "pid", "pgid", "seconds", "pids" (every
            process it was seen to start), "stopped" (those still running when the call
            ended the group: leftovers after the exit, or all of them at the timeout),
            "not_killed", "stdout_tail", "stderr_tail", "stdout_bytes", "stderr_bytes"}.

        Raises:
            CommitRefused: the program could not be started; nothing ran.
            ProcessesSurvived: Stop cancelled it and some of its processes are still
                there (otherwise the cancellation itself propagates).
        """
        pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(2)]
        for read_end, _ in pipes:
            os.set_blocking(read_end, False)
        try:
            try:
                # Shielded: a cancel arriving mid-spawn must not lose the handle of a started process.
                with anyio.CancelScope(shield=True):
                    process = await anyio.open_process(
                        [prepared["executable"], *prepared["argv"][1:]],
                        stdin=subprocess.DEVNULL,
                        stdout=pipes[0][1],
                        stderr=pipes[1][1],
                        cwd=prepared["cwd"],
                        start_new_session=True,
                    )
            except OSError as exc:
                raise CommitRefused(
                    f"could not start {prepared['argv'][0]!r}: {exc.strerror or exc}; nothing ran"
                ) from exc
            finally:
                for _, write_end in pipes:
                    os.close(write_end)
            run = _Run(process, _Group(process.pid), time.monotonic(), _Tail(pipes[0][0]), _Tail(pipes[1][0]))
            return await self._supervise(run, float(prepared["timeout"]), ctx)
        finally:
            for read_end, _ in pipes:
                os.close(read_end)

    async def _supervise(self, run: _Run, seconds: float, ctx: ToolContext) -> dict[str, Any]:
        timed_out = False
        try:
            await self._note(ctx, run.group, "running", [run.group.leader])
            async with anyio.create_task_group() as tg:
                tg.start_soon(run.stdout.pump)
                tg.start_soon(run.stderr.pump)
                tg.start_soon(self._watch, run.group, ctx)
                try:
                    with anyio.move_on_after(seconds) as deadline:
                        await run.process.wait()
                    timed_out = deadline.cancelled_caught
                finally:
                    tg.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                finished = run.process.returncode is not None  # it ended by itself before the cancel
                end = await self._end(run, ctx)
            if finished:
                return run.receipt(end, timed_out=False)  # its outcome is known: no need to call it unknown
            if end.survivors:
                raise ProcessesSurvived(run.group.pgid, end.survivors) from None
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._end(run, ctx)  # whatever broke here, the command does not keep running unseen
            raise
        with anyio.CancelScope(shield=True):
            end = await self._end(run, ctx)
        return run.receipt(end, timed_out=timed_out)

    async def _watch(self, group: _Group, ctx: ToolContext) -> None:
        """Look at /proc until cancelled; note the PIDs whenever the live set changes."""
        shown = frozenset([group.leader])
        while True:
            table = await anyio.to_thread.run_sync(_process_table)
            group.update(table)
            alive = group.alive_pids(table)
            if frozenset(alive) != shown and alive:
                shown = frozenset(alive)
                await self._note(ctx, group, "running", alive)
            await anyio.sleep(self.watch_interval)

    async def _end(self, run: _Run, ctx: ToolContext) -> _End:
        """SIGTERM the group, SIGKILL what is left, reap the leader; then name what is still there."""
        pgid = run.group.pgid
        table = await anyio.to_thread.run_sync(_process_table)
        run.group.update(table)  # a last look before the kill: who it started, and who left the group
        members = [p.pid for p in table.values() if p.pgid == pgid and p.state != "Z"]
        # Only a group with a live member is signalled: once empty, its number may be reused.
        if (members or not table) and _signal_group(pgid, signal.SIGTERM):
            _signal_group(pgid, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
            if not await _vanished(pgid, self.term_grace) and _signal_group(pgid, signal.SIGKILL):
                await _vanished(pgid, self.kill_wait)
        with anyio.move_on_after(self.kill_wait):
            await run.process.wait()
        table = await anyio.to_thread.run_sync(_process_table)
        run.group.update(table)
        survivors = run.group.survivors(table)
        if not table and _group_exists(pgid):
            survivors.append(
                {
                    "pid": None,
                    "cmd": "",
                    "state": "unknown",
                    "in_group": True,
                    "why": f"process group {pgid} still has members (no /proc to name them)",
                }
            )
        end = _End(stopped=sorted(members), survivors=survivors)
        state = "not_killed" if survivors else "gone"
        await self._note(
            ctx,
            run.group,
            state,
            [s["pid"] for s in survivors if s["pid"] is not None],
            not_killed=survivors[:MAX_LISTED],
        )
        return end

    async def _note(self, ctx: ToolContext, group: _Group, state: str, alive: list[int], **more: Any) -> None:
        """Tell the notifier (else the call's journal notes) which PIDs are alive; never fails the command."""
        if self.notify is None and ctx.note is None:
            return
        data = {
            "pgid": group.pgid,
            "state": state,
            "pids": sorted(alive)[:MAX_LISTED],
            "count": len(alive),
            "started": group.started[:MAX_LISTED],
            **more,
        }
        with anyio.CancelScope(shield=True), anyio.move_on_after(NOTE_TIMEOUT):
            try:
                if self.notify is not None:
                    await self.notify(ctx, data)
                elif ctx.note is not None:
                    await ctx.note("processes", data)
            except Exception:
                pass  # visibility only: the receipt and the reason carry the outcome


# -- one run -------------------------------------------------------------------


@dataclass
class _End:
    """How a group ended: which members had to be stopped, and what could not be killed."""

    stopped: list[int]
    survivors: list[dict[str, Any]]


@dataclass
class _Tail:
    """The last bytes a stream wrote, read from a non-blocking pipe."""

    fd: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    async def pump(self) -> None:
        """Read until end of file or cancellation."""
        while self.read_available():
            await anyio.wait_readable(self.fd)

    def read_available(self, limit: int = 16) -> bool:
        """Read what the pipe holds now (at most `limit` reads of 64 KiB); False at end of file."""
        for _ in range(limit):
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            self.total += len(chunk)
            self.data += chunk
            del self.data[: max(0, len(self.data) - TAIL_CHARS * 4)]
        return True

    def text(self) -> str:
        """The last TAIL_LINES lines, at most TAIL_CHARS characters."""
        self.read_available()  # what the group wrote before it ended
        lines = self.data.decode("utf-8", "replace").splitlines()[-TAIL_LINES:]
        return "\n".join(lines)[-TAIL_CHARS:]


@dataclass
class _Run:
    """A started command: its process, its group, its output."""

    process: Process
    group: _Group
    started: float
    stdout: _Tail
    stderr: _Tail

    def receipt(self, end: _End, *, timed_out: bool) -> dict[str, Any]:
        code = self.process.returncode
        return {
            "exit_code": code if code is not None and code >= 0 else None,
            "signal": _signal_name(-code) if code is not None and code < 0 else None,
            "timed_out": timed_out,
            "pid": self.group.leader,
            "pgid": self.group.pgid,
            "seconds": round(time.monotonic() - self.started, 3),
            "pids": self.group.started[:MAX_LISTED],
            "stopped": end.stopped[:MAX_LISTED],
            "not_killed": end.survivors[:MAX_LISTED],
            "stdout_tail": self.stdout.text(),
            "stderr_tail": self.stderr.text(),
            "stdout_bytes": self.stdout.total,
            "stderr_bytes": self.stderr.total,
        }


# -- processes -----------------------------------------------------------------


@dataclass(frozen=True)
class _ProcInfo:
    """One line of the process table, from /proc/PID/stat."""

    pid: int
    ppid: int
    pgid: int
    state: str
    start: int
    """Start time in clock ticks since boot: with the pid, names one process across PID reuse."""
    comm: str


def _read_stat(pid: int) -> _ProcInfo | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may itself hold spaces and parentheses: split after the last ')'.
    left, right = text.find("("), text.rfind(")")
    fields = text[right + 2 :].split()
    try:
        return _ProcInfo(pid, int(fields[1]), int(fields[2]), fields[0], int(fields[19]), text[left + 1 : right])
    except (IndexError, ValueError):
        return None


def _process_table() -> dict[int, _ProcInfo]:
    """Every process /proc shows now, by pid (empty where there is no /proc)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return {}
    table = {}
    for name in names:
        if name.isdigit() and (info := _read_stat(int(name))) is not None:
            table[info.pid] = info
    return table


def _cmdline(info: _ProcInfo) -> str:
    try:
        raw = Path(f"/proc/{info.pid}/cmdline").read_bytes()
    except OSError:
        raw = b""
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\x00") if a]
    return (shlex.join(args) if args else f"[{info.comm}]")[:200]


@dataclass
class _Seen:
    pid: int
    start: int
    cmd: str


class _Group:
    """Every process a command was seen to start: its process group, and any that left it."""

    def __init__(self, leader: int) -> None:
        self.leader = leader
        self.pgid = leader  # start_new_session: the leader's pid is its session and group id
        self.seen: dict[int, _Seen] = {}
        """Processes seen and not yet seen gone."""
        self.started: list[int] = [leader]
        """Every pid seen, in order (the first MAX_LISTED)."""

    def _is_seen(self, info: _ProcInfo) -> bool:
        seen = self.seen.get(info.pid)
        return seen is not None and seen.start == info.start

    def update(self, table: dict[int, _ProcInfo]) -> None:
        """Add the group's members and every descendant of a process already seen."""
        children: dict[int, list[int]] = {}
        for info in table.values():
            children.setdefault(info.ppid, []).append(info.pid)
        todo = [p.pid for p in table.values() if p.pgid == self.pgid or self._is_seen(p)]
        if self.leader in table:
            todo.append(self.leader)
        found: set[int] = set()
        while todo:
            pid = todo.pop()
            if pid in found or pid not in table:
                continue
            found.add(pid)
            todo.extend(children.get(pid, ()))
        for pid in [pid for pid, s in self.seen.items() if pid not in table or table[pid].start != s.start]:
            del self.seen[pid]  # gone: forgetting it keeps a long build's table small
        for pid in sorted(found):
            info = table[pid]
            if not self._is_seen(info):
                self.seen[pid] = _Seen(pid, info.start, _cmdline(info))
                if pid not in self.started and len(self.started) < MAX_LISTED:
                    self.started.append(pid)

    def alive_pids(self, table: dict[int, _ProcInfo]) -> list[int]:
        """Seen processes still in the table (before the first look: the leader)."""
        if not table:
            return [self.leader]
        return sorted(
            pid
            for pid, s in self.seen.items()
            if pid in table and table[pid].start == s.start and table[pid].state != "Z"
        )

    def survivors(self, table: dict[int, _ProcInfo]) -> list[dict[str, Any]]:
        """Seen processes still there, each with why the kill missed it.

        A zombie counts when its parent is not init: that parent, not reaping it, is
        a process someone has to look at.
        """
        out = []
        for pid, seen in sorted(self.seen.items()):
            info = table.get(pid)
            if info is None or info.start != seen.start or (info.state == "Z" and info.ppid == 1):
                continue  # gone, or dead and about to be reaped by init
            if info.state == "Z":
                why = f"exited, but its parent {info.ppid} has not reaped it"
            elif info.state == "D":
                why = "stuck in the kernel: SIGKILL is pending until the call it waits on returns"
            elif info.pgid != self.pgid:
                why = f"left the process group (now group {info.pgid}, e.g. by setsid), so the group kill missed it"
            else:
                why = "still in the group after SIGKILL"
            cmd = _cmdline(info) if info.state != "Z" else seen.cmd  # now: it may have exec'd since first seen
            out.append(
                {
                    "pid": pid,
                    "cmd": cmd,
                    "state": _STATES.get(info.state, info.state),
                    "in_group": info.pgid == self.pgid,
                    "why": why,
                }
            )
        return out


def _describe(survivor: dict[str, Any]) -> str:
    pid = survivor.get("pid")
    if pid is None:
        return str(survivor.get("why"))
    return f"pid {pid} `{str(survivor.get('cmd', ''))[:80]}` ({survivor.get('state')}: {survivor.get('why')})"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"  # a real-time signal without a name


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the group; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a member we may not signal (setuid): it is still there
    return True


def _group_exists(pgid: int) -> bool:
    return _signal_group(pgid, 0)  # signal 0 only checks that the group exists


def _live_members(pgid: int) -> bool:
    """True while a member of the group is alive (a zombie is not: it only waits to be reaped)."""
    if not _group_exists(pgid):
        return False
    table = _process_table()
    return not table or any(p.pgid == pgid and p.state != "Z" for p in table.values())


async def _vanished(pgid: int, limit: float) -> bool:
    """Wait up to `limit` seconds until no member of the group is alive; True when none is."""
    with anyio.move_on_after(limit):
        while await anyio.to_thread.run_sync(_live_members, pgid):
            await anyio.sleep(0.01)
        return True
    return False


def _locate(program: str, cwd: str | None) -> tuple[str, str]:
    """The absolute working directory and executable; ValueError saying what is missing."""
    where = Path(cwd) if cwd else Path.cwd()
    where = where if where.is_absolute() else Path.cwd() / where
    if not where.is_dir():
        raise ValueError(f"working directory {cwd!r} does not exist or is not a directory")
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else where / program
        if not path.is_file():
            raise ValueError(f"program {program!r} does not exist (looked at {path})")
        if not os.access(path, os.X_OK):
            raise ValueError(f"program {program!r} is not executable (chmod +x {path})")
        return str(where), str(path)
    found = shutil.which(program)
    if found is None:
        raise ValueError(f"no program {program!r} on PATH; install it, or give its path")
    return str(where), str(Path(found).absolute())
