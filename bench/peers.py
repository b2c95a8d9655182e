"""Section 1's peers: agentstop's gated call against a DBOS step and a LangGraph super-step.

Inside an agent run a tool call is one step of a running workflow or graph, so
the row the targets are judged on measures exactly that: one DBOS workflow
running N steps, one LangGraph `invoke` looping N super-steps (SqliteSaver,
durability="sync"). Starting a whole workflow, or a whole `invoke` on a new
thread, per call is shown too, as separate, labelled rows.

Every measurement runs in a process of its own (bench/peer_child.py), so no
peer's threads, imports or garbage share an interpreter with another's. The
repeats are interleaved: each repeat runs the raw floor, agentstop and every
peer once, in an order rotated from repeat to repeat, so the machine's load
lands on all of them alike. Ratios are taken inside each repeat. Every kind
fsyncs on commit (see bench/peer_child.py for each one's settings).

The peers are measured only when installed (`pip install -e '.[bench]'`); a
peer whose API moved is reported as a line, not raised.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from .common import percentile

__all__ = ["PEER_KINDS", "PEER_TARGETS", "PeerResult", "run_peers"]

_ROOT = Path(__file__).resolve().parent.parent

PEER_KINDS: dict[str, tuple[str, str]] = {
    "floor": ("**floor**: raw sqlite3, 2 committed INSERTs per call, FULL", ""),
    "gated": ("**agentstop** `Supervisor.call`, gated + durable", ""),
    "langgraph_step": (
        "LangGraph SqliteSaver: one super-step of a running graph (one `invoke` looping N "
        'super-steps, durability="sync")',
        "langgraph.checkpoint.sqlite",
    ),
    "dbos_step": (
        "DBOS (SQLite system database): one step of a running workflow (one workflow running N steps)",
        "dbos",
    ),
    "langgraph_invoke": (
        'LangGraph SqliteSaver: one whole `invoke` per call, on a new thread (durability="sync")',
        "langgraph.checkpoint.sqlite",
    ),
    "dbos_workflow": ("DBOS (SQLite system database): one whole one-step workflow per call", "dbos"),
}
"""Every kind measured: its label, and the module that must be importable to measure it."""

PEER_TARGETS = {"langgraph_step": 2.0, "dbos_step": 5.0}
"""How many times cheaper than each peer's step a gated call should be (the issue's targets), on the
per-step measure."""


def _installed(module: str) -> bool:
    if not module:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@dataclass
class PeerResult:
    """Per kind, one median and one p99 per repeat; notes on how each ran or why it did not."""

    calls: int = 0
    repeats: int = 0
    medians: dict[str, list[float]] = field(default_factory=dict)
    p99s: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    order: list[list[str]] = field(default_factory=list)

    def ran(self, kind: str) -> bool:
        return len(self.medians.get(kind, [])) == self.repeats and self.repeats > 0

    def median(self, kind: str) -> float:
        return statistics.median(self.medians[kind])

    def ratios(self, kind: str, over: str) -> list[float]:
        """Per repeat: this kind's median over the `over` kind's median (measured in the same repeat)."""
        return [a / b for a, b in zip(self.medians[kind], self.medians[over], strict=True)]


def _child(kind: str, tmp: Path, calls: int) -> tuple[list[float], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.peer_child", kind, str(tmp), str(calls)],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"exit {proc.returncode}: {tail}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return list(got["samples"]), str(got["note"])


async def run_peers(calls: int, repeats: int, tmp: Path, log: Any) -> PeerResult:
    """Every kind in its own process, `repeats` interleaved repeats of `calls` steps each."""
    res = PeerResult(calls=calls, repeats=repeats)
    kinds = []
    for kind, (_, module) in PEER_KINDS.items():
        if _installed(module):
            kinds.append(kind)
        else:
            res.skipped[kind] = "not installed (pip install -e '.[bench]')"
    for r in range(repeats):
        shift = r % len(kinds)
        order = kinds[shift:] + kinds[:shift]
        res.order.append(order)
        for kind in order:
            if kind in res.skipped:
                continue
            try:
                samples, note = await anyio.to_thread.run_sync(_child, kind, tmp / f"peer-{kind}-{r}", calls)
            except Exception as exc:  # a peer's API moved: say so instead of failing the run
                res.skipped[kind] = f"failed to run ({type(exc).__name__}: {exc})"
                res.medians.pop(kind, None)
                log(f"  peers: {kind} {res.skipped[kind]}")
                continue
            res.medians.setdefault(kind, []).append(statistics.median(samples))
            res.p99s.setdefault(kind, []).append(percentile(samples, 0.99))
            res.notes[kind] = note
            log(f"  peers repeat {r + 1}/{repeats}: {kind} median {res.medians[kind][-1] * 1e6:.0f} µs")
    return res
