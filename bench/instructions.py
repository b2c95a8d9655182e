"""Instructions per call up the ladder of section 1, counted by valgrind: what this machine's noise does not move.

    python -m bench.instructions KIND N     (the child: N calls of KIND, under valgrind)

Wall times on a shared 2-core machine move by tens of percent between runs, so a
change of a few percent in what a call costs the CPU does not show in them. The
instructions a call executes do not depend on the neighbours: each variant of
section 1 runs in a process of its own under `valgrind --tool=callgrind` (user
space only: the fsync's time in the kernel is not counted), once with `SMALL`
calls and once with `LARGE`, and the difference of the two totals over the
difference of the calls is one call's count (start-up and warm-up cancel out).

Under valgrind everything runs some 40 times slower, so the child lifts the
writer's inline budget: a lone caller's units would otherwise be judged a slow
disk and sent through the writer thread, which is not the path being measured.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio

__all__ = ["KINDS", "LARGE", "SMALL", "count_instructions"]

KINDS = ("raw", "ops_2txn", "journal_inline", "gated")
"""The rungs of section 1's ladder that are counted: the floor, agentstop's SQL, its journal, the whole call."""

SMALL = 100
LARGE = 400
_WARMUP = 50
_COLLECTED = re.compile(r"Collected : (\d+)")
_ROOT = Path(__file__).resolve().parent.parent


def _total(kind: str, calls: int, tmp: Path, valgrind: str) -> int:
    """Instructions one child process executes making `calls` calls of `kind` (after its warm-up)."""
    proc = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *_child_args(kind, calls, tmp)],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    found = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"valgrind {kind} {calls}: exit {proc.returncode}: {tail}")
    return int(found.group(1))


def _child_args(kind: str, calls: int, tmp: Path) -> list[str]:
    return [sys.executable, "-m", "bench.instructions", kind, str(calls), str(tmp)]


def count_instructions(tmp: Path) -> tuple[dict[str, int], str]:
    """Instructions per call of each of `KINDS` (empty, with the reason, where valgrind is missing)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {}, "valgrind is not installed here (apt-get install valgrind)"
    jobs = [(kind, calls) for kind in KINDS for calls in (SMALL, LARGE)]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two processes at once: the machine's two cores
        totals = dict(zip(jobs, pool.map(lambda job: _total(*job, tmp, valgrind), jobs), strict=True))
    return {kind: (totals[kind, LARGE] - totals[kind, SMALL]) // (LARGE - SMALL) for kind in KINDS}, ""


def _child(kind: str, calls: int, tmp: Path) -> None:
    import agentstop.journal.writer as writer

    from .variants import make

    writer.INLINE_BUDGET = float("inf")  # see the module: keep a lone caller's inline path under valgrind

    async def run() -> None:
        with tempfile.TemporaryDirectory(dir=tmp) as where:
            variant = make(kind, Path(where) / f"{kind}.db")
            await variant.open()
            try:
                for i in range(_WARMUP):
                    await variant.call(-1 - i)
                for i in range(calls):
                    await variant.call(i)
            finally:
                await variant.close()

    anyio.run(run)


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
