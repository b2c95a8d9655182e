"""The resident hook endpoint: a small HTTP server on 127.0.0.1 that answers a coding CLI's tool hooks.

`agentstop claude` owns it for the CLI it runs: a random port, and a per-session secret the CLI sends in a
header (`X-Agentstop-Secret`, interpolated from the CLI's environment, never written to a file), so no other
local process can answer for the session or feed it outcomes. A request without the secret is refused (403),
and since every hook agentstop installs sets `"onFailure": "block"`, a refused, failed or unreachable hook
blocks the tool instead of letting it run.

One endpoint takes every event; the JSON body says which (`hook_event_name`):

- `PreToolUse`: the fence (`HookGate.before`). Passed: an empty answer (no decision: the CLI's own permission
  rules and prompts still apply), or `"ask"` for a tool the policy hands to the CLI's prompt. Refused:
  `permissionDecision: "deny"` with the refusal the model reads.
- `PostToolUse` / `PostToolUseFailure`: the outcome (`HookGate.after`).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
from anyio.abc import SocketStream

from agentstop.supervisor import HookGate

__all__ = ["SECRET_ENV", "SECRET_HEADER", "HookServer", "answer_hook"]

logger = logging.getLogger("agentstop")

SECRET_HEADER = "X-Agentstop-Secret"
SECRET_ENV = "AGENTSTOP_HOOK_SECRET"
_MAX_BODY = 8 * 1024 * 1024


async def answer_hook(
    gate: HookGate, payload: dict[str, Any], asks: Callable[[str], bool] = lambda t: False, deny_only: bool = False
) -> dict[str, Any]:
    """The JSON a hook answers for one event (shared by the HTTP endpoint and the command hook).

    Args:
        gate: the session's gate.
        payload: the hook's input (the CLI's JSON).
        asks: which tools the policy hands back to the CLI's own prompt ("ask").
        deny_only: the CLI accepts no "ask" (Codex): a passed call is answered with no decision.
    """
    event = payload.get("hook_event_name")
    key = str(payload.get("tool_use_id") or payload.get("call_id") or "")
    tool = str(payload.get("tool_name") or "")
    if event == "PreToolUse":
        if not key or not tool:
            return _deny("refused: the hook's input names no tool_use_id or tool_name; nothing was run")
        verdict = await gate.before(tool, payload.get("tool_input") or {}, key)
        if not verdict.allowed:
            return _deny(verdict.reason)
        if asks(tool) and not deny_only:
            return {
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "ask",
                    "permissionDecisionReason": f"agentstop: {tool} needs your approval ({verdict.call_id})",
                }
            }
        return {}
    if event == "PostToolUse" and key:
        await gate.after(key, payload.get("tool_response"))
    elif event == "PostToolUseFailure" and key:
        await gate.after(key, error=str(payload.get("error") or "the tool failed"))
    return {}


def _deny(reason: str) -> dict[str, Any]:
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }


class HookServer:
    """Serves the hooks of one session on 127.0.0.1 (see the module docstring).

    Use `async with HookServer(gate, secret) as server:` inside a task group's
    lifetime; `server.url` is what the CLI's settings name.
    """

    def __init__(
        self, gate: HookGate, secret: str, asks: Callable[[str], bool] = lambda t: False, deny_only: bool = False
    ) -> None:
        self.gate = gate
        self.deny_only = deny_only
        self.secret = secret
        self.asks = asks
        self.url = ""
        self.transcripts: set[str] = set()
        """The CLI's transcript files, as its hooks named them (read after it exits)."""
        self._tg: Any = None
        self._listener: Any = None

    async def __aenter__(self) -> HookServer:
        self._listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = self._listener.extra(anyio.abc.SocketAttribute.local_port)
        self.url = f"http://127.0.0.1:{port}/hook"
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._listener.serve, self._serve)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._tg.cancel_scope.cancel()
        await self._tg.__aexit__(None, None, None)
        await self._listener.aclose()

    async def _serve(self, stream: SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(60):  # a client that never sends its request is dropped
                    status, body = await self._handle(stream)
            except (anyio.EndOfStream, anyio.BrokenResourceError, TimeoutError, ValueError):
                return
            data = json.dumps(body).encode()
            head = (
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Forbidden' if status == 403 else 'Error'}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
            )
            try:
                await stream.send(head.encode() + data)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the CLI gave up waiting: its onFailure "block" kept the tool from running

    async def _handle(self, stream: SocketStream) -> tuple[int, dict[str, Any]]:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = await stream.receive()
            buffer += chunk
            if len(buffer) > 64 * 1024 and b"\r\n\r\n" not in buffer:
                return 400, {"error": "headers too large"}
        head, _, body = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length") or 0)
        if length > _MAX_BODY:
            return 413, {"error": "body too large"}
        while len(body) < length:
            body += await stream.receive()
        given = headers.get(SECRET_HEADER.lower(), "")
        if not lines[0].startswith("POST ") or not hmac.compare_digest(given.encode(), self.secret.encode()):
            return 403, {"error": "agentstop: this hook endpoint answers only the CLI it was started for"}
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "the body is not JSON"}
        if not isinstance(payload, dict):
            return 400, {"error": "the body is not a JSON object"}
        if isinstance(payload.get("transcript_path"), str):
            self.transcripts.add(payload["transcript_path"])
        try:
            return 200, await answer_hook(self.gate, payload, self.asks, self.deny_only)
        except Exception as exc:  # a bug or a journal failure: the hook fails, and "block" keeps the tool from running
            logger.exception("the hook endpoint failed on a %s", payload.get("hook_event_name"))
            return 500, {"error": f"agentstop could not journal the call ({type(exc).__name__}); not run"}
