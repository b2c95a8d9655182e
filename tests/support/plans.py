"""A call planned straight through the journal, with every field a test does not care about filled in."""

from __future__ import annotations

from typing import Any

from agentstop import Journal

__all__ = ["plan"]


async def plan(journal: Journal, session_id: str, tool: str, key: str, **fields: Any) -> str:
    """`Journal.plan_call` of a reversible, compensable call of `tool` with idempotency key `key`; returns its id.

    Any other field (`summary`, `resource`, `args`, `reversibility`, `can_lookup`, `grant_id`, ...)
    is given by name where the test needs it; by default the summary and resource are the tool's name.
    """
    plan_fields: dict[str, Any] = {
        "tool": tool,
        "summary": tool,
        "resource": tool,
        "args": {},
        "reversibility": "reversible",
        "on_stop": "wait",
        "can_compensate": True,
        "can_lookup": False,
        "undo_hint": "",
        "idempotency_key": key,
        "grant_id": None,
    }
    return await journal.plan_call(session_id, **{**plan_fields, **fields})
