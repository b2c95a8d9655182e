"""shell: a command runs in its own process group; Stop kills the group and names what it could not kill.

Real processes throughout (sh, sleep, setsid, seq). A process counts as gone
when /proc no longer shows it or shows it dead (a zombie waiting for init to
reap it). Every PID a test sees is killed in teardown if it is still there, so
a failing test leaves nothing running.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import (
    AgentstopError,
    CommitRefused,
    GrantSpec,
    InvalidArgs,
    Journal,
    OutcomeUnknown,
    Reversibility,
    StopPolicy,
    Supervisor,
    ToolContext,
    ToolFailed,
    ToolRegistry,
)
from agentstop.tools import import_path
from demo_tools.shell import ProcessesSurvived, Shell

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

TERM_GRACE = 0.3
LONG = 10.0  # the timeout of commands that would run for a minute: a failing test ends them soon anyway


def _tool(journal: Journal | None = None) -> Shell:
    """The shell tool with short waits (its notes go to the journal through `ToolContext.note`)."""
    return Shell(term_grace=TERM_GRACE, kill_wait=1.0, watch_interval=0.05)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _running(pid: int) -> bool:
    return _state(pid) not in (None, "Z")


def _pgid(pid: int) -> int | None:
    fields = _stat(pid)
    return None if fields is None else int(fields[2])


def _state(pid: int) -> str | None:
    fields = _stat(pid)
    return None if fields is None else fields[0]


def _children(pid: int) -> list[int]:
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return [child for child in pids if (_stat(child) or ["", ""])[1] == str(pid)]


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\x00", b" ").decode().strip()
    except OSError:
        return ""


async def _all_gone(pids: list[int], within: float = 3.0) -> bool:
    with anyio.move_on_after(within):
        while any(_running(pid) for pid in pids):
            await anyio.sleep(0.02)
        return True
    return False


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """PIDs a test saw; whatever of them still runs at the end is killed (the setsid child, a failed test)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _running(pid) and _cmd(pid).split(" ")[0] in ("sh", "sleep", "setsid"):  # ours, not a reused pid
            os.kill(pid, signal.SIGKILL)


def _supervisor(journal: Journal, grace: float = 30.0) -> Supervisor:
    return Supervisor(journal, [_tool(journal)], GrantSpec(tools=["shell"], scopes=["shell:*"]), grace=grace)


async def _notes(journal: Journal, session_id: str) -> list[dict[str, Any]]:
    return [e.data for e in await journal.events(session_id) if e.kind == "processes"]


async def _call(sup: Supervisor, args: dict[str, Any], out: list[Any]) -> None:
    try:
        out.append(await sup.call("shell", args))
    except AgentstopError as exc:
        out.append(exc)


async def _running_pids(journal: Journal, sup: Supervisor, count: int, strays: list[int]) -> list[int]:
    """Wait until the latest `processes` note shows `count` live PIDs; those PIDs."""
    with anyio.fail_after(5):
        while True:
            notes = [n for n in await _notes(journal, sup.session_id) if n["state"] == "running"]
            if notes and len(notes[-1]["pids"]) >= count:
                pids: list[int] = notes[-1]["pids"]
                strays.extend(pids)
                return pids
            await anyio.sleep(0.02)


async def _stop_and_escalate(sup: Supervisor) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(sup.stop, "wrong goal")
        with anyio.fail_after(5):
            while not sup.stopping:
                await anyio.sleep(0.01)
            await sup.stop("again")  # the second press: skip the grace, cancel the commit


# -- a command that ends by itself ----------------------------------------------------


async def test_a_command_returns_its_exit_code_and_the_end_of_its_output(journal: Journal) -> None:
    sup = _supervisor(journal)
    receipt = await sup.call("shell", {"argv": ["sh", "-c", "echo one; echo two; echo oops >&2; exit 3"]})
    [call] = await journal.calls(sup.session_id)
    await sup.close()

    assert receipt["exit_code"] == 3 and receipt["signal"] is None and not receipt["timed_out"]
    assert (receipt["stdout_tail"], receipt["stderr_tail"]) == ("one\ntwo", "oops")
    assert receipt["pid"] == receipt["pgid"] and receipt["not_killed"] == [] and receipt["stopped"] == []
    assert call.state == "committed"  # a non-zero exit is an outcome, not a refusal: the command did run
    notes = await _notes(journal, sup.session_id)
    assert notes[0]["pids"] == [receipt["pid"]] and notes[-1]["state"] == "gone"


async def test_the_receipt_keeps_only_the_last_lines_of_a_long_output(journal: Journal) -> None:
    sup = _supervisor(journal)
    receipt = await sup.call("shell", {"argv": ["seq", "1", "200000"]})
    await sup.close()

    assert receipt["exit_code"] == 0
    assert receipt["stdout_tail"].splitlines() == [str(n) for n in range(199_981, 200_001)]
    assert receipt["stdout_bytes"] == len("".join(f"{n}\n" for n in range(1, 200_001)))


async def test_background_processes_are_stopped_when_the_command_exits(journal: Journal, strays: list[int]) -> None:
    sup = _supervisor(journal)
    started = time.monotonic()
    receipt = await sup.call("shell", {"argv": ["sh", "-c", "sleep 60 & echo $!"]})
    await sup.close()
    child = int(receipt["stdout_tail"])
    strays.append(child)

    assert time.monotonic() - started < 3  # the child holding stdout open does not hold the call
    assert receipt["exit_code"] == 0 and receipt["stopped"] == [child]
    assert await _all_gone([child])


async def test_a_timeout_kills_the_group_and_says_so(journal: Journal, strays: list[int]) -> None:
    sup = _supervisor(journal)
    receipt = await sup.call("shell", {"argv": ["sh", "-c", "sleep 60 & sleep 60 & wait"], "timeout": 0.5})
    await sup.close()
    strays.extend(receipt["pids"])

    assert receipt["timed_out"] and receipt["exit_code"] is None and receipt["signal"] == "SIGTERM"
    assert len(receipt["pids"]) == 3 and sorted(receipt["stopped"]) == sorted(receipt["pids"])
    assert receipt["not_killed"] == []
    assert await _all_gone(receipt["pids"])


async def test_a_group_that_ignores_sigterm_gets_sigkill(strays: list[int]) -> None:
    tool = _tool()
    ctx = ToolContext("s", "c1", "shell", "k1")
    prepared = await tool.prepare(Shell.Args(argv=["sh", "-c", "trap '' TERM; sleep 60 & wait"], timeout=0.5), ctx)
    started = time.monotonic()
    receipt = await tool.commit(prepared, ctx)
    strays.extend(receipt["pids"])

    assert receipt["signal"] == "SIGKILL" and receipt["timed_out"]
    assert time.monotonic() - started >= 0.5 + TERM_GRACE
    assert receipt["not_killed"] == [] and await _all_gone(receipt["pids"])


# -- Stop -------------------------------------------------------------------------------


@pytest.mark.parametrize("escalate", [True, False], ids=["escalated", "after-grace"])
async def test_stop_kills_the_whole_group_and_the_journal_names_its_pids(
    journal: Journal, strays: list[int], escalate: bool
) -> None:
    sup = _supervisor(journal, grace=30.0 if escalate else 0.3)
    out: list[Any] = []
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call, sup, {"argv": ["sh", "-c", "sleep 60 & sleep 60 & wait"], "timeout": LONG}, out)
        pids = await _running_pids(journal, sup, 3, strays)
        assert (await journal.call(sup.session_id, "c1")).state == "committing"  # the in-flight row's PIDs
        if escalate:
            await _stop_and_escalate(sup)
        else:
            await sup.stop("wrong goal")
    report = await sup.report()

    assert time.monotonic() - started < 10  # escalation skipped the 30 s grace
    assert await _all_gone(pids)
    assert isinstance(out[0], OutcomeUnknown)  # killed part way: what it did is not known
    [item] = report.in_flight
    assert item.state == "unknown" and "commit cancelled by Stop" in (item.reason or "")
    last = (await _notes(journal, sup.session_id))[-1]
    assert last["call_id"] == "c1" and last["state"] == "gone" and last["pids"] == []
    assert set(pids) <= set(last["started"]) and len(last["started"]) == 3


async def test_a_process_that_left_the_group_is_reported_as_not_killed(journal: Journal, strays: list[int]) -> None:
    sup = _supervisor(journal)
    out: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call, sup, {"argv": ["sh", "-c", "setsid sleep 60 & sleep 60 & wait"], "timeout": LONG}, out)
        pids = await _running_pids(journal, sup, 3, strays)
        pgid = pids[0]
        with anyio.fail_after(5):  # until setsid has taken it out of the group and become sleep
            while not [pid for pid in pids if _pgid(pid) not in (None, pgid) and _cmd(pid) == "sleep 60"]:
                await anyio.sleep(0.02)
        [escaped] = [pid for pid in pids if _pgid(pid) != pgid]
        await _stop_and_escalate(sup)
    report = await sup.report()

    assert _running(escaped)
    assert await _all_gone([pid for pid in pids if pid != escaped])
    assert isinstance(out[0], ToolFailed) and "could not be killed" in out[0].error
    [item] = report.in_flight  # still running somewhere: the call is in flight, its outcome unknown
    assert item.state == "unknown"
    assert f"pid {escaped} `sleep 60` (sleeping: left the process group" in (item.reason or "")
    assert "kill them by hand" in (item.reason or "")
    last = (await _notes(journal, sup.session_id))[-1]
    assert last["state"] == "not_killed" and last["pids"] == [escaped]
    assert [(s["pid"], s["in_group"]) for s in last["not_killed"]] == [(escaped, False)]


async def test_a_zombie_whose_parent_escaped_is_reported_with_its_parent(journal: Journal, strays: list[int]) -> None:
    sup = _supervisor(journal)
    out: list[Any] = []
    # The escaped sh forks `sleep 0`, then becomes `sleep 60`, which never reaps it: a zombie that stays.
    command = "setsid sh -c 'sleep 0 & exec sleep 60' & wait"
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call, sup, {"argv": ["sh", "-c", command], "timeout": LONG}, out)
        with anyio.fail_after(5):
            while True:
                notes = await _notes(journal, sup.session_id)
                parents = [pid for pid in (notes[-1]["started"] if notes else []) if _cmd(pid) == "sleep 60"]
                zombies = [pid for parent in parents for pid in _children(parent) if _state(pid) == "Z"]
                if parents and zombies:
                    strays.extend(parents)
                    break
                await anyio.sleep(0.02)
        await _stop_and_escalate(sup)

    [zombie], [parent] = zombies, parents
    reason = (await journal.call(sup.session_id, "c1")).reason or ""
    assert isinstance(out[0], ToolFailed) and "2 of its processes could not be killed" in reason
    assert f"pid {parent} `sleep 60` (sleeping: left the process group" in reason
    assert f"pid {zombie} `" in reason and f"(zombie: exited, but its parent {parent} has not reaped it)" in reason


async def test_processes_survived_names_each_process_and_what_to_do() -> None:
    exc = ProcessesSurvived(
        100, [{"pid": 123, "cmd": "sleep 60", "state": "sleeping", "in_group": False, "why": "left the process group"}]
    )
    assert "pid 123 `sleep 60` (sleeping: left the process group)" in str(exc)
    assert str(exc).endswith("find out why with `ps -o pid,stat,cmd -p PID`")


# -- bad input: refused before any process starts -------------------------------------


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every process the shell tool starts."""
    started: list[Any] = []
    real = anyio.open_process

    async def spy(command: Any, **kwargs: Any) -> Any:
        started.append(command)
        return await real(command, **kwargs)

    monkeypatch.setattr(anyio, "open_process", spy)
    return started


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"argv": ["no-such-program-agentstop"]}, "no program 'no-such-program-agentstop' on PATH"),
        ({"argv": ["./missing.sh"]}, "program './missing.sh' does not exist"),
        ({"argv": ["true"], "cwd": "/no/such/dir"}, "working directory '/no/such/dir' does not exist"),
    ],
    ids=["not-on-path", "no-such-file", "bad-cwd"],
)
async def test_bad_input_fails_in_prepare_and_starts_nothing(
    journal: Journal, spawns: list[Any], args: dict[str, Any], problem: str
) -> None:
    sup = _supervisor(journal)
    with pytest.raises(ToolFailed, match=re.escape(problem)) as raised:
        await sup.call("shell", args)
    kinds = [e.kind for e in await journal.events(sup.session_id) if e.call_id == "c1"]
    await sup.close()

    assert raised.value.phase == "prepare" and spawns == []
    assert kinds == ["planned", "failed"]  # never reached the fence


async def test_a_file_that_is_not_executable_is_refused(tmp_path: Path, spawns: list[Any]) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(ValueError, match=r"not executable \(chmod \+x"):
        await Shell().prepare(Shell.Args(argv=["./run.sh"], cwd=str(tmp_path)), ToolContext("s", "c1", "shell", "k"))
    assert spawns == []


async def test_malformed_arguments_are_rejected(journal: Journal, spawns: list[Any]) -> None:
    sup = _supervisor(journal)
    cases: list[dict[str, Any]] = [
        {"argv": []},
        {"argv": [""]},
        {"argv": ["echo", "a\x00b"]},
        {"argv": "echo hi"},
        {"argv": ["true"], "timeout": 0},
        {"argv": ["true"], "cwd": ""},
    ]
    for args in cases:
        with pytest.raises(InvalidArgs):
            await sup.call("shell", args)
    await sup.close()
    assert spawns == []


async def test_a_program_gone_between_prepare_and_commit_is_refused_and_nothing_ran(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\ntouch ran\n")
    script.chmod(0o755)
    tool, ctx = Shell(), ToolContext("s", "c1", "shell", "k")
    prepared = await tool.prepare(Shell.Args(argv=["./run.sh"], cwd=str(tmp_path)), ctx)
    script.unlink()
    with pytest.raises(CommitRefused, match=r"could not start '\./run\.sh'.*nothing ran"):
        await tool.commit(prepared, ctx)
    assert not (tmp_path / "ran").exists()


# -- the tool's declarations ----------------------------------------------------------------


def test_shell_is_irreversible_cancellable_and_loads_like_any_task_file_tool(tmp_path: Path) -> None:
    [tool] = ToolRegistry([Shell])  # task files construct tools without arguments
    assert import_path(tool) == "demo_tools.shell:Shell"
    assert tool.reversibility is Reversibility.IRREVERSIBLE and tool.on_stop is StopPolicy.TRY_CANCEL
    assert tool.undo_hint and not tool.can_compensate() and not tool.can_lookup()
    args = Shell.Args(argv=["/usr/bin/git", "status"], cwd=str(tmp_path))
    assert tool.resource(args) == "shell:git"
    assert tool.summary(args) == f"$ /usr/bin/git status  (in {tmp_path})"
