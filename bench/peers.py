"""Optional peers for section 1: a DBOS step and a LangGraph SqliteSaver super-step.

Measured only when already importable; the benchmark never installs them. Their
APIs move between releases, so a failure to run is reported as a line, not raised.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

import anyio

from .common import Summary, clock, fmt_ratio

__all__ = ["run_peers"]

_WARMUP = 20



def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


PEER_TARGETS = {"DBOS step (SQLite system database)": 10.0, "LangGraph SqliteSaver super-step": 5.0}
"""How many times cheaper than each peer's step a gated call should be (the issue's targets)."""


async def run_peers(calls: int, floor: float, tmp: Path, log: Any,
                    medians: dict[str, float] | None = None) -> list[str]:
    """Lines for the optional peers (DBOS step, LangGraph SqliteSaver super-step); their medians into `medians`."""
    lines = []
    for name, module, fn in (("DBOS step (SQLite system database)", "dbos", _dbos_step),
                             ("LangGraph SqliteSaver super-step", "langgraph.checkpoint.sqlite", _langgraph_step)):
        if not _installed(module):
            lines.append(f"{name}: skipped: not installed (pip install -e '.[bench]')")
            continue
        try:
            samples = await anyio.to_thread.run_sync(fn, tmp, calls)
        except Exception as exc:  # a peer's API moved: say so instead of failing the run
            lines.append(f"{name}: failed to run ({type(exc).__name__}: {exc})")
            continue
        s = Summary.of([samples])
        if medians is not None:
            medians[name] = s.median
        lines.append(f"{name}: median {s.median * 1e6:.0f} µs, p99 {s.p99 * 1e6:.0f} µs "
                     f"({fmt_ratio(s.median / floor)} the raw floor; one repeat)")
        log(f"  {lines[-1]}")
    return lines


def _dbos_step(tmp: Path, n: int) -> list[float]:  # pragma: no cover - needs dbos installed
    from dbos import DBOS  # type: ignore[import-not-found,unused-ignore]  # optional, installed by hand

    def noop_step(i: int) -> dict[str, Any]:
        return {}

    step: Any = DBOS.step()(noop_step)

    def one_step_workflow(i: int) -> Any:
        return step(i)

    workflow: Any = DBOS.workflow()(one_step_workflow)

    DBOS(config={"name": "agentstop-bench", "system_database_url": f"sqlite:///{tmp / 'dbos.sqlite'}"})
    DBOS.launch()
    try:
        for i in range(_WARMUP):
            workflow(i)
        out = []
        for i in range(n):
            began = clock()
            workflow(i)
            out.append(clock() - began)
        return out
    finally:
        DBOS.destroy(destroy_registry=True)


def _langgraph_step(tmp: Path, n: int) -> list[float]:  # pragma: no cover - needs langgraph installed
    from typing import TypedDict

    from langgraph.checkpoint.sqlite import SqliteSaver  # type: ignore[import-not-found,unused-ignore]
    from langgraph.graph import END, START, StateGraph  # type: ignore[import-not-found,unused-ignore]

    class State(TypedDict):
        n: int

    def node(state: State) -> State:
        return {"n": state["n"] + 1}

    graph = StateGraph(State)
    graph.add_node("tool", node)
    graph.add_edge(START, "tool")
    graph.add_edge("tool", END)
    conn = sqlite3.connect(tmp / "langgraph.sqlite", check_same_thread=False)
    try:
        app = graph.compile(checkpointer=SqliteSaver(conn))
        for i in range(_WARMUP):
            app.invoke({"n": i}, {"configurable": {"thread_id": f"w{i}"}})
        out = []
        for i in range(n):
            began = clock()
            app.invoke({"n": i}, {"configurable": {"thread_id": f"t{i}"}})
            out.append(clock() - began)
        return out
    finally:
        conn.close()
