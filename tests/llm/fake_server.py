"""A scripted Chat Completions server on 127.0.0.1, speaking the real streaming protocol.

Each POST to `/v1/chat/completions` takes the next scripted turn: either a
`Stream` of chunk dicts, sent as server-sent events (`data: {...}`, then
`data: [DONE]`) over HTTP/1.1 chunked encoding like Ollama and vLLM do, or a
`Fail` status with an OpenAI-style error body. A request that does not ask to
stream gets the same turn as one `chat.completion` (`completion`). Every request is recorded
(headers and JSON body), so tests can read the conversation the planner sent
back, and whether the client hung up mid-stream.

Chunk builders (`text`, `call_start`, `call_args`, `whole_call`, `finish`)
write the dicts the way OpenAI and Ollama do.

With `strict_transcript=True` the server checks the conversation as the real
API does before taking a turn: an assistant message's `tool_calls` must each be
answered by a `tool` message right after it, and a `tool` message must answer a
call of the assistant message just before. A transcript that breaks this gets
the API's 400 (`invalid_request_error`) and takes no turn (see `transcript_error`).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "Fail",
    "FakeChatServer",
    "Received",
    "Stream",
    "call_args",
    "call_start",
    "completion",
    "finish",
    "free_port",
    "text",
    "transcript_error",
    "whole_call",
]

Chunk = dict[str, Any]


# -- chunks ---------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> Chunk:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def text(*pieces: str) -> list[Chunk]:
    """Content tokens, one chunk each (the first also carries the role, as OpenAI does)."""
    out = []
    for i, piece in enumerate(pieces):
        delta: dict[str, Any] = {"content": piece}
        if i == 0:
            delta["role"] = "assistant"
        out.append(_chunk(delta))
    return out


def call_start(index: int, call_id: str, name: str, arguments: str = "") -> Chunk:
    """OpenAI style: the first fragment of a call carries its index, id and name."""
    return _chunk(
        {
            "tool_calls": [
                {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            ]
        }
    )


def call_args(index: int, *pieces: str) -> list[Chunk]:
    """OpenAI style: later fragments carry only the index and a piece of the arguments."""
    return [_chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}) for piece in pieces]


def whole_call(call_id: str, name: str, arguments: dict[str, Any] | str, index: int = 0) -> Chunk:
    """Ollama style: a whole call in one fragment (Ollama puts every call of a turn at index 0)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return _chunk(
        {
            "tool_calls": [
                {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            ]
        }
    )


def finish(reason: str = "stop") -> Chunk:
    """The last chunk of a turn: an empty delta with the finish reason."""
    return _chunk({}, reason)


# -- turns ----------------------------------------------------------------------------


@dataclass
class Stream:
    """A streamed answer.

    Attributes:
        chunks: the chunk dicts, in order.
        delay: seconds between two chunks.
        stall_after: send this many chunks, then hang (no [DONE]) until the client hangs up.
    """

    chunks: list[Chunk]
    delay: float = 0.0
    stall_after: int | None = None


@dataclass
class Fail:
    """An HTTP error instead of an answer."""

    status: int = 500
    message: str = "the model crashed"
    type: str = "server_error"


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    stalled: threading.Event = field(default_factory=threading.Event)
    hung_up: threading.Event = field(default_factory=threading.Event)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation the client sent."""
        return list(self.body.get("messages", []))


def transcript_error(messages: list[dict[str, Any]]) -> str | None:
    """What the real Chat Completions API says of an invalid tool-call transcript, or None if it is valid.

    Every `tool_calls` id of an assistant message needs a `tool` message answering
    it among the messages right after it; a `tool` message must answer an id of
    the assistant message before that run of tool messages.
    """
    pending: set[str] = set()
    offered: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in offered:
                return (
                    f"Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    f"with 'tool_calls'. (messages[{i}], tool_call_id {call_id!r})"
                )
            pending.discard(call_id)
            continue
        if pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                f"{', '.join(sorted(pending))}"
            )
        offered = set()
        if role == "assistant" and message.get("tool_calls"):
            offered = {call["id"] for call in message["tool_calls"]}
            pending = set(offered)
    if pending:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: "
            f"{', '.join(sorted(pending))}"
        )
    return None


class FakeChatServer:
    """A ThreadingHTTPServer on 127.0.0.1 that plays `turns`, one per request.

    Use as a context manager; `base_url` is what the planner's `base_url` should be.
    With `strict_transcript=True`, a request whose conversation the real API would
    refuse gets its 400 and takes no turn (`rejected` lists those requests).
    """

    def __init__(self, turns: list[Stream | Fail] | None = None, *, strict_transcript: bool = False) -> None:
        self.turns: list[Stream | Fail] = list(turns or [])
        self.strict_transcript = strict_transcript
        self.rejected: list[Received] = []
        self.received: list[Received] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def add(self, *turns: Stream | Fail) -> None:
        """Script more turns."""
        with self._lock:
            self.turns.extend(turns)

    def _next(self, received: Received) -> Stream | Fail:
        with self._lock:
            self.received.append(received)
            if self.strict_transcript:
                invalid = transcript_error(received.messages)
                if invalid is not None:
                    self.rejected.append(received)
                    return Fail(400, invalid, "invalid_request_error")
            if not self.turns:
                return Fail(500, "the fake server has no scripted turn left")
            return self.turns.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read `received` instead

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                turn = server._next(received)
                try:
                    if isinstance(turn, Fail):
                        self._fail(turn)
                    elif body.get("stream") is False or "stream" not in body:
                        self._whole(turn)
                    else:
                        self._stream(turn, received)
                except (BrokenPipeError, ConnectionResetError):
                    received.hung_up.set()
                    self.close_connection = True
                except BaseException as exc:  # pragma: no cover - a bug in the fake server itself
                    server.errors.append(exc)
                    raise

            def _fail(self, turn: Fail) -> None:
                payload = json.dumps({"error": {"message": turn.message, "type": turn.type}}).encode()
                self.send_response(turn.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _whole(self, turn: Stream) -> None:
                """A request that did not ask to stream: the turn's chunks as one `chat.completion`."""
                payload = json.dumps(completion(turn.chunks)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _send(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _stream(self, turn: Stream, received: Received) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                for i, chunk in enumerate(turn.chunks):
                    if turn.stall_after is not None and i == turn.stall_after:
                        self._stall(received)
                        return
                    if i and turn.delay:
                        time.sleep(turn.delay)
                    self._send(f"data: {json.dumps(chunk)}\n\n".encode())
                if turn.stall_after is not None:
                    self._stall(received)
                    return
                self._send(b"data: [DONE]\n\n")
                self._send(b"")  # the last chunk of the chunked body

            def _stall(self, received: Received) -> None:
                """Send nothing more; return when the client hangs up (or the server closes)."""
                received.stalled.set()
                sock: socket.socket = self.connection
                while not server._closing.is_set():
                    readable, _, _ = select.select([sock], [], [], 0.02)
                    if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                        received.hung_up.set()
                        break
                self.close_connection = True

        return Handler


def completion(chunks: list[Chunk]) -> dict[str, Any]:
    """The `chat.completion` a non-streaming request gets: the chunks' content and tool calls put together."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish_reason = "stop"
    for chunk in chunks:
        for choice in chunk.get("choices", []):
            delta = choice.get("delta", {})
            if delta.get("content"):
                content.append(delta["content"])
            for fragment in delta.get("tool_calls") or []:
                call = calls.setdefault(
                    fragment.get("index", 0), {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] = fragment.get("id") or call["id"]
                function = fragment.get("function") or {}
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def free_port() -> int:
    """A port nothing listens on (for "connection refused")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
