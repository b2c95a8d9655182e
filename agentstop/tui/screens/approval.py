"""The approval modal: a prepared call waits at the fence until a person decides."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from agentstop.supervisor.approval import Allow, ApprovalRequest

from ..keys import KeyId, bound, key_text

__all__ = ["ApprovalScreen"]


class ApprovalScreen(ModalScreen[bool | str | Allow]):
    """Allow once, allow the tool for the session, or deny with a message to the agent.

    The focus starts on Deny, not in the message field: every key works as its button says
    (a approve once, l allow the tool for the session, d or Esc deny, m write a message), and s or
    Ctrl+C stops the agent (which denies this call too). Ctrl+A approves even from the message field.
    """

    AUTO_FOCUS = "#deny"
    BINDINGS = [
        Binding("escape", "deny", "Deny"),
        bound(KeyId.DENY, "deny", "Deny", show=False),
        bound(KeyId.APPROVE, "approve", "Approve once", show=False),
        Binding("ctrl+a", "approve", "Approve", priority=True, show=False),
        bound(KeyId.ALLOW_SESSION, "allow_session", "Allow for the session", show=False),
        bound(KeyId.MESSAGE, "write_message", "Message", show=False),
        bound(KeyId.STOP, "app.stop", "Stop", show=False),
    ]

    def __init__(self, request: ApprovalRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        r = self.request
        body = [
            f"{r.call_id} · {r.tool} · {r.reversibility}",
            r.summary,
            "",
            "prepared effect (nothing has been sent):",
            json.dumps(r.prepared, indent=1, ensure_ascii=False, default=str),
        ]
        if r.undo_hint:
            body += ["", f"If it goes wrong: {r.undo_hint}"]
        if r.effect:
            body += ["", f"effect {r.effect[:12]}: a yes covers exactly this; any change asks again"]
        with Vertical(id="dialog"):
            yield Label("Approve this call?", id="dialog-title")
            yield Static(Text("\n".join(body)), id="dialog-body")
            message = key_text(self, KeyId.MESSAGE)
            yield Input(
                placeholder=f"{message}: a message to the agent if you deny (optional); Enter denies with it",
                id="deny-message",
            )
            with Horizontal(id="dialog-buttons"):
                yield Button(f"Approve once ({key_text(self, KeyId.APPROVE)})", id="approve", variant="warning")
                session = f"Allow {r.tool} for this session ({key_text(self, KeyId.ALLOW_SESSION)})"
                yield Button(session, id="approve-session", variant="warning")
                yield Button(f"Deny ({key_text(self, KeyId.DENY)}, Esc)", id="deny", variant="primary")
            stop = f"{key_text(self, KeyId.STOP)} or Ctrl+C stops the agent (this call is denied too)"
            yield Static(Text(stop, style="dim"), id="dialog-keys")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "approve":
            self.action_approve()
        elif event.button.id == "approve-session":
            self.action_allow_session()
        else:
            self.action_deny()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_deny()

    def action_approve(self) -> None:
        self.dismiss(True)

    def action_allow_session(self) -> None:
        self.dismiss(Allow.SESSION)

    def action_write_message(self) -> None:
        self.query_one("#deny-message", Input).focus()

    def action_deny(self) -> None:
        message = self.query_one("#deny-message", Input).value.strip()
        self.dismiss(f"denied by the user: {message}" if message else "denied by the user")
