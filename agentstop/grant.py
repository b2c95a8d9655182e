"""The action grant: which tools, which resources, until when, how many calls.

A `GrantSpec` is what a person allows. The journal stores it as a grant row;
the fence re-checks that row, in the same transaction that records
`committing`, every time a call wants to reach the world.
"""

from __future__ import annotations

import enum
import fnmatch
import functools
import re
from dataclasses import dataclass, field
from datetime import timedelta

from agentstop.text import printable

__all__ = ["FenceRefusal", "GrantSpec", "GrantState", "fence_verdict", "resource_problem", "scope_matches"]

# A resource is split into segments at `/`, `:` and `\`, so `note:../../x` and `files:a\..\b` both show their `..`.
_SEGMENTS = re.compile(r"[/:\\]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def resource_problem(resource: str) -> str | None:
    """Why a call's resource cannot be judged by scopes (a NUL, a control character, a `..` segment), or None.

    Such a resource is rejected at the fence whatever the scopes say: a pattern
    over text cannot tell where `note:../../x` lands, and a NUL byte ends the
    path a C library sees before the text the pattern saw.
    """
    if "\x00" in resource:
        return "holds a NUL byte"
    if _CONTROL.search(resource):
        return "holds a control character"
    if ".." in _SEGMENTS.split(resource):
        return "holds a '..' segment (it would leave the place its scope names)"
    return None


@functools.lru_cache(maxsize=1024)
def _scope_regex(pattern: str) -> re.Pattern[str]:
    """A scope pattern as a regex: `*` and `?` stay within one `/` segment, `**` crosses `/`; `[...]` as fnmatch."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                while i < n and pattern[i] == "*":
                    i += 1
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            # The bracket expression, translated by fnmatch itself (it never crosses `/` for a single character
            # unless the class names `/`, which a person then asked for).
            j = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                out.append(fnmatch.translate(pattern[i : j + 1])[4:-3])  # strip fnmatch's (?s:...)\Z
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def scope_matches(resource: str, pattern: str) -> bool:
    """True when a resource matches a scope pattern (`*` stays within a `/` segment, `**` crosses `/`)."""
    return _scope_regex(pattern).fullmatch(resource) is not None


@dataclass(frozen=True)
class GrantSpec:
    """What a session is allowed to do.

    Args:
        tools: fnmatch patterns over tool names ("send_*", "create_event").
        scopes: patterns over each call's `Tool.resource(args)` ("mail:*@example.com"): fnmatch, except
            that `*` and `?` do not match `/` (`files:*` is the top of `files:`, `files:**` everything under it);
            by default (`**`) every resource of the granted tools. A resource with a NUL, a control
            character or a `..` segment matches no scope.
        ttl: seconds (or a timedelta) the grant lasts from issue; None is unlimited.
        max_calls: how many calls may pass the fence; None is unlimited.
    """

    tools: list[str] = field(default_factory=lambda: ["*"])
    scopes: list[str] = field(default_factory=lambda: ["**"])
    ttl: float | timedelta | None = None
    max_calls: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.tools, str) or isinstance(self.scopes, str):  # type: ignore[unreachable]
            raise TypeError("GrantSpec tools and scopes are lists of patterns, not a string")
        if self.ttl_seconds is not None and self.ttl_seconds <= 0:
            raise ValueError(f"GrantSpec ttl must be positive, got {self.ttl!r}")
        if self.max_calls is not None and self.max_calls < 0:
            raise ValueError(f"GrantSpec max_calls must be >= 0, got {self.max_calls!r}")

    @property
    def ttl_seconds(self) -> float | None:
        """The ttl as seconds, or None when unlimited."""
        if isinstance(self.ttl, timedelta):
            return self.ttl.total_seconds()
        return None if self.ttl is None else float(self.ttl)

    def allows_tool(self, tool: str) -> bool:
        """True when a tool name matches one of the tool patterns."""
        return any(fnmatch.fnmatchcase(tool, p) for p in self.tools)

    def allows_resource(self, resource: str) -> bool:
        """True when a resource is well-formed (`resource_problem`) and matches one of the scope patterns."""
        return resource_problem(resource) is None and any(scope_matches(resource, p) for p in self.scopes)


class FenceRefusal(enum.StrEnum):
    """Why the fence refused a call (the journal keeps it as the `rejected` event's `fence`)."""

    REVOKED = "revoked"
    """The grant was revoked (Stop): `GrantRevoked`."""

    EXPIRED = "expired"
    """The grant's ttl ran out: `GrantExpired`."""

    SCOPE = "scope"
    """The tool or the resource is outside the grant, or the resource is malformed: `OutOfScope`."""

    LIMIT = "limit"
    """The grant's `max_calls` are all used: `CallLimitReached`."""


@dataclass(frozen=True)
class GrantState:
    """A grant row as the fence reads it inside its transaction."""

    grant_id: int
    spec: GrantSpec
    issued_at: float
    expires_at: float | None
    calls_used: int
    revoked_at: float | None
    revoked_by: str | None


def fence_verdict(grant: GrantState, tool: str, resource: str, now: float) -> tuple[FenceRefusal, str] | None:
    """Decide whether a call may pass the fence.

    Returns None to let it pass, else `(refusal, reason)`: why it may not (which
    names the `Rejected` subclass raised), and one line for a person.
    """
    if grant.revoked_at is not None:
        ago = max(0.0, now - grant.revoked_at)
        who = f" by {grant.revoked_by}" if grant.revoked_by else ""
        return FenceRefusal.REVOKED, f"grant g{grant.grant_id} was revoked{who} {ago:.1f} s before; nothing was sent"
    if grant.expires_at is not None and now >= grant.expires_at:
        ago = now - grant.expires_at
        return FenceRefusal.EXPIRED, f"grant g{grant.grant_id} expired {ago:.1f} s before; nothing was sent"
    if not grant.spec.allows_tool(tool):
        return (
            FenceRefusal.SCOPE,
            f"tool {tool!r} is not in grant g{grant.grant_id} (tools {grant.spec.tools}); nothing was sent",
        )
    problem = resource_problem(resource)
    if problem is not None:
        return FenceRefusal.SCOPE, f"resource {printable(resource)!r} {problem}; nothing was sent"
    if not grant.spec.allows_resource(resource):
        return FenceRefusal.SCOPE, (
            f"resource {resource!r} is outside grant g{grant.grant_id} (scopes {grant.spec.scopes}); nothing was sent"
        )
    if grant.spec.max_calls is not None and grant.calls_used >= grant.spec.max_calls:
        return (
            FenceRefusal.LIMIT,
            f"grant g{grant.grant_id} allows {grant.spec.max_calls} calls, all used; nothing was sent",
        )
    return None
