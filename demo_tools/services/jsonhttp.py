"""A tiny JSON-over-HTTP server on the stdlib, one thread per request.

A service is a list of `Route`s: a method, a path pattern with named groups, and a
handler that takes a `Request` and returns `(status, json_body)` or raises
`HttpError`. Every error, including a bug in a handler, reaches the client as
`{"error": "..."}` with a status code, never as an HTML page or a dropped connection.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["HttpError", "JsonServer", "Request", "Route", "require_number", "require_str"]

log = logging.getLogger("demo_tools.world")

MAX_BODY = 1 << 20


class HttpError(Exception):
    """Raised by a handler to answer `{"error": error, **extra}` with an error status."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        self.status = status
        self.error = error
        self.extra = extra
        super().__init__(f"{status}: {error}")


@dataclass(frozen=True)
class Request:
    """What a handler gets.

    Attributes:
        method: "GET", "POST", ...
        params: the path pattern's named groups, URL-decoded.
        query: the query string, as a dict (last value wins).
        body: the decoded JSON body, or None when there was none.
    """

    method: str
    params: dict[str, str]
    query: dict[str, str] = field(default_factory=lambda: {})
    body: Any = None

    def json_object(self) -> dict[str, Any]:
        """The body, which must be a JSON object."""
        if not isinstance(self.body, dict):
            raise HttpError(400, "the request body must be a JSON object")
        return self.body


Handler = Callable[[Request], tuple[int, Any]]


@dataclass(frozen=True)
class Route:
    """One endpoint: `Route("GET", r"/outbox/(?P<key>[^/]+)", handler)`."""

    method: str
    pattern: str
    handler: Handler

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` matches, else None."""
        found = re.fullmatch(self.pattern, path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


def require_str(body: dict[str, Any], name: str, default: str | None = None) -> str:
    """A string field of a request body, or a 400 saying which field is wrong."""
    value = body.get(name, default)
    if not isinstance(value, str):
        raise HttpError(400, f"field {name!r} is required and must be a string")
    return value


def require_number(body: dict[str, Any], name: str, default: float) -> float:
    """A non-negative number field of a request body, or a 400."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise HttpError(400, f"field {name!r} must be a non-negative number of seconds")
    return float(value)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            status, payload = self._route()
        except HttpError as exc:
            status, payload = exc.status, {"error": exc.error, **exc.extra}
        except Exception as exc:
            log.exception("%s: %s %s failed", self.server.name, self.command, self.path)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}: {exc}"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[int, Any]:
        url = urlsplit(self.path)
        allowed = []
        for route in self.server.routes:
            params = route.match(url.path)
            if params is None:
                continue
            if route.method != self.command:
                allowed.append(route.method)
                continue
            request = Request(self.command, params, dict(parse_qsl(url.query)), self._body())
            return route.handler(request)
        if allowed:
            raise HttpError(405, f"{self.command} is not allowed on {url.path} (use {', '.join(allowed)})")
        raise HttpError(404, f"no endpoint {self.command} {url.path}")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HttpError(413, f"request body over {MAX_BODY} bytes")
        if length == 0:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise HttpError(400, f"the request body is not valid JSON: {exc}") from None

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s: %s", self.server.name, format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str, routes: list[Route]) -> None:
        self.name = name
        self.routes = routes
        super().__init__(("127.0.0.1", 0), _Handler)


class JsonServer:
    """A service's routes served on 127.0.0.1 on a free port, in a background thread."""

    def __init__(self, name: str, routes: list[Route]) -> None:
        self._server = _Server(name, routes)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL, e.g. "http://127.0.0.1:40123"."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        """Serve in the background; the socket is already listening."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
