"""The demo tools' HTTP client: JSON over `urllib`, off the event loop, with a timeout.

Proxies are bypassed on purpose: every demo service is on 127.0.0.1, and an
`http_proxy` in the environment must not route the demo through somewhere else.
"""

from __future__ import annotations

import functools
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio.to_thread

from agentstop import CommitRefused

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Response",
    "ServiceUnavailable",
    "UpstreamError",
    "commit_receipt",
    "path_key",
    "request",
]

DEFAULT_TIMEOUT_S = 10.0

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceUnavailable(ConnectionError):
    """Raised when a demo service could not be reached or did not answer in time.

    From a commit, this means the outcome is unknown: the request may have landed.
    """


class UpstreamError(RuntimeError):
    """Raised when a demo service answered with a server error: what landed is unknown."""


@dataclass(frozen=True)
class Response:
    """A service's answer: the status code and the decoded JSON body."""

    status: int
    data: Any

    @property
    def error(self) -> str:
        """The service's error message, or the raw body when it gave none."""
        if isinstance(self.data, dict) and "error" in self.data:
            return str(self.data["error"])
        return str(self.data)


async def request(method: str, url: str, body: Any = None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Response:
    """Send one JSON request in a worker thread.

    Args:
        method: "GET", "POST", "PUT" or "DELETE".
        url: the full URL.
        body: a JSON-serialisable body, or None for no body.
        timeout_s: seconds before giving up on connecting, and on each read.

    Returns:
        The response, whatever its status (4xx and 5xx included).

    Raises:
        ServiceUnavailable: the service could not be reached or did not answer in time.
    """
    call = functools.partial(_request, method, url, body, timeout_s)
    # Cancellation (Stop) takes effect at once instead of after the timeout; the
    # thread finishes on its own, and `lookup` settles whether the request landed.
    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)


def path_key(key: str) -> str:
    """A key made safe to put in a URL path (":" and "/" included)."""
    return quote(key, safe="")


def commit_receipt(response: Response, service: str) -> dict[str, Any]:
    """The JSON object a commit's 200/201 answered, or the right error.

    Raises:
        CommitRefused: the service refused the request (4xx): nothing landed.
        UpstreamError: the service failed (5xx or not JSON): the outcome is unknown.
    """
    if response.status in (200, 201) and isinstance(response.data, dict):
        return response.data
    if 400 <= response.status < 500:
        raise CommitRefused(f"the {service} refused it ({response.status}): {response.error}; nothing landed.")
    raise UpstreamError(
        f"the {service} answered {response.status}: {response.error}; whether it landed is unknown until lookup asks."
    )


def _request(method: str, url: str, body: Any, timeout: float) -> Response:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with _opener.open(req, timeout=timeout) as resp:
            return Response(resp.status, _decode(resp.read()))
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, _decode(exc.read()))
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServiceUnavailable(
            f"{method} {url} failed: {reason}. Is the demo world running (`agentstop demo`)?"
        ) from exc


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
