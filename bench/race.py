"""4. Fence race: callers running gated calls flat out while a revoke lands at a random moment.

Each round opens a fresh journal, starts the callers, and revokes after a random
5-30 ms: alternately from this process (`Journal.revoke`, through the writer,
ahead of the units queued there) and from a plain connection as another process would (`agentstop.revoke`
in a worker thread, competing for SQLite's write lock). A violation is a
`committing` event whose seq is greater than the `revoked` event's seq: a call
that passed the fence after the revoke committed. There must be none. A "late
commit" is a call that started after the revoke had returned and still
committed; there must be none either. Each round also times the revoke itself
(asked to returned): from another connection it must win SQLite's write lock
from a writer that keeps taking it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentstop import GrantSpec, Journal, Rejected, Supervisor, revoke

from .common import Config, Dist, Noop, Spread, clock

__all__ = ["RaceResult", "run_race"]


@dataclass
class RaceRound:
    remote: bool
    committed: int
    rejected: int
    calls_per_second: float
    violations: int
    late_commits: int
    revoke_seconds: float
    """From asking to revoke until the revoke returned (committed)."""


@dataclass
class RaceResult:
    rounds: list[RaceRound] = field(default_factory=list)

    def rate(self, remote: bool) -> Spread:
        return Spread.of([r.calls_per_second for r in self.rounds if r.remote is remote])

    def revoke_time(self, remote: bool) -> Dist:
        return Dist.of([r.revoke_seconds for r in self.rounds if r.remote is remote])

    @property
    def violations(self) -> int:
        return sum(r.violations for r in self.rounds)

    @property
    def late_commits(self) -> int:
        return sum(r.late_commits for r in self.rounds)


async def race_round(path: Path, callers: int, revoke_after: float, remote: bool) -> RaceRound:
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [Noop()], GrantSpec())
        await sup.start()
        committed = rejected = late = 0
        revoke_returned: float | None = None
        revoke_began = 0.0

        async def caller() -> None:
            nonlocal committed, rejected, late
            while True:
                started = clock()
                try:
                    await sup.call("noop", {"n": 0})
                except Rejected:
                    rejected += 1
                    return
                committed += 1
                if revoke_returned is not None and started > revoke_returned:
                    late += 1

        async def revoker() -> None:
            nonlocal revoke_returned, revoke_began
            await anyio.sleep(revoke_after)
            revoke_began = clock()
            if remote:
                await anyio.to_thread.run_sync(lambda: revoke(journal.path, sup.session_id, by="bench"))
            else:
                await journal.revoke(sup.session_id, by="bench")
            revoke_returned = clock()

        began = clock()
        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(caller)
            tg.start_soon(revoker)
        assert revoke_returned is not None
        events = await journal.events(sup.session_id)
        revoked_seq = next(e.seq for e in events if e.kind == "revoked")
        violations = sum(1 for e in events if e.kind == "committing" and e.seq > revoked_seq)
        await sup.close()
        return RaceRound(
            remote,
            committed,
            rejected,
            committed / (revoke_returned - began),
            violations,
            late,
            revoke_returned - revoke_began,
        )


async def run_race(cfg: Config, tmp: Path, log: Any) -> RaceResult:
    rng = random.Random(9)
    res = RaceResult()
    for r in range(cfg.race_rounds):
        res.rounds.append(
            await race_round(tmp / f"race-{r}.db", cfg.race_callers, rng.uniform(0.005, 0.030), remote=r % 2 == 1)
        )
    log(
        f"  {len(res.rounds)} rounds, {sum(r.committed for r in res.rounds)} committed, "
        f"{res.violations} violations, {res.late_commits} late commits"
    )
    return res
