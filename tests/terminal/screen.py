"""A real terminal for end-to-end tests: the app runs in a pseudo-terminal, pyte draws what it prints.

The test reads the screen as a person would (`text()`, `wait_for`), and types as one would
(`press`). Nothing inside the app is looked at: a screen that Textual no longer redraws
looks frozen here exactly as it does in a real terminal, which pilot and snapshot tests
cannot see.

```python
with Terminal.spawn([sys.executable, "-m", "agentstop", "demo", "--dir", str(tmp)]) as term:
    term.wait_for("grant  ACTIVE")
    term.press("s")
    term.wait_for("REVOKED by you (TUI)")
```

Every wait is on a condition (text on screen, a file, the process's exit) with a generous
deadline, never a fixed sleep: the tests run on a loaded two-core machine.
"""

from __future__ import annotations

import os
import re
import select
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import pexpect
import pyte

__all__ = ["COLUMNS", "KEYS", "LINES", "SETTLE", "WAIT", "Terminal", "TerminalTimeout"]

COLUMNS, LINES = 160, 48
"""The terminal's size: what the issue's reports were made at."""

WAIT = 45.0
"""Seconds a wait may take before the test fails: generous, for a loaded machine; a pass is much faster."""

SETTLE = 0.03
"""Seconds without output after which what is on the screen counts as a whole frame."""

KEYS = {
    "tab": "\t",
    "enter": "\r",
    "escape": "\x1b",
    "ctrl+c": "\x03",
    "ctrl+u": "\x15",
    "space": " ",
    "up": "\x1b[A",
    "down": "\x1b[B",
}
"""What a terminal sends for the named keys; any other key is sent as its text ("s", "A")."""


class TerminalTimeout(AssertionError):
    """A wait ran out; the message holds what the screen showed at the time."""


class Terminal:
    """One process in a pseudo-terminal, and the screen it has drawn so far."""

    def __init__(self, child: pexpect.spawn[bytes]) -> None:
        self.child = child
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        self.exit_status: int | None = None
        self.log: list[str] = []
        """What happened, for the failure message: keys pressed and what was waited for."""

    @classmethod
    def spawn(
        cls, argv: Sequence[str], *, cwd: Path | str | None = None, env: Mapping[str, str] | None = None
    ) -> Terminal:
        """Start `argv` in a 160x48 pseudo-terminal that says it is xterm-256color."""
        full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(LINES), **(env or {})}
        full_env.pop("TEXTUAL", None)  # no devtools
        child: pexpect.spawn[bytes] = pexpect.spawn(  # encoding=None: it reads bytes, which pyte decodes
            argv[0],
            list(argv[1:]),
            cwd=str(cwd) if cwd else None,
            env=full_env,
            dimensions=(LINES, COLUMNS),
            encoding=None,
            timeout=WAIT,
        )
        return cls(child)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------

    def pump(self, timeout: float = 0.05) -> bool:
        """Feed what the process printed (waiting up to `timeout` for the first byte) to the screen.

        Returns False once the process has exited and everything it printed was read.
        """
        try:
            data = self.child.read_nonblocking(1 << 16, timeout=timeout)
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            if self.exit_status is None:
                self.child.close()
                self.exit_status = (
                    self.child.exitstatus if self.child.exitstatus is not None else -(self.child.signalstatus or 0)
                )
            return False
        self.stream.feed(data)
        return True

    def text(self) -> str:
        """The screen as it stands, one line per row, trailing spaces removed."""
        self.pump(0)
        return "\n".join(line.rstrip() for line in self.screen.display)

    def line(self, row: int) -> str:
        """One row of the screen (0 is the top)."""
        return self.screen.display[row].rstrip()

    def wait_until(self, condition: Callable[[str], bool], what: str, timeout: float = WAIT) -> str:
        """Pump output until `condition(screen text)` holds; returns that text.

        Raises:
            TerminalTimeout: not within `timeout` seconds (the message shows the screen).
        """
        self.log.append(f"wait: {what}")
        deadline = time.monotonic() + timeout
        text = ""
        while True:
            alive = self.pump(0.05)
            # Judge only a whole frame: a frame can arrive in several reads, and half of one shows the top of
            # the new screen over the bottom of the old.
            if not alive or not self._pending():
                text = "\n".join(line.rstrip() for line in self.screen.display)
                if condition(text):
                    return text
                if not alive:
                    raise TerminalTimeout(
                        self._failure(f"the process exited ({self.exit_status}) before: {what}", text)
                    )
            if time.monotonic() > deadline:
                raise TerminalTimeout(self._failure(f"timed out after {timeout:.0f} s waiting for: {what}", text))

    def _pending(self, quiet: float = SETTLE) -> bool:
        """True when the process prints more within `quiet` seconds (the frame being drawn is not finished)."""
        try:
            readable, _, _ = select.select([self.child.child_fd], [], [], quiet)
        except (OSError, ValueError):  # closed: nothing more comes
            return False
        return bool(readable)

    def wait_for(self, *texts: str, timeout: float = WAIT) -> str:
        """Wait until every one of `texts` is on the screen at once; returns the screen."""
        return self.wait_until(lambda screen: all(t in screen for t in texts), " & ".join(map(repr, texts)), timeout)

    def wait_gone(self, *texts: str, timeout: float = WAIT) -> str:
        """Wait until none of `texts` is on the screen."""
        return self.wait_until(
            lambda screen: not any(t in screen for t in texts), "gone: " + " & ".join(map(repr, texts)), timeout
        )

    def wait_match(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """Wait until the regular expression `pattern` matches the screen; returns the match."""
        found: list[re.Match[str]] = []

        def matches(screen: str) -> bool:
            m = re.search(pattern, screen)
            if m is not None:
                found.append(m)
            return m is not None

        self.wait_until(matches, f"/{pattern}/", timeout)
        return found[-1]

    def wait_exit(self, timeout: float = WAIT) -> int:
        """Wait for the process to exit; returns its exit status."""
        self.log.append("wait: exit")
        deadline = time.monotonic() + timeout
        while self.pump(0.1):
            if time.monotonic() > deadline:
                raise TerminalTimeout(self._failure("the process did not exit", self.text()))
        assert self.exit_status is not None
        return self.exit_status

    # -- typing ------------------------------------------------------------------

    def press(self, *keys: str) -> None:
        """Type keys: names from `KEYS` ("tab", "escape", "ctrl+c") or their text ("s", "A")."""
        for key in keys:
            self.log.append(f"press: {key}")
            self.child.send(KEYS.get(key, key))
            if key == "escape":
                # A lone ESC is told apart from the start of an escape sequence by the pause after it;
                # read output meanwhile so the next key is not glued to it.
                self.pump(0.15)

    def close(self) -> None:
        """End the process if it still runs (SIGHUP, as a closed terminal would, then SIGKILL)."""
        if self.child.isalive():
            self.child.close(force=True)

    def _failure(self, headline: str, text: str) -> str:
        steps = "\n".join(self.log[-12:])
        return f"{headline}\n--- the last steps ---\n{steps}\n--- the screen ---\n{text}"
