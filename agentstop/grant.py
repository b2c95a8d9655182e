"""The action grant: which tools, which resources, until when, how many calls.

A `GrantSpec` is what a person allows. The journal stores it as a grant row;
the fence re-checks that row, in the same transaction that records
`committing`, every time a call wants to reach the world.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["GrantSpec", "GrantState", "fence_verdict"]


@dataclass(frozen=True)
class GrantSpec:
    """What a session is allowed to do.

    Args:
        tools: fnmatch patterns over tool names ("send_*", "create_event").
        scopes: fnmatch patterns over each call's `Tool.resource(args)`
            ("mail:*@example.com"); by default every resource of the granted tools.
        ttl: seconds (or a timedelta) the grant lasts from issue; None is unlimited.
        max_calls: how many calls may pass the fence; None is unlimited.
    """

    tools: list[str] = field(default_factory=lambda: ["*"])
    scopes: list[str] = field(default_factory=lambda: ["*"])
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
        """True when a resource matches one of the scope patterns."""
        return any(fnmatch.fnmatchcase(resource, p) for p in self.scopes)


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


def fence_verdict(grant: GrantState, tool: str, resource: str, now: float) -> tuple[str, str] | None:
    """Decide whether a call may pass the fence.

    Returns None to let it pass, else `(kind, reason)` where kind names the
    `Rejected` subclass ("revoked", "expired", "scope", "limit").
    """
    if grant.revoked_at is not None:
        ago = max(0.0, now - grant.revoked_at)
        who = f" by {grant.revoked_by}" if grant.revoked_by else ""
        return "revoked", f"grant g{grant.grant_id} was revoked{who} {ago:.1f} s before; nothing was sent"
    if grant.expires_at is not None and now >= grant.expires_at:
        ago = now - grant.expires_at
        return "expired", f"grant g{grant.grant_id} expired {ago:.1f} s before; nothing was sent"
    if not grant.spec.allows_tool(tool):
        return "scope", f"tool {tool!r} is not in grant g{grant.grant_id} (tools {grant.spec.tools}); nothing was sent"
    if not grant.spec.allows_resource(resource):
        return "scope", (
            f"resource {resource!r} is outside grant g{grant.grant_id} (scopes {grant.spec.scopes}); nothing was sent"
        )
    if grant.spec.max_calls is not None and grant.calls_used >= grant.spec.max_calls:
        return "limit", f"grant g{grant.grant_id} allows {grant.spec.max_calls} calls, all used; nothing was sent"
    return None
