"""keys.toml: the keys a person moved, read and checked against every screen's bindings before the app starts.

    # ~/.config/agentstop/keys.toml
    stop = "x"                      # Stop (Ctrl+C stops too, always)
    "report.undo-all" = "ctrl+u"

    [timeline]                      # a table: its keys are "timeline.<name>"
    play = "p"

Where it is read from: `$AGENTSTOP_KEYS` if set (the file must then exist), else the per-user
config directory's agentstop/keys.toml (`~/.config/agentstop/keys.toml` on Linux), which may be absent.
`agentstop keys` lists every id with its default and the key it has now.

Every mistake is refused with the file and what to change, before any screen opens:
a key id there is no binding for (with the nearest id), a key that is not a key, a
key another binding already has where both act (the report's "u" for Undo all
while Undo row keeps it), Ctrl+C (it always stops). A Stop button whose keys are
not what the person believes is worse than one that does not start.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from textual.binding import Binding, BindingsMap
from textual.keys import Keys, _character_to_key, key_to_character
from textual.widgets import Button

from agentstop.errors import AgentstopError

from .app import AgentstopApp
from .keys import DEFAULT_KEYS, KeyId
from .screens.approval import ApprovalScreen
from .screens.confirm import ConfirmScreen
from .screens.report import ReportScreen
from .screens.resume import ResumeScreen
from .screens.run import RunScreen
from .screens.sessions import SessionsScreen
from .screens.timeline import TimelineScreen
from .widgets.virtual_table import VirtualTable

__all__ = ["KEYS_ENV", "KeyRow", "KeymapError", "check_keymap", "key_rows", "keys_path", "load_keymap", "textual_key"]

KEYS_ENV = "AGENTSTOP_KEYS"
"""The environment variable naming a keys.toml to read instead of the per-user one."""

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
"""What may come before a key's "+" (Textual's names)."""

_NAMED = frozenset(k.value for k in Keys if "+" not in k.value and not k.value.startswith("<"))

ALWAYS_STOPS = "ctrl+c"
"""The key that stops on every screen and is never moved."""


class KeymapError(AgentstopError):
    """keys.toml says something the app cannot do: what, and where to change it."""


@dataclass(frozen=True)
class Place:
    """Where a set of bindings acts together: a screen, with the app's and its tables' when they reach it."""

    name: str
    owners: tuple[type[Any], ...]
    modal: bool = False
    """A dialog: only the app's priority bindings (Ctrl+C) reach it."""


PLACES = (
    Place("the run screen", (RunScreen, VirtualTable)),
    Place("the report", (ReportScreen, VirtualTable)),
    Place("a question (undo, quit, Stop a session)", (ConfirmScreen, Button), modal=True),
    Place("an approval", (ApprovalScreen, Button), modal=True),
    Place("the Resume dialog", (ResumeScreen, Button), modal=True),
    Place("a timeline", (TimelineScreen, VirtualTable)),
    Place("the sessions browser", (SessionsScreen, VirtualTable)),
)
"""Every screen and what its keys share it with (the app's; the focused table's, or a dialog's focused button's)."""


def _bindings(owner: type[Any]) -> list[Binding]:
    """`owner`'s bindings as Textual merges them: a class's binding of a key replaces its bases' of that key."""
    merged: BindingsMap = owner._merge_bindings()
    return [b for bindings in merged.key_to_bindings.values() for b in bindings]


_PALETTE = Binding(AgentstopApp.COMMAND_PALETTE_BINDING, "command_palette", "the command palette", priority=True)
"""The key Textual opens its command palette with (bound by the app at run time, not in BINDINGS)."""


def _in(place: Place) -> Iterator[tuple[type[Any], Binding]]:
    """The bindings that act in `place`, each with the node class it is on: its own, and the app's (only its
    priority ones in a dialog)."""
    for owner in place.owners:
        for binding in _bindings(owner):
            yield owner, binding
    for binding in (*_bindings(AgentstopApp), _PALETTE):
        if binding.priority or not place.modal:
            yield AgentstopApp, binding


@dataclass(frozen=True)
class KeyRow:
    """One rebindable key, as `agentstop keys` lists it."""

    key_id: KeyId
    default: str
    now: str
    description: str
    places: tuple[str, ...]


def key_rows(keymap: Mapping[str, str]) -> list[KeyRow]:
    """Every rebindable key: its id, default, the key `keymap` gives it, what it does and where."""
    rows = []
    for key_id in KeyId:
        found = [(p.name, b) for p in PLACES for _, b in _in(p) if b.id == key_id]
        descriptions = dict.fromkeys(b.description for _, b in found)
        places = tuple(dict.fromkeys(name for name, _ in found))
        default = DEFAULT_KEYS[key_id]
        rows.append(KeyRow(key_id, default, keymap.get(key_id, default), " / ".join(descriptions), places))
    return rows


def keys_path() -> Path:
    """The keys.toml the app reads: `$AGENTSTOP_KEYS`, else the per-user one (which may not exist)."""
    named = os.environ.get(KEYS_ENV)
    if named:
        return Path(named).expanduser()
    return Path(platformdirs.user_config_dir("agentstop")) / "keys.toml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """The keys moved by keys.toml at `path` (else `keys_path()`), checked; {} when the per-user one is absent.

    Raises:
        KeymapError: the file is named (argument or `$AGENTSTOP_KEYS`) but absent, is not TOML,
            or moves a key in a way the app cannot do (see the module's docstring).
    """
    named = path is not None or bool(os.environ.get(KEYS_ENV))
    where = path if path is not None else keys_path()
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        if named:
            raise KeymapError(
                f"no keys file at {where} (${KEYS_ENV} names it): create it, or unset ${KEYS_ENV} for the defaults"
            ) from None
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise KeymapError(f"cannot read the keys file {where}: {exc}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(f"{where} is not TOML: {exc}") from exc
    return check_keymap(_flat(raw), str(where))


def _flat(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`[report]` / `report.undo-all = ...` as "report.undo-all"; everything else as it is."""
    out: dict[str, Any] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def check_keymap(raw: Mapping[str, Any], where: str) -> dict[str, str]:
    """`raw` (key id -> keys) as the app takes it, every key written as Textual names it.

    Raises:
        KeymapError: an id with no binding, a value that is not keys, Ctrl+C, or a key another binding has.
    """
    known = {k.value for k in KeyId}
    keymap: dict[str, str] = {}
    for name, value in raw.items():
        if name not in known:
            near = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else "; `agentstop keys` lists them"
            raise KeymapError(f"{where}: no key is called {name!r}{hint}")
        if not isinstance(value, str) or not value.strip():
            raise KeymapError(f'{where}: {name} must be a key in quotes, as in {name} = "x", or keys: "x,y"')
        keys = [textual_key(key) for key in value.split(",")]
        for key in keys:
            problem = _not_a_key(key)
            if problem:
                raise KeymapError(f"{where}: {name} = {value!r}: {problem}")
            if key == ALWAYS_STOPS:
                raise KeymapError(f"{where}: {name} = {value!r}: Ctrl+C always stops, on every screen")
        keymap[name] = ",".join(keys)
    _check_clashes(keymap, where)
    return keymap


_PUNCTUATION = frozenset(_character_to_key(chr(c)) for c in range(0x21, 0x7F) if not chr(c).isalnum())
"""The names Textual gives the printable ASCII characters that are not letters or digits ("slash", "minus")."""


def textual_key(key: str) -> str:
    """`key` as Textual names the key press: "/" "slash", "ctrl+/" "ctrl+slash", "CTRL+C" and "ctrl+C" "ctrl+c",
    "shift+s" "S" (what a terminal sends), names lower case ("F5" "f5")."""
    *modifiers, base = key.strip().split("+")
    modifiers = [m.strip().lower() for m in modifiers]
    base = base.strip()
    if len(base) == 1 and not base.isalnum():
        base = _character_to_key(base)
    elif len(base) > 1:
        base = base.lower()
    if len(base) == 1 and base.isalpha():
        if modifiers == ["shift"]:
            modifiers, base = [], base.upper()
        elif "shift" not in modifiers and modifiers:
            base = base.lower()  # a letter with Ctrl or Alt comes as its lower case
    return "+".join([*modifiers, base])


def _not_a_key(key: str) -> str:
    """Why `key` (as `textual_key` writes it) is not a key Textual can bind, or "" if it is one."""
    *modifiers, base = key.split("+")
    unknown = [m for m in modifiers if m not in MODIFIERS]
    if unknown:
        return f"{unknown[0]!r} is not a modifier (use {', '.join(sorted(MODIFIERS))})"
    if not base:
        return "a key is missing after the last '+'"
    if len(base) == 1 or base in _NAMED or base in _PUNCTUATION or key_to_character(base) is not None:
        return ""
    return f"{base!r} is not a key (a character, or a name such as f5, enter, space, up, pageup, slash)"


def _check_clashes(keymap: Mapping[str, str], where: str) -> None:
    """Refuse a moved key that lands on a key another binding has in a place where both act.

    Two overlaps are the app's own, so never a clash: a key a binding has by default (writing a
    default back, or adding a key beside it), and a key another binding gives up by default
    already to a priority binding (the timeline's arrows take the table's: swapping them is fine).
    """
    for place in PLACES:
        bindings = list(_in(place))
        held: dict[str, list[tuple[type[Any], Binding]]] = {}
        for owner, b in bindings:
            keys = keymap.get(b.id, b.key) if b.id is not None else b.key
            for key in keys.split(","):
                held.setdefault(key, []).append((owner, b))
        given_up = {
            (id(other), key)
            for owner, b in bindings
            if b.priority
            for key in b.key.split(",")
            for other_owner, other in bindings
            if other_owner is not owner and not other.priority and key in other.key.split(",")
        }
        for key, holders in held.items():
            for _, mover in holders:
                if mover.id is None or mover.id not in keymap or key in DEFAULT_KEYS[KeyId(mover.id)].split(","):
                    continue
                for _, other in holders:
                    if (other.id, other.action) == (mover.id, mover.action) or (id(other), key) in given_up:
                        continue
                    what = (
                        f"{other.id}'s key"
                        if other.id is not None
                        else f"the key for {other.description or other.action}"
                    )
                    fix = f" (move {other.id} too, or pick another key)" if other.id is not None else ""
                    raise KeymapError(
                        f"{where}: {mover.id} = {keymap[mover.id]!r}: {key!r} is {what} in {place.name}{fix}"
                    )
