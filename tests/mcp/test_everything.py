"""The reference "everything" server (npm) behind `agentstop mcp-proxy`: Stop mid-way through a long operation.

Its `trigger-long-running-operation` waits `duration` seconds in `steps` steps,
sending `notifications/progress` after each. The server gives no trace of a
cancel of its own: on `notifications/cancelled` its SDK aborts the request and
drops the response, while the tool's loop goes on sending progress. So the
test puts a transparent relay (`servers/wire_tap.py`) between the proxy and
the real server and reads what crossed the wire: the cancel the proxy's SDK
sent, the progress the server kept sending, and the answer it never sent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

import agentstop
from agentstop import Journal

from .conftest import EVERYTHING_JS, SERVERS
from .proxy_host import latest, proxy_task, report, states, stdio_proxy, text_of, wait_for

pytestmark = pytest.mark.anyio

LONG = "trigger-long-running-operation"
OVERLAY = f"""
everything:
  {LONG}: {{on_stop: try_cancel, undo_hint: "nothing to undo: it only waits and reports progress"}}
"""
STEPS = 6  # one second each: Stop comes right after the second, the cancel after the 1.5 s grace


@pytest.fixture
def everything_js(memory_js: Path) -> Path:
    """The reference "everything" server, installed with the memory server by `npm ci` from the lock file."""
    return EVERYTHING_JS  # memory_js installed every locked server


class Wire:
    """The relay's log: every JSON-RPC message between the proxy and the server, with when it passed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def call(self, duration: float) -> dict[str, Any] | None:
        """The proxy's tools/call of the long operation with this duration."""
        return next(
            (
                m["msg"]
                for m in self.messages()
                if m["dir"] == "to_server"
                and m["msg"].get("method") == "tools/call"
                and m["msg"]["params"]["name"] == LONG
                and m["msg"]["params"]["arguments"]["duration"] == duration
            ),
            None,
        )

    def progress(self, token: object) -> list[tuple[float, float]]:
        """(when, value) of each progress notification the server sent for `token`."""
        return [
            (m["at"], m["msg"]["params"]["progress"])
            for m in self.messages()
            if m["dir"] == "to_client"
            and m["msg"].get("method") == "notifications/progress"
            and m["msg"]["params"]["progressToken"] == token
        ]

    def cancels(self, request_id: object) -> list[float]:
        """When each notifications/cancelled for `request_id` went to the server."""
        return [
            m["at"]
            for m in self.messages()
            if m["dir"] == "to_server"
            and m["msg"].get("method") == "notifications/cancelled"
            and m["msg"]["params"]["requestId"] == request_id
        ]

    def answered(self, request_id: object) -> bool:
        """Whether the server sent a response (a result or an error) to `request_id`."""
        return any(
            m["dir"] == "to_client" and "method" not in m["msg"] and m["msg"].get("id") == request_id
            for m in self.messages()
        )


@pytest.mark.slow  # the long operation runs to its end (6 s) so the test can see it was never answered
async def test_stop_mid_operation_leaves_it_in_flight_cuts_its_progress_and_the_server_drops_it(
    tmp_path: Path, everything_js: Path
) -> None:
    wire = Wire(tmp_path / "wire.jsonl")
    tap = SERVERS / "wire_tap.py"
    servers = (
        f"everything: {{command: {json.dumps(sys.executable)}, "
        f"args: {json.dumps([str(tap), 'node', str(everything_js)])}, "
        f"env: {{WIRE_LOG: {json.dumps(str(wire.path))}}}}}"
    )
    task = proxy_task(tmp_path, servers, OVERLAY, grace="1.5s")
    journal = tmp_path / "proxy.db"
    short_seen: list[float] = []
    seen: list[float] = []

    async def on_short(progress: float, total: float | None, message: str | None) -> None:
        short_seen.append(progress)

    async def on_long(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    answers: list[types.CallToolResult] = []
    async with stdio_proxy(task) as host:
        # Untouched by Stop, the operation reports its progress and is answered.
        done = await host.call_tool(f"everything__{LONG}", {"duration": 0.4, "steps": 2}, progress_callback=on_short)
        assert text_of(done).startswith("Long running operation completed")
        await wait_for(lambda: short_seen == [1.0, 2.0], "the short operation's two steps")
        session, _ = await latest(journal)

        async def long_call() -> None:
            answers.append(
                await host.call_tool(
                    f"everything__{LONG}", {"duration": float(STEPS), "steps": STEPS}, progress_callback=on_long
                )
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(long_call)
            await wait_for(lambda: len(seen) >= 2, "two steps of the long operation")
            await anyio.to_thread.run_sync(lambda: agentstop.revoke(journal, session.session_id, by="the test"))
            await wait_for(lambda: answers, "the host's answer")
        call = wire.call(float(STEPS))
        assert call is not None
        token, request_id = call["params"]["_meta"]["progressToken"], call["id"]
        # The server runs its loop to the end whatever happens: wait for its last step, and a little more.
        await wait_for(lambda: any(v == STEPS for _, v in wire.progress(token)), "the operation's last step")
        await anyio.sleep(0.5)
        code, while_running, stderr = report(journal, session.session_id)  # the proxy is still running

    [answer] = answers
    assert answer.is_error and text_of(answer).startswith("stopped: outcome unknown (being checked)")

    # In flight in the report: it passed the fence before Stop, and nothing can say how it ended.
    assert code == 0, stderr
    assert states(while_running["in_flight"]) == [(f"everything.{LONG}", "unknown")]
    assert while_running["session"]["status"] == "stopped"
    assert [i["tool"] for i in while_running["done"]] == [f"everything.{LONG}"]  # the short one

    # No progress after Stop: the host heard exactly the steps the server reported before the revoke,
    # none of those it kept reporting through the grace and after the cancel.
    async with Journal.open(journal, readonly=True) as j:
        [grant] = await j.grants(session.session_id)
    assert grant.revoked_at is not None
    upstream = wire.progress(token)
    before = [v for at, v in upstream if at < grant.revoked_at]
    after = [v for at, v in upstream if at > grant.revoked_at]
    assert len(before) >= 2 and seen == before
    assert len(after) >= 3 and not set(after) & set(seen)

    # The upstream saw the cancel: after the grace, the proxy's SDK sent notifications/cancelled for
    # the very request (its _meta names the journal's call), and the server, which answered the short
    # call, never answered this one though its loop ran to the last step.
    _, calls = await latest(journal)
    assert call["params"]["_meta"]["agentstop/call-id"] == calls[-1].call_id
    [cancelled_at] = wire.cancels(request_id)
    assert cancelled_at - grant.revoked_at >= 1.0  # the grace came first
    assert max(at for at, _ in upstream) > cancelled_at  # it kept stepping ...
    assert not wire.answered(request_id)  # ... and dropped the answer
    short = wire.call(0.4)
    assert short is not None and wire.answered(short["id"])
