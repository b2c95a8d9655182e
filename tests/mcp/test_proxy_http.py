"""`agentstop mcp-proxy --http`: the same fence over streamable HTTP, stopped by `agentstop stop` elsewhere."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from .conftest import FixtureServer
from .proxy_host import agentstop, child_env, latest, proxy_task, stopped, text_of, wait_for
from .test_proxy import OVERLAY

pytestmark = pytest.mark.anyio


class HttpProxy:
    """`agentstop mcp-proxy --task TASK --http 127.0.0.1:0` as a process; its URL read from its stderr."""

    def __init__(self, task: Path) -> None:
        self.errlog = task.parent / "proxy.err"
        with self.errlog.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentstop", "mcp-proxy", "--task", str(task), "--http", "127.0.0.1:0"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=child_env(),
            )

    async def url(self) -> str:
        found: list[str] = []

        def announced() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the proxy exited ({self.proc.returncode}): {self.errlog.read_text()}")
            found.extend(re.findall(r"at (http://127\.0\.0\.1:\d+/mcp)", self.errlog.read_text()))
            return bool(found)

        await wait_for(announced, "the proxy to listen", within=30)
        return found[0]

    def finish(self) -> tuple[int, str]:
        """SIGTERM, as a service manager ends it: exit code and stdout (which must stay empty)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        stdout, _ = self.proc.communicate(timeout=30)
        return self.proc.returncode, stdout


@pytest.fixture
def http_proxy(tmp_path: Path, fixture_server: FixtureServer) -> Iterator[HttpProxy]:
    proxy = HttpProxy(proxy_task(tmp_path, fixture_server.entry(), OVERLAY % 0))
    try:
        yield proxy
    finally:
        if proxy.proc.poll() is None:
            proxy.proc.kill()
            proxy.proc.communicate()


@pytest.mark.slow
async def test_over_http_calls_go_through_and_agentstop_stop_refuses_the_next_one(
    tmp_path: Path, fixture_server: FixtureServer, http_proxy: HttpProxy
) -> None:
    journal = tmp_path / "proxy.db"
    async with Client(await http_proxy.url()) as host:
        tools = [t.name for t in (await host.list_tools()).tools]
        assert "fixture__write_note" in tools
        first = await host.call_tool("fixture__write_note", {"name": "a", "text": "over http"})
        session, _ = await latest(journal)
        stop = await anyio.to_thread.run_sync(
            lambda: agentstop("stop", "--journal", journal, "--session", session.session_id)
        )
        assert stop.returncode == 0, stop.stderr
        await wait_for(lambda: stopped(journal), "the session to stop")
        second = await host.call_tool("fixture__write_note", {"name": "b", "text": "too late"})
    code, stdout = http_proxy.finish()
    assert not first.is_error and first.structured_content == {"name": "a", "previous": None}
    assert second.is_error and text_of(second) == "refused: grant revoked by agentstop stop; nothing was sent"
    assert fixture_server.note("a") == "over http" and fixture_server.note("b") is None
    assert [c["args"]["name"] for c in fixture_server.calls()] == ["a"]
    session, calls = await latest(journal)
    assert [(c.tool, c.state) for c in calls] == [
        ("fixture.write_note", "committed"),
        ("fixture.write_note", "discarded"),
    ]
    assert code == 1 and stdout == ""  # stopped; nothing but the protocol would ever go to stdout
