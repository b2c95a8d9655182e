"""Whole tool calls from the fragments a streaming Chat Completions server sends.

A streamed assistant turn carries its tool calls in pieces (`delta.tool_calls`),
each fragment tagged with an `index`. Servers disagree on the rest:

- OpenAI gives each call its own index, sends the id and the name only on the
  call's first fragment, and the arguments JSON in many small pieces.
- Ollama-style servers send every call whole, all at index 0, each with its own id.
- Some servers repeat the id (and even the name) on every fragment, or send no id.

`ToolCallAssembler` folds fragments into calls by index, and starts a new call
whenever a fragment brings an id different from the one its index already
holds. It is pure data in, data out: no SDK types, no I/O.

Example:
    ```python
    calls = ToolCallAssembler()
    calls.feed(Fragment(index=0, id="call_1", name="write_file", arguments='{"na'))
    calls.feed(Fragment(index=0, arguments='me": "notes"}'))
    [call] = calls.calls()
    call.arguments   # '{"name": "notes"}'
    call.parse()     # ({'name': 'notes'}, None)
    ```
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["AssembledCall", "Fragment", "ToolCallAssembler"]


@dataclass(frozen=True)
class Fragment:
    """One entry of a chunk's `delta.tool_calls`, as plain values.

    Attributes:
        index: the call's position in the turn; None when the server sends none
            (the fragment then continues the latest call unless it brings a new id).
        id: the call's id, on the first fragment at least (None or "" when absent).
        name: the function name, or a piece of it.
        arguments: a piece of the arguments' JSON text.
    """

    index: int | None = None
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


@dataclass(frozen=True)
class AssembledCall:
    """A tool call as the model asked for it, once its turn has streamed.

    Attributes:
        id: the model's id for the call (generated as `call_<n>` when the server sent none).
        name: the function (tool) name; "" when the server never sent one.
        arguments: the arguments' JSON text, exactly as streamed.
    """

    id: str
    name: str
    arguments: str

    def parse(self) -> tuple[Any, str | None]:
        """The arguments as a value, or `(None, why)` when they are not JSON.

        Empty arguments mean "no arguments" (`{}`), as several servers send them
        for tools without parameters.
        """
        if not self.arguments.strip():
            return {}, None
        try:
            return json.loads(self.arguments), None
        except json.JSONDecodeError as exc:
            return None, f"the arguments are not valid JSON ({exc})"


@dataclass
class _Partial:
    id: str
    name: str
    arguments: list[str]


class ToolCallAssembler:
    """Folds `Fragment`s into `AssembledCall`s, in the order the calls first appeared."""

    def __init__(self) -> None:
        self._calls: list[_Partial] = []
        self._at: dict[int | None, _Partial] = {}  # the latest call at each index

    def __len__(self) -> int:
        return len(self._calls)

    def feed(self, fragment: Fragment) -> None:
        """Add one fragment: it continues the call at its index, or starts a new one."""
        slot = fragment.index
        # Without an index, a fragment continues the latest call (unless its id is new).
        current = self._calls[-1] if slot is None and self._calls else self._at.get(slot)
        new_id = fragment.id or ""
        if current is None or (new_id and current.id and new_id != current.id):
            current = _Partial(new_id, "", [])
            self._calls.append(current)
        elif new_id and not current.id:
            current.id = new_id
        self._at[slot] = current
        if fragment.name and fragment.name != current.name:
            # Names come whole on the first fragment; a few servers repeat them
            # (ignored above) and a few split them (joined here).
            current.name += fragment.name
        if fragment.arguments:
            current.arguments.append(fragment.arguments)

    def calls(self) -> list[AssembledCall]:
        """The calls so far, each with a unique id."""
        out: list[AssembledCall] = []
        seen: set[str] = set()
        for n, partial in enumerate(self._calls):
            call_id = partial.id
            if not call_id or call_id in seen:
                call_id = f"call_{n}"
                while call_id in seen:
                    call_id += "_"
            seen.add(call_id)
            out.append(AssembledCall(call_id, partial.name, "".join(partial.arguments)))
        return out
