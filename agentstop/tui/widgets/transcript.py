"""The agent's transcript: thoughts streamed token by token, each tool call as it is planned."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog, Static

from agentstop.planners import TranscriptChunk
from agentstop.text import printable

__all__ = ["TranscriptView"]


class TranscriptView(Vertical):
    """Finished lines in a wrapping log; the thought being streamed grows below them."""

    DEFAULT_CSS = """
    TranscriptView RichLog { height: 1fr; background: transparent; }
    TranscriptView #typing { height: auto; color: $text; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._current: list[str] = []
        self._composed = False
        self._pending: list[TranscriptChunk | str] = []
        """What was added (chunks) and marked (text) before the view composed: shown, in order, on mount."""

    def compose(self) -> ComposeResult:
        yield RichLog(wrap=True, markup=False, auto_scroll=True, min_width=20, id="lines")
        yield Static(Text(""), id="typing")

    def on_mount(self) -> None:
        self._composed = True
        pending, self._pending = self._pending, []
        for item in pending:
            if isinstance(item, str):
                self.mark(item)
            else:
                self.add(item)

    @property
    def text(self) -> str:
        """Everything shown so far (finished lines and the current thought)."""
        log = self.query_one(RichLog)
        done = "\n".join(strip.text for strip in log.lines)
        return (done + "\n" + "".join(self._current)).strip()

    def add(self, chunk: TranscriptChunk) -> None:
        """Show one chunk of the transcript (one added before the view has composed shows once it has)."""
        if not self._composed:
            self._pending.append(chunk)
            return
        typing = self.query_one("#typing", Static)
        log = self.query_one(RichLog)
        if chunk.kind == "thought":
            self._current.append(chunk.text)
            typing.update(Text(printable("".join(self._current), multiline=True) + "▌"))
            return
        if self._current:
            log.write(Text(printable("".join(self._current).strip(), multiline=True)))
            self._current.clear()
            typing.update(Text(""))
        if chunk.kind != "end":
            log.write(Text(printable(chunk.text, multiline=True), style="bold cyan"))

    def mark(self, text: str) -> None:
        """A line of the session's own (a Resume), set apart from what the agent says."""
        if not self._composed:
            self._pending.append(text)
            return
        self.add(TranscriptChunk("end", ""))  # closes a thought left open by the Stop
        self.query_one(RichLog).write(Text(printable(text, multiline=True), style="bold reverse"))
