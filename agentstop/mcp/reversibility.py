"""How cautious to be with an MCP tool: its reversibility, from the overlay and the server's claims.

A server's annotations (readOnlyHint, destructiveHint, idempotentHint,
openWorldHint) are claims the server makes about itself, and a server can be
wrong or lie. So:

1. The overlay's `class`, when it gives one, is the class; a hint can only
   make it *more* cautious, never less. A server that says its tool writes
   (`readOnlyHint: false`) or destroys (`destructiveHint: true`) is believed,
   because believing it costs nothing but an undo that is no longer offered:
   read_only becomes irreversible (the overlay gives no undo for a read-only
   tool), reversible becomes compensable.
2. Without a `class`, and unless the server entry says `trust_annotations: true`,
   a tool is irreversible, or compensable when the overlay gives a `compensate`.
3. With `trust_annotations: true`: `readOnlyHint: true` (not also claiming
   destructive) makes it read_only; a tool that writes is reversible when the
   overlay gives a `compensate` and the server says `destructiveHint: false`
   (an additive change, exactly undone by deleting what it added), compensable
   with a `compensate` otherwise, and irreversible without one: a hint can
   describe an effect, but never supplies the way to undo it.

Only hints the server states explicitly count; the protocol's defaults
(destructive unless said otherwise) are not claims.
"""

from __future__ import annotations

from dataclasses import dataclass

import mcp_types as types

from agentstop.tools import Reversibility

from .config import ToolOverlay

__all__ = ["Classification", "claims", "classify"]

_CAUTION = {
    Reversibility.READ_ONLY: 0,
    Reversibility.REVERSIBLE: 1,
    Reversibility.COMPENSABLE: 2,
    Reversibility.IRREVERSIBLE: 3,
}


@dataclass(frozen=True)
class Classification:
    """A tool's class and why.

    Attributes:
        reversibility: the class agentstop treats the tool as.
        why: one line for people ("overlay: compensable", "not in the overlay; server hints not trusted").
        claims: what the server claims, in words ("read-only", "idempotent", ...).
    """

    reversibility: Reversibility
    why: str
    claims: tuple[str, ...]


def claims(annotations: types.ToolAnnotations | None) -> tuple[str, ...]:
    """The server's explicit claims about a tool, in words."""
    if annotations is None:
        return ()
    out: list[str] = []
    if annotations.read_only_hint is True:
        out.append("read-only")
    elif annotations.read_only_hint is False:
        out.append("writes")
    if annotations.destructive_hint is True:
        out.append("destructive")
    elif annotations.destructive_hint is False:
        out.append("not destructive")
    if annotations.idempotent_hint is True:
        out.append("idempotent")
    elif annotations.idempotent_hint is False:
        out.append("not idempotent")
    if annotations.open_world_hint is True:
        out.append("reaches outside systems")
    elif annotations.open_world_hint is False:
        out.append("closed world")
    return tuple(out)


def _floor(annotations: types.ToolAnnotations | None) -> Reversibility:
    """The least cautious class the server's own claims allow."""
    if annotations is None:
        return Reversibility.READ_ONLY
    if annotations.destructive_hint is True:
        return Reversibility.COMPENSABLE
    if annotations.read_only_hint is False:
        return Reversibility.REVERSIBLE
    return Reversibility.READ_ONLY


def classify(entry: ToolOverlay | None, annotations: types.ToolAnnotations | None, trust: bool) -> Classification:
    """The class of a tool from its overlay entry (or None), its annotations and the server's trust setting."""
    said = claims(annotations)
    has_undo = entry is not None and entry.compensate is not None
    if entry is not None and entry.reversibility is not None:
        chosen = entry.reversibility
        floor = _floor(annotations)
        why = f"overlay: {chosen.value}"
        if _CAUTION[floor] > _CAUTION[chosen]:
            chosen = floor
            why += f", raised to {floor.value} because the server claims it is {' and '.join(said)}"
        if chosen in (Reversibility.REVERSIBLE, Reversibility.COMPENSABLE) and not has_undo:
            chosen = Reversibility.IRREVERSIBLE
            why += "; the overlay gives no compensate, so irreversible"
        return Classification(chosen, why, said)
    hints = annotations or types.ToolAnnotations()
    if not trust:
        if has_undo:
            return Classification(Reversibility.COMPENSABLE, "overlay compensate; server hints not trusted", said)
        return Classification(
            Reversibility.IRREVERSIBLE, "not classified by the overlay; server hints not trusted", said
        )
    if hints.read_only_hint is True and hints.destructive_hint is not True:
        return Classification(Reversibility.READ_ONLY, "trusted server claim: read-only", said)
    if not has_undo:
        return Classification(Reversibility.IRREVERSIBLE, "writes, and the overlay gives no compensate", said)
    if hints.destructive_hint is False:
        return Classification(
            Reversibility.REVERSIBLE, "overlay compensate; trusted server claim: not destructive", said
        )
    return Classification(Reversibility.COMPENSABLE, "overlay compensate", said)
