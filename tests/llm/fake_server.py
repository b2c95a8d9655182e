"""A scripted Chat Completions server on 127.0.0.1, speaking the real streaming protocol.

Each POST to `/v1/chat/completions` takes the next scripted turn: either a
`Stream` of chunk dicts, sent as server-sent events (`data: {...}`, then
`data: [DONE]`) over HTTP/1.1 chunked encoding like Ollama and vLLM do, or a
`Fail` status with an OpenAI-style error body. Every request is recorded
(headers and JSON body), so tests can read the conversation the planner sent
back, and whether the client hung up mid-stream.

Chunk builders (`text`, `call_start`, `call_args`, `whole_call`, `finish`)
write the dicts the way OpenAI and Ollama do.
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
    "finish",
    "free_port",
    "text",
    "whole_call",
]

Chunk = dict[str, Any]


# -- chunks ---------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> Chunk:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "fake-model",
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
    return _chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                   "function": {"name": name, "arguments": arguments}}]})


def call_args(index: int, *pieces: str) -> list[Chunk]:
    """OpenAI style: later fragments carry only the index and a piece of the arguments."""
    return [_chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}) for piece in pieces]


def whole_call(call_id: str, name: str, arguments: dict[str, Any] | str, index: int = 0) -> Chunk:
    """Ollama style: a whole call in one fragment (Ollama puts every call of a turn at index 0)."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return _chunk({"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                   "function": {"name": name, "arguments": args}}]})


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


class FakeChatServer:
    """A ThreadingHTTPServer on 127.0.0.1 that plays `turns`, one per request.

    Use as a context manager; `base_url` is what the planner's `base_url` should be.
    """

    def __init__(self, turns: list[Stream | Fail] | None = None) -> None:
        self.turns: list[Stream | Fail] = list(turns or [])
        self.received: list[Received] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

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
                    else:
                        self._stream(turn, received)
                except (BrokenPipeError, ConnectionResetError):
                    received.hung_up.set()
                    self.close_connection = True
                except BaseException as exc:  # pragma: no cover - a bug in the fake server itself
                    server.errors.append(exc)
                    raise

            def _fail(self, turn: Fail) -> None:
                payload = json.dumps({"error": {"message": turn.message, "type": "server_error"}}).encode()
                self.send_response(turn.status)
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


def free_port() -> int:
    """A port nothing listens on (for "connection refused")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port

