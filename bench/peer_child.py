"""One measurement of the peer comparison (bench/peers.py), in a process of its own.

    python -m bench.peer_child KIND DIR N

Makes N durable steps of KIND on a fresh file in DIR, after a warm-up, and prints
one JSON line: {"samples": [seconds per step, ...], "note": "..."}. Kinds:

- `floor`: the raw floor, two committed INSERTs per call (WAL, `synchronous=FULL`).
- `gated`: agentstop's `Supervisor.call` of a trivial tool, gated and durable.
- `langgraph_step`: one `invoke` of a LangGraph graph (SqliteSaver, durability="sync")
  whose one node loops back to itself N times: a sample is the time from one
  super-step's start to the next's (the node ran, its checkpoint was committed).
- `langgraph_invoke`: one `invoke` per call, each on a new thread (a one-node graph).
- `dbos_step`: one DBOS workflow (SQLite system database) running N steps: a sample is
  the time from one step's start to the next's (the step ran, its outcome was committed).
- `dbos_workflow`: one whole one-step workflow per call.

Every kind commits with an fsync: the floor and agentstop at `synchronous=FULL` in WAL;
LangGraph's SqliteSaver sets WAL and leaves sqlite3's default `synchronous=FULL`; DBOS's
SQLite system database keeps SQLite's defaults (rollback journal, `synchronous=FULL`).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import anyio

WARMUP = 20

clock = time.perf_counter


def _gaps(starts: list[float], end: float) -> list[float]:
    """Per-step times from the steps' start times (the last step ends at `end`)."""
    marks = [*starts, end]
    return [b - a for a, b in itertools.pairwise(marks)]


def floor(tmp: Path, n: int) -> tuple[list[float], str]:
    from .variants import RawFloor

    f = RawFloor(tmp / "floor.db")
    anyio.run(f.open)
    try:
        for i in range(WARMUP):
            f.call_sync(-1 - i)
        out = []
        for i in range(n):
            began = clock()
            f.call_sync(i)
            out.append(clock() - began)
        return out, "2 committed INSERTs per call, WAL, synchronous=FULL"
    finally:
        f.conn.close()


def gated(tmp: Path, n: int) -> tuple[list[float], str]:
    from agentstop import GrantSpec, Journal, Supervisor

    from .common import Noop

    async def run() -> list[float]:
        async with Journal.open(tmp / "gated.db") as journal:
            sup = Supervisor(journal, [Noop()], GrantSpec())
            await sup.start()
            for i in range(WARMUP):
                await sup.call("noop", {"n": -1 - i})
            out = []
            for i in range(n):
                began = clock()
                await sup.call("noop", {"n": i})
                out.append(clock() - began)
            await sup.close()
            return out

    return anyio.run(run), "Supervisor.call, gated, durable"


def _langgraph(tmp: Path, loop_steps: int | None) -> Any:
    from typing import TypedDict

    from langgraph.checkpoint.sqlite import SqliteSaver  # type: ignore[import-not-found,unused-ignore]
    from langgraph.graph import END, START, StateGraph  # type: ignore[import-not-found,unused-ignore]

    class State(TypedDict):
        n: int

    starts: list[float] = []

    def node(state: State) -> State:
        starts.append(clock())
        return {"n": state["n"] + 1}

    graph = StateGraph(State)
    graph.add_node("tool", node)
    graph.add_edge(START, "tool")
    if loop_steps is None:
        graph.add_edge("tool", END)
    else:
        graph.add_conditional_edges("tool", lambda s: END if s["n"] >= loop_steps else "tool")
    conn = sqlite3.connect(tmp / "langgraph.sqlite", check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    commits = [0]

    def traced(sql: str) -> None:
        if sql.lstrip()[:6].upper() == "COMMIT":
            commits[0] += 1

    conn.set_trace_callback(traced)
    return (
        graph.compile(checkpointer=saver),
        starts,
        conn,
        commits,
        f"SqliteSaver, journal_mode={mode}, synchronous={sync}",
    )


def langgraph_step(tmp: Path, n: int) -> tuple[list[float], str]:
    app, starts, conn, commits, note = _langgraph(tmp, WARMUP + n)
    try:
        app.invoke(
            {"n": 0}, {"configurable": {"thread_id": "run"}, "recursion_limit": WARMUP + n + 10}, durability="sync"
        )
        end = clock()
        per = commits[0] / (WARMUP + n)
        return (
            _gaps(starts, end)[WARMUP:],
            f"one invoke looping {n} super-steps, durability=sync; {note}; {per:.1f} commits per super-step",
        )
    finally:
        conn.close()


def langgraph_invoke(tmp: Path, n: int) -> tuple[list[float], str]:
    app, _, conn, commits, note = _langgraph(tmp, None)
    try:
        for i in range(WARMUP):
            app.invoke({"n": i}, {"configurable": {"thread_id": f"w{i}"}}, durability="sync")
        out = []
        commits[0] = 0
        for i in range(n):
            began = clock()
            app.invoke({"n": i}, {"configurable": {"thread_id": f"t{i}"}}, durability="sync")
            out.append(clock() - began)
        return out, (
            f"one invoke per call on a new thread, durability=sync; {note}; {commits[0] / n:.1f} commits per invoke"
        )
    finally:
        conn.close()


def _dbos(tmp: Path) -> Any:
    from dbos import DBOS  # type: ignore[import-not-found,unused-ignore]

    DBOS(config={"name": "agentstop-bench", "system_database_url": f"sqlite:///{tmp / 'dbos.sqlite'}"})
    return DBOS


def dbos_step(tmp: Path, n: int) -> tuple[list[float], str]:
    dbos = _dbos(tmp)
    starts: list[float] = []

    def noop_step(i: int) -> dict[str, Any]:
        starts.append(clock())
        return {}

    step: Any = dbos.step()(noop_step)

    def many_steps(count: int) -> float:
        for i in range(count):
            step(i)
        return clock()

    workflow: Any = dbos.workflow()(many_steps)
    dbos.launch()
    try:
        end = workflow(WARMUP + n)
        return _gaps(starts, end)[WARMUP:], f"one workflow running {n} steps; SQLite system database"
    finally:
        dbos.destroy(destroy_registry=True)


def dbos_workflow(tmp: Path, n: int) -> tuple[list[float], str]:
    dbos = _dbos(tmp)

    def noop_step(i: int) -> dict[str, Any]:
        return {}

    step: Any = dbos.step()(noop_step)

    def one_step(i: int) -> Any:
        return step(i)

    workflow: Any = dbos.workflow()(one_step)
    dbos.launch()
    try:
        for i in range(WARMUP):
            workflow(i)
        out = []
        for i in range(n):
            began = clock()
            workflow(i)
            out.append(clock() - began)
        return out, "one whole one-step workflow per call; SQLite system database"
    finally:
        dbos.destroy(destroy_registry=True)


KINDS = {
    "floor": floor,
    "gated": gated,
    "langgraph_step": langgraph_step,
    "langgraph_invoke": langgraph_invoke,
    "dbos_step": dbos_step,
    "dbos_workflow": dbos_workflow,
}


def main(argv: list[str]) -> None:
    kind, tmp, n = argv[0], Path(argv[1]), int(argv[2])
    tmp.mkdir(parents=True, exist_ok=True)
    samples, note = KINDS[kind](tmp, n)
    print(json.dumps({"samples": samples, "note": note}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
