"""Issue 20, finding 2: `agentstop stop` wins every race with `agentstop run --resume` that is starting.

A stopped session is resumed as a real process (`agentstop run --resume
latest`); `agentstop stop --session latest` is issued at an offset after that
process started (0 to 1.5 s: while it imports, reads the journal, reopens the
session, or already commits). Whatever the interleaving, no commit of the
session may begin after `stop` returned: the resumed epoch either ends
before it began ("stopped before it began by agentstop stop"), its grant born
revoked, or its grant is revoked by the stop. Before the fix, a stop that met
the session still ended answered "already ended (stopped); nothing to
revoke" and the resumed epoch then committed every call.

The outcome is checked from the journal alone (each call's `committing` time
against the moment `stop` returned), so it does not depend on the offset: the
offset only chooses which interleaving is tried. Hypothesis picks offsets
(a few per backend in CI; `AGENTSTOP_DRILL_RACES=N` for more).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstop import GrantSpec, Journal
from agentstop.cli import main
from agentstop.journal import SessionStatus, request_stop
from tests.drills.kill_moments import drill_journal
from tests.drills.stats import record

ROOT = Path(__file__).resolve().parents[2]
RACES = int(os.environ.get("AGENTSTOP_DRILL_RACES", "3"))

TASK = """\
name: Five files
goal: Write five files, one after the other.
agent: {kind: scripted, tokens_per_second: 0}
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {tools: [write_file], scopes: ["files:*"], ttl: 10m}
steps:
""" + "".join(f"  - {{tool: write_file, args: {{name: f{i}, delay: 0.05}}}}\n" for i in range(5))


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


async def _story(target: str) -> tuple[list[float], list[str], list[tuple[float, float | None]]]:
    async with Journal.open(target, readonly=True) as journal:
        [session] = await journal.sessions()
        sid = session.session_id
        fences = [c.fence_at for c in await journal.calls(sid) if c.fence_at is not None]
        ends = [str(e.data.get("reason")) for e in await journal.events(sid) if e.kind == "session_ended"]
        grants = [(g.issued_at, g.revoked_at) for g in await journal.grants(sid)]
    return fences, ends, grants


async def _only_session(target: str) -> str:
    async with Journal.open(target, readonly=True) as journal:
        [session] = await journal.sessions()
        return session.session_id


def _race(target: str, tmp: Path, offset: float, *, cli: bool = True) -> str:
    """Stop a resume `offset` s after its process started; the interleaving that happened.

    With `cli=False` the stop is `agentstop.journal.request_stop`, the one transaction `agentstop
    stop` writes, called at once: the closest a stop can come after a resume's launch.
    """
    task = tmp / "five.yaml"
    task.write_text(TASK)
    code, _, err = _cli("run", str(task), "--headless", "--stop-after", "0", "--journal", target)
    assert code == 1, err  # stopped at once: nothing (or little) done, the rest to resume
    session_id = anyio.run(_only_session, target)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    resume = subprocess.Popen(
        [sys.executable, "-m", "agentstop", "run", str(task), "--headless", "--resume", "latest", "--journal", target],
        env=env,
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(offset)  # chooses the interleaving only; the assertion holds for every one
        if cli:
            code, _, stop_err = _cli("stop", "--journal", target, "--session", "latest", "--reason", "race")
            assert code == 0, stop_err
        else:
            revoked, status = request_stop(target, session_id, by="agentstop stop", reason="race")
            stop_err = f"revoked grant {revoked}" if revoked else f"already ended ({status})"
        stopped = time.time()
        _, resume_err = resume.communicate(timeout=60)
    finally:
        if resume.poll() is None:
            resume.kill()
            resume.communicate()
    fences, ends, grants = anyio.run(_story, target)
    late = [at for at in fences if at > stopped]
    assert late == [], (
        f"{len(late)} commit(s) began after stop returned ({offset:.2f} s after the resume "
        f"started):\nstop: {stop_err}\nresume: {resume_err}"
    )
    issued_at, revoked_at = grants[-1]
    if ends and ends[-1].startswith("stopped before it began by agentstop stop"):
        assert revoked_at == issued_at, "an epoch stopped before it began has its grant born revoked"
        return "stopped before it began"
    if "revoked grant" in stop_err:
        assert revoked_at is not None and revoked_at <= stopped
        return "revoked while it ran"
    assert "already ended (completed)" in stop_err, f"{stop_err}\nresume: {resume_err}\nends: {ends}"  # finished first
    return "had completed"


@pytest.mark.both_backends
@pytest.mark.timeout(120)
@pytest.mark.parametrize("cli", [True, False], ids=["agentstop-stop", "request_stop-at-once"])
def test_stop_right_after_a_resume_started_binds_it(
    journal_target: str, tmp_path: Path, cli: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported case: stop issued while the resume's process is still starting (a few ms after its
    launch, for `request_stop`: a launch time computed late would let the epoch run)."""
    monkeypatch.setenv("FIXTURE_FILES_DIR", str(tmp_path))
    how = _race(journal_target, tmp_path, 0.0, cli=cli)
    assert how == "stopped before it began"
    record("race: stop vs a starting resume", "stop while `run --resume` starts", 1)


@pytest.mark.both_backends
@pytest.mark.timeout(120)
def test_no_commit_begins_after_stop_returns_whatever_the_offset(
    journal_backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    @settings(
        max_examples=RACES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(offset=st.floats(min_value=0.0, max_value=1.5))
    def race(offset: float) -> None:
        tmp = tmp_path_factory.mktemp("race")
        monkeypatch.setenv("FIXTURE_FILES_DIR", str(tmp))
        with drill_journal(journal_backend, request, tmp) as target:
            seen.append(_race(target, tmp, offset))

    race()
    counts = ", ".join(f"{n} {how}" for how, n in sorted(Counter(seen).items()))
    record(
        "race: stop vs a starting resume",
        f"stop 0-1.5 s after `run --resume` started ({journal_backend}): {counts}",
        len(seen),
        "0 commits after stop returned",
    )


@pytest.mark.anyio
@pytest.mark.both_backends
async def test_the_journal_orders_a_stop_against_an_epoch_that_is_starting(journal_target: str) -> None:
    """The transactions themselves, without processes: each order of stop and start, on both backends."""

    def stop() -> tuple[list[int], str]:
        return request_stop(journal_target, "s", by="agentstop stop", reason="race")

    async with Journal.open(journal_target) as journal:
        await journal.create_session("s", task_name="t")
        # A stop between the session's creation and its first grant: the grant is born revoked.
        assert await anyio.to_thread.run_sync(stop) == ([], "running")
        first = await journal.issue_grant("s", GrantSpec())
        [grant] = await journal.grants("s")
        assert (grant.grant_id, grant.revoked_by) == (first, "agentstop stop")
        await journal.end_session("s", SessionStatus.STOPPED)

        # A resume asked for before a stop that met the session ended: it ends before it begins.
        asked = time.time()
        assert await anyio.to_thread.run_sync(stop) == ([], "stopped")
        bound = await journal.resume_session("s", GrantSpec(), by="resume", asked_at=asked)
        assert bound.stopped_before_start == "stopped before it began by agentstop stop: race"
        session = await journal.session("s")
        assert (session.status, session.stopped_by) == ("stopped", "agentstop stop")
        assert (await journal.grants("s"))[-1].revoked_at is not None

        # A resume asked for after the stop runs, and a stop then revokes its grant.
        free = await journal.resume_session("s", GrantSpec(), by="resume", asked_at=time.time())
        assert (free.stopped_before_start, free.epoch) == (None, 3)
        assert (await journal.session("s")).status == "running"
        assert await anyio.to_thread.run_sync(stop) == ([free.grant_id], "running")
