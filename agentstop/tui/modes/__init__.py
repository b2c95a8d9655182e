"""The app's two ways in: running a session here (`RunMode`) and viewing a journal (`JournalMode`).

What both do over the session they show is written once in `Mode`; the app
(`agentstop.tui.app`) holds one mode and hands it every key and message.
Nothing here imports the app module (an import-linter contract holds it): a
mode reaches its app through `Host`, Textual's `App` plus `refresh_report`.
"""

from __future__ import annotations

from .base import Host, Mode
from .journal import JournalMode
from .run import RunMode

__all__ = ["Host", "JournalMode", "Mode", "RunMode"]
