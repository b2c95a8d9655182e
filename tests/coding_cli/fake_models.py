"""Loopback fakes of the model APIs the coding CLIs call: Anthropic's Messages API and OpenAI's Responses API.

Each serves a script, turn by turn: a turn is the list of tool calls the model makes in its reply (or a
text answer that ends the conversation), and it is served to the first request that has seen every tool
result of the turn before it. Like the real APIs they refuse what is malformed (a tool_result for a
tool_use id the model never issued, a turn answered twice), and they record every request, so a test
reads what the model was told (`results()`: each tool call's result text, by id).

Requests that are not the conversation (Claude Code's title or topic side requests, which carry no tools)
get a short text answer and are recorded apart.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ToolUse:
    """One tool call the model makes: the CLI's tool name, its input, and the model's id for it."""

    id: str
    name: str
    input: dict[str, Any] | str
    """JSON arguments; a string is a freeform tool's input (Codex's `apply_patch`: a `custom_tool_call`)."""


Turn = list[ToolUse] | str
"""The model's reply: tool calls (answered by the CLI in the next request), or a final text."""


@dataclass
class Script:
    turns: list[Turn]
    requests: list[dict[str, Any]] = field(default_factory=list)
    side_requests: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    served: int = 0
    turn_served: threading.Condition = field(default_factory=threading.Condition)
    hold: dict[int, threading.Event] = field(default_factory=dict)
    """Turns (by index) whose reply waits until the test sets the event: the race is the test's to order."""
    asked: set[int] = field(default_factory=set)

    def wait_asked(self, index: int, timeout: float = 60) -> bool:
        """Wait until the CLI asked for turn `index` (every tool result of the turn before it is in)."""
        with self.turn_served:
            return self.turn_served.wait_for(lambda: index in self.asked, timeout)

    def held(self, index: int) -> None:
        """Note that turn `index` was asked for, then wait while the test holds it."""
        with self.turn_served:
            self.asked.add(index)
            self.turn_served.notify_all()
        event = self.hold.get(index)
        if event is not None:
            event.wait(60)

    def issued_ids(self, upto: int) -> set[str]:
        return {u.id for t in self.turns[:upto] if not isinstance(t, str) for u in t}

    def wait_served(self, n: int, timeout: float = 60) -> bool:
        """Wait until `n` turns were served."""
        with self.turn_served:
            return self.turn_served.wait_for(lambda: self.served >= n, timeout)

    def mark_served(self) -> None:
        with self.turn_served:
            self.served += 1
            self.turn_served.notify_all()


class FakeModelServer:
    """A threaded HTTP server on 127.0.0.1 serving a `Script` as the Messages API or the Responses API."""

    def __init__(
        self, turns: list[Turn], kind: str = "anthropic", hold: dict[int, threading.Event] | None = None
    ) -> None:
        self.script = Script(list(turns), hold=dict(hold or {}))
        self.kind = kind
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                body = b'{"data": [], "models": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    request = json.loads(raw or b"{}")
                except ValueError:
                    request = {}
                if owner.kind == "anthropic" and self.path.split("?")[0].endswith("/v1/messages"):
                    owner._anthropic(self, request)
                elif owner.kind == "openai" and self.path.split("?")[0].endswith("/responses"):
                    owner._openai(self, request)
                else:
                    self._json(404, {"error": {"type": "not_found", "message": self.path}})

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.Handler = Handler
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what the model was told -----------------------------------------------------------------

    def results(self) -> dict[str, str]:
        """Every tool result the CLI sent, by the model's tool call id (the last one seen for each)."""
        found: dict[str, str] = {}
        for request in self.script.requests:
            if self.kind == "anthropic":
                for message in request.get("messages", []):
                    content = message.get("content")
                    if not isinstance(content, list):
                        continue
                    for block in content:
                        if isinstance(block, dict) and block.get("type") == "tool_result":
                            found[block["tool_use_id"]] = _text(block.get("content"))
            else:
                for item in request.get("input", []) if isinstance(request.get("input"), list) else []:
                    if isinstance(item, dict) and item.get("type") in (
                        "function_call_output",
                        "custom_tool_call_output",
                    ):
                        found[item["call_id"]] = _text(item.get("output"))
        return found

    # -- Anthropic Messages API ------------------------------------------------------------------

    def _turn_index(self, answered: set[str]) -> int:
        """Which turn a request is asking for: the first one whose predecessors' calls are all answered."""
        index = 0
        for turn in self.script.turns:
            if isinstance(turn, str):
                break
            if all(u.id in answered for u in turn):
                index += 1
            else:
                break
        return index

    def _anthropic(self, handler: Any, request: dict[str, Any]) -> None:
        script = self.script
        if not request.get("tools"):
            with script.lock:
                script.side_requests.append(request)
            self._anthropic_reply(handler, request, [{"type": "text", "text": "ok"}], "end_turn")
            return
        answered: set[str] = set()
        for message in request.get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        answered.add(block.get("tool_use_id", ""))
        with script.lock:
            script.requests.append(request)
            index = self._turn_index(answered)
            unknown = answered - script.issued_ids(index)
            if unknown:
                problem = f"tool_result for unknown tool_use id(s) {sorted(unknown)}"
                script.refused.append(problem)
                handler._json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": problem}})
                return
        script.held(index)
        turn: Turn = script.turns[index] if index < len(script.turns) else "done"
        if isinstance(turn, str):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": turn}]
            stop = "end_turn"
        else:
            blocks = [{"type": "tool_use", "id": u.id, "name": u.name, "input": u.input} for u in turn]
            stop = "tool_use"
        self._anthropic_reply(handler, request, blocks, stop)
        script.mark_served()

    def _anthropic_reply(self, handler: Any, request: dict[str, Any], blocks: list[dict[str, Any]], stop: str) -> None:
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": request.get("model", "fake"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
        if not request.get("stream"):
            handler._json(200, {**message, "content": blocks, "stop_reason": stop})
            return
        events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": message})]
        for i, block in enumerate(blocks):
            if block["type"] == "text":
                events += [
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
                    ),
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "text_delta", "text": block["text"]},
                        },
                    ),
                ]
            else:
                events += [
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}},
                    ),
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                        },
                    ),
                ]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        events += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 1},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    # -- OpenAI Responses API --------------------------------------------------------------------

    def _openai(self, handler: Any, request: dict[str, Any]) -> None:
        script = self.script
        given = request.get("input")
        items: list[Any] = given if isinstance(given, list) else []
        answered = {
            i.get("call_id", "")
            for i in items
            if isinstance(i, dict) and i.get("type") in ("function_call_output", "custom_tool_call_output")
        }
        if not request.get("tools"):
            with script.lock:
                script.side_requests.append(request)
            self._openai_reply(handler, [_openai_message("ok")])
            return
        with script.lock:
            script.requests.append(request)
            index = self._turn_index(answered)
            unknown = answered - script.issued_ids(index)
            if unknown:
                problem = f"No tool call found for function call output with call_id {sorted(unknown)}"
                script.refused.append(problem)
                handler._json(400, {"error": {"type": "invalid_request_error", "message": problem}})
                return
        script.held(index)
        turn: Turn = script.turns[index] if index < len(script.turns) else "done"
        output = [_openai_message(turn)] if isinstance(turn, str) else [_openai_call(u) for u in turn]
        self._openai_reply(handler, output)
        script.mark_served()

    def _openai_reply(self, handler: Any, output: list[dict[str, Any]]) -> None:
        response = {
            "id": "resp_fake",
            "object": "response",
            "status": "completed",
            "model": "fake",
            "output": [],
            "usage": {
                "input_tokens": 1,
                "output_tokens": 1,
                "total_tokens": 2,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
        events: list[dict[str, Any]] = [{"type": "response.created", "response": response}]
        for i, item in enumerate(output):
            events.append({"type": "response.output_item.added", "output_index": i, "item": item})
            events.append({"type": "response.output_item.done", "output_index": i, "item": item})
        events.append({"type": "response.completed", "response": {**response, "output": output}})
        body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def _openai_message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_fake",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _openai_call(use: ToolUse) -> dict[str, Any]:
    if isinstance(use.input, str):
        return {
            "type": "custom_tool_call",
            "id": f"ctc_{use.id}",
            "call_id": use.id,
            "name": use.name,
            "input": use.input,
            "status": "completed",
        }
    return {
        "type": "function_call",
        "id": f"fc_{use.id}",
        "call_id": use.id,
        "name": use.name,
        "arguments": json.dumps(use.input),
        "status": "completed",
    }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text(c.get("text", c)) if isinstance(c, dict) else str(c) for c in content)
    if isinstance(content, dict):
        return str(content.get("text", json.dumps(content)))
    return "" if content is None else str(content)
