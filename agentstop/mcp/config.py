"""What a task says about MCP: its servers (`mcp_servers:`) and the overlay file (`mcp_overlay:`).

A server entry is a program run over stdio or a streamable HTTP endpoint:

```yaml
mcp_servers:
  memory: {command: node, args: [server-memory/dist/index.js], env: {MEMORY_FILE_PATH: ./memory.jsonl}}
  remote: {url: "http://127.0.0.1:8765/mcp", headers: {Authorization: "Bearer ${env:TOKEN}"}}
mcp_overlay: ./overlay.yaml
```

Env and header values are secrets: `${env:NAME}` is replaced by the variable
when the server is started, and neither the values nor the variables' contents
are ever journaled, printed in an error, or shown in a repr.

The overlay, written by the person who integrates the servers, says per
server and tool what agentstop cannot learn from the server itself: its
reversibility class, how to undo it (`compensate`), how to tell whether a call
whose outcome is unknown landed (`probe`), what to read before acting so the
undo can restore it (`capture`), which calls that undo cannot take back
(`undoable_if`), and how to see, before undoing, that someone changed the effect
since (`check`). Its JMESPath expressions compile when it is loaded; every
mistake names the file, the line and the server/tool.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from agentstop.tools import Reversibility, StopPolicy
from agentstop.yaml_limits import expansion_problem, max_file_bytes, size_problem
from agentstop.yaml_lines import LineIndex, YamlPath, format_path

from .errors import McpConfigError

__all__ = [
    "SERVER_NAME_PATTERN",
    "CallSpec",
    "CaptureSpec",
    "CheckSpec",
    "McpSetup",
    "Overlay",
    "ProbeSpec",
    "ReadSpec",
    "ServerConfig",
    "ToolOverlay",
    "UndoableIf",
    "load_mcp_setup",
    "load_overlay",
    "parse_overlay",
    "resolve_env_refs",
    "server_name",
]

SERVER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9-]*(?:_[A-Za-z0-9-]+)*$"
"""A server's name: letters, digits, `-` and single `_`, not ending in `_`; so `server__tool` splits one way."""

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_ANY_REF = re.compile(r"\$\{[^}]*\}?")


def _fail(kind: str, problem: str) -> PydanticCustomError:
    # The problem goes in as context, so braces in user values are never read as a template.
    return PydanticCustomError(kind, "{problem}", {"problem": problem})


def _scalar_text(value: object) -> object:
    # `PORT: 8080` in YAML is a number; an environment variable or header is text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _env_refs_only(value: str) -> str:
    for match in _ANY_REF.finditer(value):
        if not _ENV_REF.fullmatch(match.group(0)):
            raise _fail(
                "env_ref",
                f"{match.group(0)!r} is not a reference agentstop knows; write ${{env:NAME}} "
                "to read the variable NAME when the server starts",
            )
    return value


Secret = Annotated[str, BeforeValidator(_scalar_text)]


def server_name(name: str) -> str:
    """Check a server's name (usable as a pydantic AfterValidator on `mcp_servers` keys)."""
    if not re.fullmatch(SERVER_NAME_PATTERN, name):
        raise _fail(
            "server_name",
            f"server name {name!r} is letters, digits, - and single _ (not ending in _), "
            "starting with a letter: the model sees its tools as NAME__tool",
        )
    return name


def resolve_env_refs(value: str, environ: Mapping[str, str]) -> str:
    """`value` with each `${env:NAME}` replaced by the variable; raises `KeyError(NAME)` when it is unset or empty."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        found = environ.get(name)
        if not found:
            raise KeyError(name)
        return found

    return _ENV_REF.sub(one, value)


class ServerConfig(BaseModel):
    """One MCP server: a program run over stdio (`command`), or a streamable HTTP endpoint (`url`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = Field(
        default=None, min_length=1, description="stdio: the program that runs the server (node, python, uvx, ...)."
    )
    args: list[str] = Field(default_factory=list, description="stdio: the program's arguments.")
    env: dict[str, Secret] = Field(
        default_factory=dict,
        repr=False,
        description="stdio: extra environment variables (secrets: never journaled); ${env:NAME} reads a variable.",
    )
    cwd: str | None = Field(default=None, description="stdio: the working directory; default the task file's.")
    url: str | None = Field(default=None, description="streamable HTTP: the endpoint, like http://127.0.0.1:8765/mcp.")
    headers: dict[str, Secret] = Field(
        default_factory=dict,
        repr=False,
        description="streamable HTTP: request headers (secrets: never journaled); ${env:NAME} reads a variable.",
    )
    trust_annotations: bool = Field(
        default=False,
        description="Believe the server's readOnlyHint/destructiveHint for tools the overlay does not classify. "
        "A hint never makes a tool less cautious than the overlay says.",
    )
    timeout: float = Field(default=60.0, gt=0, description="Seconds a call may take; then its outcome is unknown.")
    init_timeout: float = Field(default=30.0, gt=0, description="Seconds the server may take to start and answer.")

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise _fail(
                "transport",
                "give `command` (a program run over stdio) or `url` (streamable HTTP)"
                + (", not both" if self.command is not None else ""),
            )
        if self.url is not None:
            stray = [name for name in ("args", "env", "cwd") if name in self.model_fields_set]
            if stray:
                raise _fail(
                    "transport",
                    f"{', '.join(stray)} only apply to a stdio server (`command`); "
                    "an HTTP server takes `url` and `headers`",
                )
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _fail(
                    "url", "`url` is an http:// or https:// address with a host, like http://127.0.0.1:8765/mcp"
                )
        elif "headers" in self.model_fields_set:
            raise _fail("transport", "`headers` only apply to an HTTP server (`url`); a stdio server takes `env`")
        for kind, values in (("env", self.env), ("headers", self.headers)):
            for key, value in values.items():
                try:
                    _env_refs_only(value)
                except PydanticCustomError as exc:
                    raise _fail("env_ref", f"{kind}.{key}: {exc.message()}") from None
        for key in self.env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise _fail("env", f"env.{key}: an environment variable's name is letters, digits and _")
        return self

    @property
    def transport(self) -> str:
        """ "stdio" or "http"."""
        return "stdio" if self.command is not None else "http"

    def where(self) -> str:
        """How people recognise the server in messages: its command, or its URL without credentials."""
        if self.command is not None:
            return " ".join([self.command, *self.args])[:200]
        parts = urlsplit(self.url or "")
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


# -- the overlay ---------------------------------------------------------------------------


class CallSpec(BaseModel):
    """A call agentstop makes on its own behalf: a tool of the same server, and argument templates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(min_length=1, description="A tool of the same server.")
    args: dict[str, Any] = Field(
        default_factory=dict, description="Its arguments: literals, or {jmes: EXPR} evaluated over the context."
    )


class ReadSpec(CallSpec):
    """A read-only call agentstop makes on its own behalf (a capture, a probe, a check)."""

    allow_error: bool = Field(
        default=False,
        description="Keep an error answer (is_error: true) for the overlay's expressions to judge, instead of "
        "failing: a read that finds nothing, like a file that is not there yet, is an answer too.",
    )


class ProbeSpec(ReadSpec):
    """How to tell whether a call with an unknown outcome landed: a read-only call and a JMESPath test."""

    done_if: str = Field(description="JMESPath over {args, result}: true when the effect is there.")


class CaptureSpec(ReadSpec):
    """A read-only call made while preparing, so the undo can see what was there before."""

    name: str = Field(
        alias="as",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The name the compensation reads it by: capture.NAME.",
    )


class CheckSpec(ReadSpec):
    """The drift check before an undo: a read-only call, and a JMESPath test that the effect was changed since.

    A compensation that restores what a capture saw would overwrite whatever a
    person wrote after the agent; the check reads the upstream first, and when
    `drift_if` holds the undo is refused with `reason` (a person may force it).
    """

    drift_if: str = Field(
        description="JMESPath over {args, result, capture, receipt} (result: this check's "
        "answer; receipt: the call's): true when the effect was changed since."
    )
    reason: str = Field(min_length=1, description="What a person reads when the undo is refused for drift.")


class UndoableIf(BaseModel):
    """Which calls of a tool its `compensate` can undo, decided while each call is prepared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test: str = Field(description="JMESPath over {args, capture}: true when this call's compensate can undo it.")
    reason: str = Field(
        min_length=1,
        description="Why a call whose test is false cannot be undone, and what to do "
        "by hand: the report shows it instead of offering an undo.",
    )


class ToolOverlay(BaseModel):
    """What the integrator says about one MCP tool."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    reversibility: Reversibility | None = Field(
        default=None,
        alias="class",
        description="read_only, reversible, compensable or irreversible; default: from compensate and trusted hints.",
    )
    compensate: CallSpec | None = Field(
        default=None, description="The undo: a call whose args are built over {args, result, capture, probe}."
    )
    probe: ProbeSpec | None = Field(default=None, description="The lookup for a call whose outcome is unknown.")
    capture: list[CaptureSpec] = Field(
        default_factory=list, description="Read-only calls made in prepare, over {args, capture}."
    )
    undoable_if: UndoableIf | None = Field(
        default=None,
        description="When a call can be undone at all, judged in prepare over {args, capture}; "
        "a call whose test is false is done and not undoable, with the reason.",
    )
    check: CheckSpec | None = Field(
        default=None,
        description="Before each undo, a read-only call; drift_if true refuses the undo with reason "
        "(a person may force it).",
    )
    resource: str | None = Field(
        default=None, description="JMESPath over {args}: the resource grant scopes match; default the name."
    )
    errors_may_have_effects: bool = Field(
        default=False, description="An error result (isError) may still have changed something: probe it."
    )
    on_stop: StopPolicy = Field(
        default=StopPolicy.TRY_CANCEL, description="What Stop does to a call in flight after the grace period."
    )
    settle_time: float = Field(
        default=0.0,
        ge=0,
        description="Seconds a cancelled call may still land: a probe finding nothing sooner leaves it unknown.",
    )
    undo_hint: str = Field(default="", description="For an irreversible tool: what a person should do by hand.")

    @model_validator(mode="after")
    def _class_fits_the_undo(self) -> ToolOverlay:
        cls = self.reversibility
        if cls is Reversibility.READ_ONLY and self.compensate is not None:
            raise _fail("class", "a read_only tool has nothing to undo; remove `compensate` or change `class`")
        if cls is Reversibility.IRREVERSIBLE and self.compensate is not None:
            raise _fail("class", "irreversible means no undo; remove `compensate` or make it compensable")
        if cls in (Reversibility.REVERSIBLE, Reversibility.COMPENSABLE) and self.compensate is None:
            raise _fail(
                "class", f"class {cls.value} needs `compensate` (the call that undoes it); add one, or say irreversible"
            )
        for name in ("undoable_if", "check"):
            if getattr(self, name) is not None and self.compensate is None:
                raise _fail(
                    name,
                    f"`{name}` is about the undo, and this tool has no `compensate`; add the "
                    f"compensate, or remove `{name}`",
                )
        names = [c.name for c in self.capture]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise _fail("capture", f"capture name {twice[0]!r} is used twice; give each capture its own `as`")
        return self

    def expression_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every JMESPath in the entry that does not compile: (path inside the entry, problem)."""
        from .templates import expression_problem, template_problems  # jmespath: the `mcp` extra

        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.compensate is not None:
            problems += template_problems(self.compensate.args, ("compensate", "args"))
        if self.probe is not None:
            problems += template_problems(self.probe.args, ("probe", "args"))
            if (problem := expression_problem(self.probe.done_if)) is not None:
                problems.append((("probe", "done_if"), problem))
        for i, capture in enumerate(self.capture):
            problems += template_problems(capture.args, ("capture", i, "args"))
        if self.undoable_if is not None and (problem := expression_problem(self.undoable_if.test)) is not None:
            problems.append((("undoable_if", "test"), problem))
        if self.check is not None:
            problems += template_problems(self.check.args, ("check", "args"))
            if (problem := expression_problem(self.check.drift_if)) is not None:
                problems.append((("check", "drift_if"), problem))
        if self.resource is not None and (problem := expression_problem(self.resource)) is not None:
            problems.append((("resource",), problem))
        return problems

    def called_tools(self) -> list[tuple[tuple[str | int, ...], str, bool]]:
        """The server tools this entry calls: (path of the `tool` field, tool name, must be read-only)."""
        out: list[tuple[tuple[str | int, ...], str, bool]] = []
        if self.compensate is not None:
            out.append((("compensate", "tool"), self.compensate.tool, False))
        if self.probe is not None:
            out.append((("probe", "tool"), self.probe.tool, True))
        out += [(("capture", i, "tool"), c.tool, True) for i, c in enumerate(self.capture)]
        if self.check is not None:
            out.append((("check", "tool"), self.check.tool, True))
        return out


_OVERLAY = TypeAdapter(dict[str, dict[str, ToolOverlay]])
_SERVERS = TypeAdapter(dict[str, ServerConfig])
_FIELD_NAMES = sorted(
    {
        f.alias or name
        for model in (ServerConfig, ToolOverlay, ProbeSpec, CaptureSpec, CheckSpec, UndoableIf)
        for name, f in model.model_fields.items()
    }
)


# -- YAML with lines -------------------------------------------------------------------------


def _read_yaml(path: Path, shown: str, what: str) -> tuple[Any, LineIndex]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise McpConfigError(shown, None, None, f"no such {what}; check the path (relative to the task file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise McpConfigError(shown, None, None, f"cannot read the {what} ({exc}); check it is UTF-8 text") from None
    too_big = size_problem(len(text.encode("utf-8")), max_file_bytes())
    if too_big is not None:
        raise McpConfigError(shown, None, None, too_big)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        bomb = expansion_problem(root)
        if bomb is not None:
            raise McpConfigError(shown, bomb[0], None, bomb[1])
        data = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else int(mark.line) + 1
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "unreadable YAML"
        raise McpConfigError(shown, line, None, f"YAML syntax error: {problem}; fix the YAML here") from None
    except yaml.YAMLError as exc:
        raise McpConfigError(shown, None, None, f"cannot read the YAML: {exc}; fix the file") from None
    finally:
        loader.dispose()
    return data, LineIndex(root)


def _first_error(shown: str, lines: LineIndex, prefix: YamlPath, exc: ValidationError) -> McpConfigError:
    errors = exc.errors()
    found = []
    for err in errors:
        loc = [*prefix, *(part for part in err["loc"] if not (isinstance(part, str) and "[" in part))]
        found.append((lines.line(loc) or 0, loc, err))
    found.sort(key=lambda item: item[0])
    line, loc, err = found[0]
    message = str(err["msg"])
    if err["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _FIELD_NAMES, n=1, cutoff=0.6)
        message = f"unknown field {loc[-1]!r}" + (f" (did you mean {close[0]!r}?)" if close else "") + "; remove it"
    elif err["type"] == "missing":
        message = f"field {loc[-1]!r} is required"
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return McpConfigError(shown, line or None, format_path(loc), message + more)


# -- the overlay as loaded ---------------------------------------------------------------------


@dataclass(frozen=True)
class Overlay:
    """The overlay file, validated: per server, per tool, a `ToolOverlay`; and where each one is written.

    Attributes:
        path: the file as shown in messages ("" for no overlay).
        entries: server name -> tool name -> entry.
    """

    path: str = ""
    entries: dict[str, dict[str, ToolOverlay]] = field(default_factory=dict)
    _lines: LineIndex = field(default_factory=lambda: LineIndex(None), repr=False)

    def entry(self, server: str, tool: str) -> ToolOverlay | None:
        """The entry for `server.tool`, or None when the overlay does not mention it."""
        return self.entries.get(server, {}).get(tool)

    def line(self, path: YamlPath) -> int | None:
        """The line of `path` (server, tool, field, ...) in the file, or None."""
        return self._lines.line(path) if self.path else None

    def error(self, path: YamlPath, problem: str) -> McpConfigError:
        """A `McpConfigError` pointing at `path` in this file."""
        return McpConfigError(self.path or "(no overlay)", self.line(path), format_path(path) or None, problem)


def parse_overlay(
    data: Any, shown: str, lines: LineIndex | None = None, servers: Iterable[str] | None = None
) -> Overlay:
    """Validate overlay data (as loaded from YAML).

    Args:
        data: the mapping server -> tool -> entry (None for an empty file).
        shown: the file as errors name it.
        lines: where each node is written (from the YAML); None when not from a file.
        servers: the configured server names; when given, a server the overlay names but
            `mcp_servers` does not is an error.

    Raises:
        McpConfigError: a wrong field, a JMESPath that does not compile, an unknown server.
    """
    lines = lines or LineIndex(None)
    if data is None:
        data = {}
    try:
        entries = _OVERLAY.validate_python(data)
    except ValidationError as exc:
        raise _first_error(shown, lines, (), exc) from None
    overlay = Overlay(shown, entries, lines)
    problems: list[tuple[YamlPath, str]] = []
    known = None if servers is None else sorted(servers)
    for server, tools in entries.items():
        if known is not None and server not in known:
            problems.append(
                (
                    (server,),
                    f"the overlay names server {server!r}, which mcp_servers does not have "
                    f"(configured: {', '.join(known) or 'none'}); fix the name or remove it",
                )
            )
        for tool, entry in tools.items():
            problems += [((server, tool, *path), problem) for path, problem in entry.expression_problems()]
    if problems:
        problems.sort(key=lambda p: overlay.line(p[0]) or 0)
        path, problem = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise overlay.error(path, problem + more)
    return overlay


def load_overlay(
    path: str | os.PathLike[str], servers: Iterable[str] | None = None, shown: str | None = None
) -> Overlay:
    """Read and validate an overlay file; see `parse_overlay`."""
    shown_path = shown if shown is not None else str(path)
    data, lines = _read_yaml(Path(path), shown_path, "overlay file")
    if data is not None and not isinstance(data, dict):
        raise McpConfigError(
            shown_path, lines.line(()), None, "an overlay is a mapping of server names to their tools; see the README"
        )
    return parse_overlay(data, shown_path, lines, servers)


# -- servers and overlay, from a task file --------------------------------------------------------


@dataclass(frozen=True)
class McpSetup:
    """The MCP part of a task file: its servers and overlay, and where each server is written.

    Attributes:
        path: the task file as shown in messages.
        base_dir: the task file's directory (relative paths start there).
        servers: name -> config, in file order.
        lines: name -> line of the server's entry.
        overlay: the validated overlay (empty when the task names none).
    """

    path: str
    base_dir: Path
    servers: dict[str, ServerConfig]
    lines: dict[str, int | None]
    overlay: Overlay


def _check_names(names: Iterable[str], shown: str, lines: LineIndex, prefix: YamlPath) -> None:
    for name in names:
        try:
            server_name(name)
        except PydanticCustomError as exc:
            raise McpConfigError(
                shown, lines.line([*prefix, name]), format_path([*prefix, name]), exc.message()
            ) from None


def load_mcp_setup(task_path: str | os.PathLike[str], *, shown: str | None = None) -> McpSetup:
    """Read `mcp_servers:` and `mcp_overlay:` from a task file (other fields are not looked at).

    Used when a session's MCP servers are started again from its task file (undo,
    report, recovery), and by tests; a full task file is validated by the task loader.

    Raises:
        McpConfigError: the file, a server entry or the overlay is wrong (file, line, field).
    """
    shown_path = shown if shown is not None else str(task_path)
    path = Path(task_path)
    data, lines = _read_yaml(path, shown_path, "task file")
    if not isinstance(data, dict):
        raise McpConfigError(shown_path, lines.line(()), None, "expected a mapping of fields at the top")
    raw_servers = data.get("mcp_servers") or {}
    if not isinstance(raw_servers, dict):
        raise McpConfigError(
            shown_path,
            lines.line(["mcp_servers"]),
            "mcp_servers",
            "mcp_servers is a mapping of server names to {command, ...} or {url, ...}",
        )
    _check_names([str(k) for k in raw_servers], shown_path, lines, ["mcp_servers"])
    try:
        servers = _SERVERS.validate_python(raw_servers)
    except ValidationError as exc:
        raise _first_error(shown_path, lines, ["mcp_servers"], exc) from None
    overlay = Overlay()
    overlay_ref = data.get("mcp_overlay")
    if overlay_ref is not None:
        if not isinstance(overlay_ref, str) or not overlay_ref.strip():
            raise McpConfigError(
                shown_path,
                lines.line(["mcp_overlay"]),
                "mcp_overlay",
                "mcp_overlay is the overlay file's path, relative to the task file",
            )
        overlay_path = path.parent / overlay_ref
        overlay = load_overlay(overlay_path, servers=servers, shown=str(overlay_path))
    return McpSetup(
        shown_path,
        path.absolute().parent,
        servers,
        {name: lines.line(["mcp_servers", name]) for name in servers},
        overlay,
    )
