"""The coding CLIs' tools as agentstop tools: journaled under the CLI's names, their effect run by the CLI.

Each is an ordinary importable `Tool` class (`agentstop.adapters.coding_cli.tools:Write`), so `agentstop undo`
rebuilds it in another process from the path recorded with the session; everything an undo needs is in the
journal (the prepared capture and the receipt), nothing in memory.

Their `commit` runs when the CLI's Post hook arrives (see `agentstop.supervisor.HookGate`): it does not issue
the effect, it says what landed. File tools (`Write`, `Edit`, `MultiEdit`, `NotebookEdit`) capture the file in
`prepare` (content and mode, or that it did not exist), and are reversible: `compensate` restores the capture,
`check` refuses when the file changed since the agent's write (drift), `reapply` writes the agent's version
again, `lookup` tells whether a write whose Post never came landed. Codex's `apply_patch` is the same over
every file its patch names (added, deleted, updated, moved). `Bash` (Claude Code's, and Codex's
`exec_command`, which its hooks call `Bash`) is irreversible: a command that
exited non-zero still ran. Read-only tools are journaled, never gated. A tool agentstop does not know (an MCP
tool of the CLI's, a new one) is irreversible (`tool_for`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from agentstop.errors import CommitRefused
from agentstop.tools import Reversibility, StopPolicy, Tool, ToolContext

__all__ = [
    "READ_ONLY_TOOLS",
    "ApplyPatch",
    "Bash",
    "CliTool",
    "Edit",
    "FileTool",
    "MultiEdit",
    "NotebookEdit",
    "Write",
    "all_tools",
    "tool_for",
]

CAPTURE_LIMIT = 4 * 1024 * 1024
"""Bytes of a file captured before a write for its undo; a larger file is written but not undoable."""

READ_ONLY_TOOLS = (
    "Read",
    "Glob",
    "Grep",
    "LS",
    "NotebookRead",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "Task",
    "Agent",
    "BashOutput",
    "ExitPlanMode",
    "AskUserQuestion",
    "ListMcpResourcesTool",
    "ReadMcpResourceTool",
    "read_file",
    "list_dir",
    "grep_files",
    "view_image",
    "update_plan",
    "web_search",
)
"""Tools with no effect outside the CLI (Claude Code's and Codex's names): journaled, never gated."""


class _Open(BaseModel):
    # The CLIs add fields over versions; what agentstop does not read is kept as given.
    model_config = ConfigDict(extra="allow")


class CliTool(Tool):
    """A tool the CLI runs itself: its commit records what the Post hook said, irreversible by default."""

    description = "A coding CLI's tool; the CLI runs it, agentstop journals and fences it."
    reversibility: ClassVar[Reversibility] = Reversibility.IRREVERSIBLE
    on_stop: ClassVar[StopPolicy] = StopPolicy.ABANDON
    undo_hint: ClassVar[str] = "agentstop cannot take this back; check what it did by hand"
    Args: ClassVar[type[BaseModel]] = _Open

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        error = ctx.extra.get("error")
        if error:
            return {"ran": True, "error": _short(error)}
        return {"ran": True, "response": _short(ctx.extra.get("response"))}


def tool_for(name: str) -> type[Tool]:
    """A tool class for a name agentstop has no class for: read-only for the known reads, else irreversible."""
    read_only = name in READ_ONLY_TOOLS
    attrs: dict[str, Any] = {
        "name": name,
        "__module__": __name__,
        "reversibility": Reversibility.READ_ONLY if read_only else Reversibility.IRREVERSIBLE,
    }
    return type(f"CliTool[{name}]", (CliTool,), attrs)


def all_tools() -> list[type[Tool]]:
    """The classes a coding-CLI session starts with (importable, so `agentstop undo` rebuilds them)."""
    return [Write, Edit, MultiEdit, NotebookEdit, Bash, ApplyPatch]


# -- Bash --------------------------------------------------------------------------------------------


class Bash(CliTool):
    """A shell command: irreversible. A non-zero exit still ran (done, with its error)."""

    name = "Bash"
    undo_hint = "a shell command: agentstop cannot take it back; check what it did by hand"

    class Args(_Open):
        command: str = ""
        description: str = ""

    def summary(self, args: Any) -> str:
        return f"Bash: {getattr(args, 'command', '')}"[:160]

    def resource(self, args: Any) -> str:
        return "Bash"


# -- file tools -----------------------------------------------------------------------------------------


def project_dir() -> Path:
    """The project the CLI works in: `$AGENTSTOP_PROJECT` (set by `agentstop claude`/`codex`), else the cwd."""
    return Path(os.environ.get("AGENTSTOP_PROJECT") or os.getcwd()).resolve()


def file_resource(path: str) -> str:
    """A file's resource for the grant's scopes: `project:REL` inside the project, `file:/ABS` outside."""
    absolute = Path(os.path.abspath(os.path.join(project_dir(), os.path.expanduser(path))))
    try:
        return "project:" + absolute.relative_to(project_dir()).as_posix()
    except ValueError:
        return "file:" + absolute.as_posix()


def capture(path: Path) -> dict[str, Any]:
    """A file as it is now: `{"existed": False}`, or its content (base64), mode and hash."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return {"existed": False}
    if not stat.S_ISREG(info.st_mode):
        return {"existed": True, "too_large": True, "why": "not a regular file"}
    if info.st_size > CAPTURE_LIMIT:
        return {"existed": True, "too_large": True, "why": f"larger than {CAPTURE_LIMIT} bytes"}
    data = path.read_bytes()
    return {
        "existed": True,
        "content_b64": base64.b64encode(data).decode(),
        "mode": stat.S_IMODE(info.st_mode),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _write_capture(path: Path, state: dict[str, Any]) -> None:
    if not state.get("existed"):
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.agentstop-undo")
    tmp.write_bytes(base64.b64decode(state["content_b64"]))
    os.chmod(tmp, int(state.get("mode", 0o644)))
    os.replace(tmp, path)


class FileTool(CliTool):
    """A CLI tool that writes one file: captured before, restorable after (reversible)."""

    reversibility = Reversibility.REVERSIBLE
    undo_hint = ""
    path_field: ClassVar[str] = "file_path"

    def target(self, args: Any) -> Path:
        raw = args.get(self.path_field, "") if isinstance(args, dict) else getattr(args, self.path_field, "")
        return Path(os.path.abspath(os.path.join(project_dir(), os.path.expanduser(str(raw)))))

    def summary(self, args: Any) -> str:
        return f"{self.name} {getattr(args, self.path_field, '')}"[:160]

    def resource(self, args: Any) -> str:
        return file_resource(str(getattr(args, self.path_field, "")))

    async def prepare(self, args: Any, ctx: ToolContext) -> dict[str, Any]:
        path = self.target(args)
        return {"path": str(path), "before": capture(path)}

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        path = Path(prepared["path"])
        after = capture(path)
        error = ctx.extra.get("error")
        if (
            error
            and after.get("sha256") == prepared["before"].get("sha256")
            and after.get("existed") == prepared["before"].get("existed")
        ):
            raise CommitRefused(_short(error))
        return {"path": str(path), "before": prepared["before"], "after": after}

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        """No Post came: the write landed if the file is no longer what prepare captured."""
        prepared = ctx.prepared or {}
        path = Path(prepared.get("path") or self.target(ctx.args or {}))
        before = prepared.get("before")
        after = capture(path)
        if before is None:
            expected = (ctx.args or {}).get("content") if isinstance(ctx.args, dict) else None
            landed = (
                expected is not None and after.get("content_b64") == base64.b64encode(str(expected).encode()).decode()
            )
            before = {"existed": False} if landed else None
        else:
            landed = (after.get("existed"), after.get("sha256")) != (before.get("existed"), before.get("sha256"))
        if not landed or before is None:
            return None
        return {"path": str(path), "before": before, "after": after}

    async def check(self, receipt: Any, ctx: ToolContext) -> str | None:
        path = Path(receipt["path"])
        after = receipt.get("after", {})
        if receipt.get("before", {}).get("too_large"):
            return (
                f"{path} was {receipt['before'].get('why')} when the agent wrote it: its earlier content was "
                "not captured, so it cannot be restored"
            )
        now = _sha(path)
        if now == after.get("sha256") or (now is None and not after.get("existed")):
            return None
        if now == receipt.get("before", {}).get("sha256"):
            return None  # already back as it was: nothing to undo
        what = "was deleted" if now is None else "was edited"
        return f"{path} {what} since the agent wrote it; undoing would lose that change (--force restores anyway)"

    async def compensate(self, receipt: Any, ctx: ToolContext) -> dict[str, Any]:
        before = receipt.get("before", {})
        if before.get("too_large"):
            raise RuntimeError(f"the earlier content of {receipt['path']} was not captured ({before.get('why')})")
        _write_capture(Path(receipt["path"]), before)
        return {"restored": receipt["path"], "existed": bool(before.get("existed"))}

    async def reapply(self, receipt: Any, ctx: ToolContext) -> dict[str, Any]:
        path = Path(receipt["path"])
        after = receipt.get("after", {})
        if after.get("too_large"):
            raise RuntimeError(f"the agent's version of {path} was not captured ({after.get('why')})")
        before = capture(path)
        _write_capture(path, after)
        return {"path": str(path), "before": before, "after": after}

    def undo_summary(self, receipt: Any) -> str:
        before = receipt.get("before", {}) if isinstance(receipt, dict) else {}
        path = receipt.get("path", "") if isinstance(receipt, dict) else ""
        return f"restore {path} as it was" if before.get("existed") else f"delete {path} (it did not exist)"


class Write(FileTool):
    """Claude Code's Write: create or overwrite a file."""

    name = "Write"

    class Args(_Open):
        file_path: str
        content: str = ""


class Edit(FileTool):
    """Claude Code's Edit: replace a string in a file."""

    name = "Edit"

    class Args(_Open):
        file_path: str
        old_string: str = ""
        new_string: str = ""
        replace_all: bool = False


class MultiEdit(FileTool):
    """Claude Code's MultiEdit: several replacements in one file."""

    name = "MultiEdit"

    class Args(_Open):
        file_path: str
        edits: list[dict[str, Any]] = []


class NotebookEdit(FileTool):
    """Claude Code's NotebookEdit: change one cell of a Jupyter notebook."""

    name = "NotebookEdit"
    path_field = "notebook_path"

    class Args(_Open):
        notebook_path: str


_PATCH_MARKS = ("*** Add File: ", "*** Delete File: ", "*** Update File: ", "*** Move to: ")


def patch_paths(patch: str) -> list[str]:
    """The files a Codex patch touches, in order, each once (`*** Add/Delete/Update File:`, `*** Move to:`)."""
    found: list[str] = []
    for line in patch.splitlines():
        for mark in _PATCH_MARKS:
            if line.startswith(mark):
                name = line[len(mark) :].strip()
                if name and name not in found:
                    found.append(name)
    return found


def _drift(path: Path, before: dict[str, Any], after: dict[str, Any]) -> str | None:
    """Why restoring `path` to `before` would lose a change made since the agent left it `after` (None: none)."""
    if before.get("too_large"):
        return (
            f"{path} was {before.get('why')} when the agent wrote it: its earlier content was not captured, "
            "so it cannot be restored"
        )
    now = _sha(path)
    if now == after.get("sha256") or (now is None and not after.get("existed")):
        return None
    if now == before.get("sha256") or (now is None and not before.get("existed")):
        return None  # already back as it was
    what = "was deleted" if now is None else "was edited"
    return f"{path} {what} since the agent wrote it; undoing would lose that change (--force restores anyway)"


class ApplyPatch(CliTool):
    """Codex's `apply_patch`: one patch over several files, each captured before and restorable (reversible).

    The grant's scope is checked against the first file outside the project if there is one, else the
    first file: a patch reaching outside the project is refused unless the grant covers that file.
    """

    name = "apply_patch"
    reversibility = Reversibility.REVERSIBLE
    undo_hint = ""

    class Args(_Open):
        command: str = ""

    def _paths(self, args: Any) -> list[Path]:
        patch = args.get("command", "") if isinstance(args, dict) else getattr(args, "command", "")
        root = project_dir()
        return [Path(os.path.abspath(os.path.join(root, os.path.expanduser(p)))) for p in patch_paths(str(patch))]

    def summary(self, args: Any) -> str:
        names = [
            str(p.relative_to(project_dir())) if p.is_relative_to(project_dir()) else str(p) for p in self._paths(args)
        ]
        return f"apply_patch {', '.join(names) or '(no file)'}"[:160]

    def resource(self, args: Any) -> str:
        resources = [file_resource(str(p)) for p in self._paths(args)]
        outside = [r for r in resources if not r.startswith("project:")]
        return (outside or resources or ["apply_patch"])[0]

    async def prepare(self, args: Any, ctx: ToolContext) -> dict[str, Any]:
        return {"files": [{"path": str(p), "before": capture(p)} for p in self._paths(args)]}

    def _landed(self, prepared: Any) -> list[dict[str, Any]]:
        files = []
        for f in prepared.get("files", []):
            after = capture(Path(f["path"]))
            if (after.get("existed"), after.get("sha256")) != (f["before"].get("existed"), f["before"].get("sha256")):
                files.append({"path": f["path"], "before": f["before"], "after": after})
        return files

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        files = self._landed(prepared)
        if not files:
            why = ctx.extra.get("error") or ctx.extra.get("response") or "no file changed"
            raise CommitRefused(f"the patch changed no file ({_short(str(why), 300)})")
        return {"files": files, "response": _short(ctx.extra.get("response"), 500)}

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        files = self._landed(ctx.prepared or {})
        return {"files": files} if files else None

    async def check(self, receipt: Any, ctx: ToolContext) -> str | None:
        problems = [
            p
            for f in receipt.get("files", [])
            if (p := _drift(Path(f["path"]), f.get("before", {}), f.get("after", {}))) is not None
        ]
        return "; ".join(problems) or None

    async def compensate(self, receipt: Any, ctx: ToolContext) -> dict[str, Any]:
        files = receipt.get("files", [])
        for f in files:
            if f.get("before", {}).get("too_large"):
                raise RuntimeError(f"the earlier content of {f['path']} was not captured ({f['before'].get('why')})")
        for f in reversed(files):
            _write_capture(Path(f["path"]), f["before"])
        return {"restored": [f["path"] for f in files]}

    async def reapply(self, receipt: Any, ctx: ToolContext) -> dict[str, Any]:
        files = []
        for f in receipt.get("files", []):
            if f.get("after", {}).get("too_large"):
                raise RuntimeError(f"the agent's version of {f['path']} was not captured ({f['after'].get('why')})")
            files.append({"path": f["path"], "before": capture(Path(f["path"])), "after": f["after"]})
        for f in files:
            _write_capture(Path(f["path"]), f["after"])
        return {"files": files}

    def undo_summary(self, receipt: Any) -> str:
        files = receipt.get("files", []) if isinstance(receipt, dict) else []
        return (
            "; ".join(
                f"restore {f['path']} as it was"
                if f.get("before", {}).get("existed")
                else f"delete {f['path']} (it did not exist)"
                for f in files
            )
            or "nothing to restore"
        )


def _short(value: Any, limit: int = 2000) -> Any:
    """A tool response bounded for the journal (the file tools keep their own capture)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"... ({len(value) - limit} more characters)"
    if isinstance(value, dict):
        return {k: _short(v, limit // 2) for k, v in list(value.items())[:40]}
    if isinstance(value, list):
        return [_short(v, limit // 2) for v in value[:40]]
    return value
