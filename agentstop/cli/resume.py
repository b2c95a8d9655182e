"""`agentstop run TASK --resume ID|latest`: which ended session of the task to run on."""

from __future__ import annotations

from pathlib import Path

from agentstop.errors import JournalError
from agentstop.journal import SessionRecord, SessionStatus
from agentstop.session import Target, open_and_recover
from agentstop.task import TaskFile

from .common import echo_notes

__all__ = ["session_to_resume"]


async def session_to_resume(target: Target, selector: str, task: TaskFile) -> str:
    """The id of the session of `task` that `--resume` names; it must have ended.

    `latest` is the task's latest session in the journal (the one run from this
    task file), not the journal's: a journal holds many tasks' sessions. A
    session whose process died is marked crashed first (as `agentstop report`
    does), so it can be resumed.

    Raises:
        JournalError: no journal there, no such session (`UnknownSession`), the
            session ran another task file, or it is still running; the message
            says what to do (the command exits 2).
    """
    if isinstance(target, Path) and not target.exists():
        raise JournalError(
            str(target),
            "does not exist, so it has no session to resume",
            "Pass the journal the session ran in (--journal), or run the task without --resume.",
        )
    journal, notes = await open_and_recover(target)
    try:
        echo_notes(notes)
        if selector == "latest":
            mine = [s for s in await journal.sessions() if s.task_path == str(task.path)]
            if not mine:
                raise JournalError(
                    journal.location,
                    f"no session of {task.shown_path} to resume",
                    "Run the task first, or pass --resume ID (agentstop sessions lists them).",
                )
            session = mine[-1]
        else:
            session = await journal.session(selector)
        _check(journal.location, session, task)
        return session.session_id
    finally:
        await journal.close()


def _check(where: str, session: SessionRecord, task: TaskFile) -> None:
    sid = session.session_id
    if session.task_path != str(task.path):
        ran = session.task_path or "no task file (a library session)"
        raise JournalError(
            where,
            f"session {sid} ran {ran}, not {task.shown_path}",
            "Resume it with the task file it ran, so the agent and its tools are the same.",
        )
    if session.status == SessionStatus.RUNNING:
        pid = f" pid {session.pid}" if session.pid is not None else ""
        raise JournalError(
            where,
            f"session {sid} is still running (on {session.host or '?'}{pid})",
            f"Stop it first (agentstop stop --session {sid}), or wait for it to end.",
        )
