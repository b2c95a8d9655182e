"""The keys a person can rebind: each one's id and default key, and how to say the key it has now.

A binding made with `bound` carries its `KeyId` as its Textual binding id, so the app's
keymap (`AgentstopApp(..., keymap=...)`, read from keys.toml by `agentstop.tui.keymap_file`)
moves it to another key; the footer follows by itself, and every hint that names a key
("s or Ctrl+C stops at once", "Undo (y)") says it with `key_text`, so the screen never
names a key that no longer does what it says.

Some keys are not rebindable, on purpose: Ctrl+C always stops (the convention users have in
their fingers, and the one key that must never be lost), Esc always goes back, cancels or
denies and never quits, Ctrl+Q quits, Ctrl+A approves while a message is typed, and the
tables' own keys (arrows, Page Up/Down, Home/End, Enter) and Tab between the report's lists stay
Textual's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode

__all__ = ["DEFAULT_KEYS", "KeyId", "bound", "key_text"]


class KeyId(StrEnum):
    """A rebindable key's id: what keys.toml names it by (`agentstop keys` lists them)."""

    STOP = "stop"
    STOP_AFTER_STEP = "stop-after-step"
    QUIT = "quit"
    SHOW_REPORT = "run.report"
    EXPAND = "report.expand"
    SELECT = "report.select"
    UNDO_ROW = "report.undo-row"
    UNDO_SELECTED = "report.undo-selected"
    UNDO_ALL = "report.undo-all"
    RETRY = "report.retry"
    FORCE_UNDO = "report.force-undo"
    REAPPLY = "report.reapply"
    RESUME = "report.resume"
    YES = "question.yes"
    NO = "question.no"
    APPROVE = "approval.approve"
    ALLOW_SESSION = "approval.allow-session"
    DENY = "approval.deny"
    MESSAGE = "approval.message"
    NEXT_EVENT = "timeline.next"
    PREVIOUS_EVENT = "timeline.previous"
    FORWARD_10 = "timeline.forward-10"
    BACK_10 = "timeline.back-10"
    FIRST_EVENT = "timeline.start"
    LAST_EVENT = "timeline.end"
    JUMP_TO_STOP = "timeline.jump-to-stop"
    PLAY = "timeline.play"
    SPEED = "timeline.speed"
    TIMELINE_REPORT = "timeline.report"
    FILTER = "sessions.filter"
    STOP_SESSION = "sessions.stop"


DEFAULT_KEYS: dict[KeyId, str] = {
    KeyId.STOP: "s",
    KeyId.STOP_AFTER_STEP: "S",
    KeyId.QUIT: "q",
    KeyId.SHOW_REPORT: "tab",
    KeyId.EXPAND: "enter",
    KeyId.SELECT: "space",
    KeyId.UNDO_ROW: "u",
    KeyId.UNDO_SELECTED: "U",
    KeyId.UNDO_ALL: "A",
    KeyId.RETRY: "r",
    KeyId.FORCE_UNDO: "f",
    KeyId.REAPPLY: "e",
    KeyId.RESUME: "R",
    KeyId.YES: "y",
    KeyId.NO: "n",
    KeyId.APPROVE: "a",
    KeyId.ALLOW_SESSION: "l",
    KeyId.DENY: "d",
    KeyId.MESSAGE: "m",
    KeyId.NEXT_EVENT: "right",
    KeyId.PREVIOUS_EVENT: "left",
    KeyId.FORWARD_10: "shift+right",
    KeyId.BACK_10: "shift+left",
    KeyId.FIRST_EVENT: "home",
    KeyId.LAST_EVENT: "end",
    KeyId.JUMP_TO_STOP: "s",
    KeyId.PLAY: "space",
    KeyId.SPEED: "x",
    KeyId.TIMELINE_REPORT: "r",
    KeyId.FILTER: "slash",
    KeyId.STOP_SESSION: "s",
}
"""Each rebindable key's default: the one place it is written."""


def bound(key_id: KeyId, action: str, description: str, **options: Any) -> Binding:
    """A `Binding` of `action` to `key_id`'s default key, under that id (so a keymap can move it)."""
    return Binding(DEFAULT_KEYS[key_id], action, description, id=key_id, **options)


def key_text(node: DOMNode | App[Any], key_id: KeyId) -> str:
    """The key that does `key_id` in `node`'s app now, to name in a hint: "s", "Tab", "^x"; "s/x" for two.

    The app's keymap (`AgentstopApp.keymap`) if it moves the key, else its default.
    """
    app = node if isinstance(node, App) else node.app
    keymap: dict[str, str] = getattr(app, "keymap", {})
    keys = keymap.get(key_id) or DEFAULT_KEYS[key_id]
    return "/".join(_named(app.get_key_display(Binding(key.strip(), ""))) for key in keys.split(","))


def _named(shown: str) -> str:
    # A key with a name reads as one in a sentence: "Tab", "Space", "F5"; a character stays as it is ("s", "S").
    return shown[0].upper() + shown[1:] if len(shown) > 1 and shown.isalnum() else shown
