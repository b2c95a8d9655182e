"""10. The CLI on a long session: `agentstop report --json` and `agentstop replay --export`, each a process.

`python -m bench.cli_report [--quick]` runs this section alone and prints its table.

What a person at a shell waits for, process start included. For each size
(5,000 and 20,000 calls in a full run, `sizes`) a session of the section-5 mix
is bulk-written (bench/sessions.py) by a process of its own that then exits, as
an agent's does: the CLI finds a session whose process is gone, as in life (its
unknown calls make it look for recovery work on every open). Then, 5 times
each (2 in a smoke run), interleaved, a fresh `python -m agentstop` runs
`report DB --json` (stdout to a file) and `replay DB --export FILE` for .json,
.md and .html. Timed: wall time from spawn to exit, and the process's peak resident
memory (its own `ru_maxrss`, from `os.wait4`). The targets are on the largest
size: `report --json` under 1 s, and each `replay --export` likewise (the issue's
words). Both stream the session a window of 2,000 calls (an export's timeline
5,000 events) at a time, and keep Done's undoable items as written to write
Undoable with (at most 32 Mi characters, `report_stream.UNDOABLE_KEPT`), so the
memory grows with the session only up to that bound. Beside
them, `agentstop --version` the same way: what starting the CLI costs before any
command runs.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from .common import DASH, Config, Dist, clock, fmt_time
from .machine import compile_bytecode

__all__ = ["EXPORTS", "START", "TARGET", "CliResult", "CliSize", "build_session", "markdown", "run_cli_report"]

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.0
"""Seconds `agentstop report --json` (and each `replay --export`) of the largest session may take, process start
included (the median)."""
START = "--version"
"""The command timed as the CLI's start: it imports the command line and exits."""
EXPORTS = (".json", ".md", ".html")


def sizes(cfg: Config) -> tuple[int, ...]:
    """The session sizes the section measures."""
    return (500, 2_000) if cfg.quick else (5_000, 20_000)


@dataclass
class CliSize:
    """One session size's runs: wall seconds and peak RSS bytes per command."""

    calls: int
    events: int = 0
    """The session's events (an export's timeline writes one line each)."""
    wall: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, list[int]] = field(default_factory=dict)
    output_bytes: dict[str, int] = field(default_factory=dict)

    def dist(self, command: str) -> Dist:
        return Dist.of(self.wall[command])

    def peak(self, command: str) -> int:
        """The largest peak RSS over the command's runs (bytes)."""
        return max(self.rss[command])


@dataclass
class CliResult:
    repeats: int
    sizes: list[CliSize] = field(default_factory=list)

    @property
    def largest(self) -> CliSize:
        return max(self.sizes, key=lambda s: s.calls)


def build_session(path: str, calls: int) -> None:
    """Write a session of `calls` calls of the section-5 mix to a new journal at `path` (run in a child)."""
    from agentstop import GrantSpec, Journal, Supervisor

    from .common import Noop
    from .sessions import write_calls

    async def build() -> None:
        async with Journal.open(path) as journal:
            sup = Supervisor(journal, [Noop()], GrantSpec())
            await sup.start()
            grant_id = (await journal.grants(sup.session_id))[0].grant_id
            writer = journal._writer
            assert writer is not None
            await writer.run(write_calls(sup.session_id, grant_id, calls), durable=True)
            await sup.close()

    anyio.run(build)


def _env() -> dict[str, str]:
    # The children import agentstop and bench from this checkout, whatever is installed.
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


_MEASURE = """
import os, subprocess, sys, time
began = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - began
with open(sys.argv[1], "w") as f:
    f.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""
"""Runs the command and writes its wall time, peak RSS (KiB) and exit code. A small process of its own spawns
it: Linux carries the spawning process's peak RSS over into a child's across exec, so a command spawned straight
from this (by then large) benchmark process would report this process's peak instead of its own."""


def _timed(argv: list[str], stdout: Path) -> tuple[float, int]:
    """Run one command to its end: (wall seconds from spawn to exit, its own peak RSS in bytes)."""
    with stdout.open("wb") as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        facts = Path(tmp) / "facts"
        subprocess.run(
            [sys.executable, "-c", _MEASURE, str(facts), *argv], stdout=out, stderr=err, cwd=ROOT, env=_env()
        )
        wall_text, rss_text, code_text = facts.read_text().split()
        if int(code_text) != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv[1:])} exited {code_text}: {err.read().decode()[-2000:]}")
    return float(wall_text), int(rss_text) * 1024  # kilobytes on Linux


def _one_size(calls: int, repeats: int, tmp: Path, log: Any) -> CliSize:
    db = tmp / f"cli-{calls}.db"
    began = clock()
    subprocess.run(
        [sys.executable, "-c", f"from bench.cli_report import build_session; build_session({str(db)!r}, {calls})"],
        cwd=ROOT,
        env=_env(),
        check=True,
    )
    log(f"  wrote a {calls:,}-call session in {clock() - began:.1f} s (its process has exited)")
    with closing(sqlite3.connect(db)) as conn:
        events = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    size = CliSize(calls, events)
    # name: (arguments, the file its output lands in, whether that file is its stdout)
    commands = {"report --json": (["report", str(db), "--json"], tmp / f"report-{calls}.json", True)}
    for suffix in EXPORTS:
        out = tmp / f"export-{calls}{suffix}"
        commands[f"replay --export {suffix}"] = (["replay", str(db), "--export", str(out)], out, False)
    commands[START] = ([START], tmp / "version", True)
    for _ in range(repeats):
        for name, (args, out, is_stdout) in commands.items():
            wall, rss = _timed([sys.executable, "-m", "agentstop", *args], out if is_stdout else tmp / "stdout")
            size.wall.setdefault(name, []).append(wall)
            size.rss.setdefault(name, []).append(rss)
            size.output_bytes[name] = out.stat().st_size
    r = size.dist("report --json")
    log(f"  {calls:,} calls: report --json p50 {fmt_time(r.p50)}, peak RSS {size.peak('report --json') / 2**20:.0f} MB")
    return size


async def run_cli_report(cfg: Config, tmp: Path, log: Any) -> CliResult:
    """The section at each of `sizes(cfg)`."""
    res = CliResult(repeats=2 if cfg.quick else 5)
    for calls in sizes(cfg):
        res.sizes.append(await anyio.to_thread.run_sync(_one_size, calls, res.repeats, tmp, log))
    return res


def markdown(res: CliResult) -> list[str]:
    """The section's table: one row per size and command."""
    lines = [
        "| session | command | wall p50 | range | peak RSS | output |",
        "|---|---|---|---|---|---|",
    ]
    for size in res.sizes:
        for name in size.wall:
            d = size.dist(name)
            session = f"{size.calls:,} calls ({size.events:,} events)"
            lines.append(
                f"| {session} | `{name}` | {fmt_time(d.p50)} | {fmt_time(d.lo)}{DASH}{fmt_time(d.hi)} "
                f"| {size.peak(name) / 2**20:.0f} MB | {size.output_bytes[name] / 2**20:.1f} MB |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_report", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sessions, two repeats")
    args = parser.parse_args(argv)
    cfg = Config.smoke() if args.quick else Config.full()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    log(f"agentstop's bytecode: {compile_bytecode()}")

    async def run() -> CliResult:
        with tempfile.TemporaryDirectory(prefix="agentstop-bench-cli-") as tmp:
            return await run_cli_report(cfg, Path(tmp), log)

    result = anyio.run(run)
    print("\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
